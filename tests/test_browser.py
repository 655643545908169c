"""One real-browser test: `streamlit run app.py` headless, driven by Playwright with the
system Chromium (never a downloaded browser)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _studio_fixtures import demo_file

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url}")


def start_server(tmp):
    """A workspace on the demo and a fresh streamlit server on it; yields its URL."""
    from steps_engine.studio import state as studio_state
    from steps_engine.curation.workspace import Workspace

    ws = Workspace(tmp / "ws")
    if not ws.has_taxonomy:
        studio_state.build_into_workspace(ws, demo_file(tmp), studio_state.demo_mapping(), height=3)
    port = free_port()
    env = dict(os.environ, STEPS_WORKSPACE=str(ws.root), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1"]
    log = open(tmp / "streamlit.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, proc)
        yield url, ws
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp / "streamlit.log", ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="module")
def server_ws(tmp_path_factory):
    yield from start_server(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(server_ws):
    return server_ws[0]


OUTSIDE: list[str] = []  # every request the studio made to a host other than the loopback


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    from urllib.parse import urlparse

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.on("request", lambda r: OUTSIDE.append(r.url)
              if urlparse(r.url).hostname not in ("127.0.0.1", "localhost") and not r.url.startswith(("data:", "blob:")) else None)
        yield pg
        browser.close()


def test_a_deep_link_on_a_fresh_server_lists_page_titles_in_the_sidebar(tmp_path, page):
    # its own server: the first request it ever serves is the bookmarked /taxonomy
    gen = start_server(tmp_path)
    url, _ = next(gen)
    try:
        page.goto(url + "/taxonomy", timeout=120_000)
        nav = page.locator("[data-testid='stSidebarNav']")
        nav.wait_for(timeout=120_000)
        page.wait_for_selector("h1:has-text('Taxonomy')", timeout=120_000)
        text = nav.inner_text()
        for title in ("Start", "Data", "Taxonomy", "Skill map", "Curate", "Combinations", "Synthesize & preview", "Export"):
            assert title in text, text
        lines = text.lower().split("\n")  # icon ligature names ("home", "database") show as text too
        for raw in ("shared", "_shared", "app", "skill_map", "synthesize"):
            assert raw not in lines, text
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "deep_link.png"), full_page=False)
    finally:
        gen.close()


def test_the_sunburst_names_its_top_level_segments(server_ws, page):
    url, ws = server_ws
    page.goto(url + "/taxonomy", timeout=120_000)
    page.wait_for_selector("g.sunburstlayer path.surface", timeout=120_000)
    page.wait_for_timeout(1500)
    texts = [t.strip() for t in page.locator("g.sunburstlayer g.slice").all_text_contents()]
    tree = ws.tree
    top = [tree.labels[c] for c in tree.children()[0] if tree.leaf_skill[c] < 0]
    shown = [name for name in top if any(name.replace(" ", "") in t.replace(" ", "") for t in texts)]
    assert len(shown) == len(top), (top, texts[:20])  # every top-level cluster reads its name
    legend = page.locator(".legend .traces").all_text_contents()
    assert set(top) <= {x.strip() for x in legend}


def test_taxonomy_page_draws_the_sunburst(server, page):
    page.goto(server + "/taxonomy", timeout=120_000)
    page.wait_for_selector("g.sunburstlayer path", timeout=120_000)
    assert page.locator("g.sunburstlayer path").count() > 3
    assert page.get_by_text("Structural entropy H^T").count() >= 1
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_timeout(1000)  # let the sunburst transition finish
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "taxonomy.png"), full_page=False)


def test_clicking_a_segment_reroots_the_chart_and_the_centre_goes_back_up(server, page):
    page.goto(server + "/taxonomy", timeout=120_000)
    page.wait_for_selector("g.sunburstlayer path.surface", timeout=120_000)
    page.wait_for_timeout(1500)
    slices = page.locator("g.sunburstlayer g.slice")
    top = slices.first.text_content()
    n_before = slices.count()
    target = slices.nth(1).text_content()
    slices.nth(1).locator("path.surface").click(force=True)
    page.wait_for_function(
        "t => document.querySelector('g.sunburstlayer g.slice').textContent === t", arg=target, timeout=60_000
    )
    assert page.locator("g.sunburstlayer g.slice").count() < n_before
    page.wait_for_timeout(1500)  # let plotly's transition finish before the next click
    page.locator("g.sunburstlayer g.slice").first.locator("path.surface").click(force=True, timeout=60_000)
    page.wait_for_function(
        "t => document.querySelector('g.sunburstlayer g.slice').textContent === t", arg=top, timeout=60_000
    )
    assert page.locator("[data-testid='stException']").count() == 0


def test_skill_map_page_draws_points(server, page):
    page.goto(server + "/skill_map", timeout=120_000)
    page.wait_for_selector(".js-plotly-plot .scatterlayer path.point, .js-plotly-plot canvas", timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "skill_map.png"), full_page=False)


def test_lasso_on_the_skill_map_moves_the_selected_skills(server, page):
    page.goto(server + "/skill_map", timeout=120_000)
    page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
    page.wait_for_timeout(1500)
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    corners = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.21)]
    selected = page.locator("h3:has-text('Selection:'):not(:has-text('Selection: 0 '))")
    for _ in range(3):  # headless Chromium swallows the first drag after a page load
        page.mouse.move(x0 + w * corners[0][0], y0 + h * corners[0][1])
        page.mouse.down()
        for fx, fy in corners[1:]:
            page.mouse.move(x0 + w * fx, y0 + h * fy, steps=8)
        page.mouse.up()
        try:
            selected.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - retried, then asserted below
            continue
    selected.wait_for(timeout=30_000)
    page.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_selector("[data-testid='stAlertContentSuccess']", timeout=60_000)
    assert "→" in page.locator("[data-testid='stAlertContentSuccess']").inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


def test_searching_the_skill_map_highlights_the_skill(server_ws, page):
    url, ws = server_ws
    skill = sorted(ws.tree.members(0))[5]
    page.goto(url + "/skill_map", timeout=120_000)
    page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Find a skill")
    box.locator("input").click()
    box.locator("input").fill(skill)
    page.keyboard.press("Enter")
    # the search ring's label is bold (plotly draws <b> as a bold tspan); the axes zoom in
    span_before = page.evaluate("() => { const l = document.querySelector('.js-plotly-plot')._fullLayout; return l.xaxis.range[1] - l.xaxis.range[0]; }")
    page.wait_for_selector(f".js-plotly-plot .scatterlayer tspan[style*='bold']:text-is('{skill}')", timeout=60_000)
    page.wait_for_timeout(500)
    span_after = page.evaluate("() => { const l = document.querySelector('.js-plotly-plot')._fullLayout; return l.xaxis.range[1] - l.xaxis.range[0]; }")
    assert span_after < 0.6 * span_before, (span_before, span_after)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "skill_map_search.png"), full_page=False)


OVERLAPS = """() => {
  const r = [...document.querySelectorAll('.js-plotly-plot .scatterlayer .textpoint text, .js-plotly-plot .annotation-text')]
    .filter(e => e.textContent.trim()).map(e => [e.textContent, e.getBoundingClientRect()]);
  const out = [];
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
    const a = r[i][1], b = r[j][1];
    if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1)
      out.push([r[i][0], r[j][0]]);
  }
  return [r.length, out];
}"""


def test_no_two_labels_on_the_skill_map_overprint_at_any_colour_level(server, page):
    page.goto(server + "/skill_map", timeout=120_000)
    page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
    page.get_by_role("radio", name="Co-occurrence (graph layout)").check(force=True)
    page.wait_for_timeout(2000)
    legend = page.locator(".js-plotly-plot .legend .traces")
    n, overlaps = page.evaluate(OVERLAPS)
    assert n >= 5 and not overlaps, ("level 1", n, overlaps[:5])  # labels drawn, none on top of another
    top_level = legend.count()
    level = page.get_by_role("spinbutton", name="Colour by level")
    level.fill(level.get_attribute("max"))  # the deepest level: the most cluster names
    level.press("Enter")
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .legend .traces').length > {top_level}",
                           timeout=60_000)
    page.wait_for_timeout(1500)  # plotly's redraw
    n, overlaps = page.evaluate(OVERLAPS)
    assert n >= 5 and not overlaps, ("deepest level", n, overlaps[:5])
    page.screenshot(path=str(ARTIFACTS / "skill_map_deepest_level.png"), full_page=False)
    assert page.locator("[data-testid='stException']").count() == 0


def metric_value(page, label: str) -> str:
    return page.locator("[data-testid='stMetric']").filter(has_text=label).locator("[data-testid='stMetricValue']").inner_text()


def test_one_review_click_after_accept_all_keeps_the_other_decisions(server, page):
    page.goto(server + "/synthesize", timeout=120_000)
    page.wait_for_selector("h1:has-text('Synthesize & preview')", timeout=120_000)
    page.wait_for_selector("button:has-text('Load the demo samples'), button:has-text('Accept all shown')", timeout=120_000)
    load = page.get_by_role("button", name="Load the demo samples")
    if load.count():
        load.click()
    page.get_by_role("button", name="Accept all shown").click(timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.textContent"
                           ".startsWith('Accepted') && m.textContent.replace('Accepted', '').trim() !== '0')", timeout=60_000)
    samples = int(metric_value(page, "Samples"))
    assert int(metric_value(page, "Accepted")) == samples
    page.wait_for_timeout(1000)  # the radios redrawn as "accept"
    page.get_by_role("radio", name="reject").first.check(force=True)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.textContent"
                           ".startsWith('Rejected in review') && m.textContent.trim().endsWith('1'))", timeout=60_000)
    # every other sample keeps the bulk decision (the radios must not send their old "unreviewed" back)
    assert int(metric_value(page, "Accepted")) == samples - 1
    assert page.locator("[data-testid='stException']").count() == 0


def test_clicking_the_chosen_edit_again_keeps_its_form(server, page):
    page.goto(server + "/curate", timeout=120_000)
    page.wait_for_selector("h1:has-text('Curate')", timeout=120_000)
    split = page.locator("[data-testid='stButtonGroup'] button", has_text="Split").first
    split.click()
    page.wait_for_selector("text=Cluster to split", timeout=60_000)
    split.click()  # a second click on the chosen segment
    page.wait_for_timeout(1500)
    assert page.get_by_text("Cluster to split").count() == 1
    assert page.get_by_text("Into cluster").count() == 0  # the "Move skills" form
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize(
    "path, title",
    [("", "STEPS Studio"), ("data", "Data"), ("curate", "Curate"), ("combinations", "Combinations"),
     ("synthesize", "Synthesize & preview"), ("export", "Export")],
)
def test_every_page_opens_from_a_deep_link(server, page, path, title):
    page.goto(f"{server}/{path}", timeout=120_000)
    page.wait_for_selector(f"h1:has-text('{title}')", timeout=120_000)
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("[data-testid='stException']").count() == 0


def test_nothing_was_fetched_from_outside():
    assert not OUTSIDE, OUTSIDE[:5]
