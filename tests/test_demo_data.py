"""Checks on the bundled demo dataset assets/demo/demo.jsonl (see assets/demo/README.md)."""
from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo" / "demo.jsonl"

# The eight domains and their skills, as documented in assets/demo/README.md.
DOMAINS = {
    "coding": """python_programming python_debugging javascript_programming sql_query_writing
        regex_construction shell_scripting git_version_control algorithm_design code_review
        api_integration unit_testing performance_optimization error_message_interpretation""",
    "data_analysis": """data_cleaning pandas_dataframes spreadsheet_formulas statistical_reasoning
        data_visualization hypothesis_testing regression_analysis ab_test_design survey_design
        time_series_analysis metric_definition data_interpretation""",
    "writing_editing": """grammar_correction concise_writing tone_adjustment persuasive_writing
        email_drafting summarization proofreading headline_writing storytelling formal_register
        cover_letter_writing outline_structuring""",
    "math_reasoning": """arithmetic percentage_calculation algebra probability geometry
        unit_conversion estimation logical_reasoning word_problem_solving combinatorics
        calculus_basics""",
    "science": """plain_language_explanation physics_concepts chemistry_concepts biology_concepts
        earth_science astronomy analogy_building scientific_method simplifying_for_kids
        misconception_correction energy_and_climate human_anatomy""",
    "business_marketing": """marketing_copywriting market_research pricing_strategy
        financial_planning budgeting customer_communication social_media_strategy
        product_positioning negotiation meeting_facilitation project_planning
        competitive_analysis""",
    "everyday_life": """recipe_scaling meal_planning cooking_techniques food_safety nutrition_basics
        fitness_planning sleep_hygiene home_organization household_budgeting travel_planning
        home_repair gardening""",
    "education_language": """vocabulary_building translation grammar_explanation
        pronunciation_guidance study_planning lesson_planning quiz_creation spanish_language
        french_language memory_techniques reading_comprehension feedback_on_student_work""",
}
DOMAINS = {name: skills.split() for name, skills in DOMAINS.items()}
DOMAIN_OF = {skill: name for name, skills in DOMAINS.items() for skill in skills}


def never_cooccurring_share(skill_lists):
    """Share of unordered pairs of distinct skills that never appear in the same row."""
    skills = {s for row in skill_lists for s in row}
    total = len(skills) * (len(skills) - 1) // 2
    seen = {pair for row in skill_lists for pair in itertools.combinations(sorted(set(row)), 2)}
    return 1 - len(seen) / total


@pytest.fixture(scope="module")
def rows():
    out = []
    with DEMO.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                pytest.fail(f"{DEMO}:{lineno}: not valid JSON ({exc})")
            assert isinstance(obj, dict), f"{DEMO}:{lineno}: expected an object"
            out.append(obj)
    return out


def test_never_cooccurring_share_on_a_hand_counted_example():
    # skills a, b, c -> 3 pairs; (a,b) and (b,c) are seen, (a,c) never -> 1/3
    assert never_cooccurring_share([["a", "b"], ["b", "c"], ["c", "b"]]) == pytest.approx(1 / 3)


def test_file_is_small():
    assert DEMO.stat().st_size < 600_000


def test_row_count_is_between_400_and_600(rows):
    assert 400 <= len(rows) <= 600


def test_rows_have_exactly_the_documented_fields(rows):
    for r in rows:
        assert set(r) == {"id", "instruction", "output", "skills"}, r.get("id")


def test_ids_are_unique_and_numbered(rows):
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"demo-\d{4}", i) for i in ids)


def test_every_row_has_text_and_2_to_5_distinct_snake_case_skills(rows):
    for r in rows:
        assert isinstance(r["instruction"], str) and r["instruction"].strip(), r["id"]
        assert isinstance(r["output"], str) and r["output"].strip(), r["id"]
        skills = r["skills"]
        assert isinstance(skills, list) and 2 <= len(skills) <= 5, r["id"]
        assert len(set(skills)) == len(skills), r["id"]
        assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", s) for s in skills), r["id"]


def test_instructions_are_not_duplicated(rows):
    texts = [" ".join(r["instruction"].lower().split()) for r in rows]
    assert len(set(texts)) == len(texts)


def test_skills_cover_6_to_10_domains_with_80_to_110_distinct_skills(rows):
    used = {s for r in rows for s in r["skills"]}
    assert 80 <= len(used) <= 110
    assert used == set(DOMAIN_OF), sorted(used ^ set(DOMAIN_OF))
    assert 6 <= len(DOMAINS) <= 10
    assert all(8 <= len(skills) <= 15 for skills in DOMAINS.values())
    assert len(DOMAIN_OF) == sum(len(s) for s in DOMAINS.values())  # no skill in two domains


def test_skill_frequencies_have_a_long_tail(rows):
    counts = sorted(Counter(s for r in rows for s in r["skills"]).values())
    assert counts[-1] >= 10 * statistics.median(counts)
    assert sum(c <= 6 for c in counts) >= 10  # many rare skills
    assert sum(c >= 50 for c in counts) >= 2  # a few very common ones


def test_most_skill_pairs_never_cooccur(rows):
    assert never_cooccurring_share([r["skills"] for r in rows]) >= 0.60


def test_cross_domain_rows_are_a_minority(rows):
    cross = sum(len({DOMAIN_OF[s] for s in r["skills"]}) > 1 for r in rows)
    assert 0.10 <= cross / len(rows) < 0.50
