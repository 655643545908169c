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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from steps_engine.studio import state as studio_state
    from steps_engine.curation.workspace import Workspace

    tmp = tmp_path_factory.mktemp("browser")
    ws = Workspace(tmp / "ws")
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
        yield url
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
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        yield pg
        browser.close()


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
