"""STEPS engine: skill graphs, structural-entropy taxonomies, combination selection and synthesis.

UI-free; the `steps` CLI and the Streamlit studio both call these modules. As a library:

    import steps_engine as steps
    data = steps.load("data.jsonl", skills_field="skills")
    tax = steps.build_taxonomy(data, height=3)
    combos = steps.select(tax, k=3, scope="level:1")
    results = steps.synthesize(tax, combos, model="gpt-4o-mini", out="runs/x/results.jsonl")
    steps.export_dataset(steps.check(results), fmt="chat", out="runs/x/sft.jsonl", curriculum="steps3")

The names below load `steps_engine.api` on first use, so `import steps_engine` stays cheap.
(`steps.export` is the export stage's package, hence `export_dataset`.)
"""

__version__ = "0.1.0"

_API = ("Data", "Taxonomy", "Combinations", "Results", "load", "build_taxonomy", "load_taxonomy", "select",
        "estimate", "synthesize", "synthesize_async", "check", "export_dataset")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from steps_engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'steps_engine' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
