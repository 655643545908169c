"""Benchmark: studio interactions on a synthetic 3,000-skill taxonomy.

    .venv/bin/python benchmarks/bench_studio.py [--skills 3000] [--rows 60000] [--repeat 5] [--seed 0] [--demo]

Builds a planted hierarchical tag dataset -> graph -> encoding tree (height 4) into a
temporary workspace, then times (median of --repeat runs, after one warm-up):
  * figure builds (taxonomy sunburst/icicle/treemap, long tail, skill points) and their
    JSON serialisation (what st.plotly_chart sends),
  * every curation edit through `Workspace.apply` (edit + entropy before/after + atomic
    snapshot, log and current tree), undo and redo, reopening the workspace,
  * AppTest page runs: first run of each page (cold caches) and a rerun, plus the
    interactions a curator makes (chart toggle, a move edit, undo),
  * the reading aids (issue 11): keyword names, first chart (figure + JSON), drill-down,
    skill-map search, what-if cost of each edit, the outline view,
  * with --demo: the same on the bundled demo, plus the meaning map's first build in a
    fresh cache (a subprocess, as the studio runs it), wall and CPU seconds.
Prints a markdown table with the machine, date and load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from steps_engine.studio import state as studio_state  # noqa: E402
from steps_engine.curation.edits import Edit  # noqa: E402
from steps_engine.taxonomy.entropy import node_terms  # noqa: E402
from steps_engine.taxonomy.build import save_taxonomy, taxonomy_from_graph  # noqa: E402
from steps_engine.studio.plotting.long_tail import long_tail_figure  # noqa: E402
from steps_engine.studio.plotting.points import skill_points_figure  # noqa: E402
from steps_engine.studio.plotting.taxonomy import taxonomy_figure  # noqa: E402
from steps_engine.taxonomy.planted import planted_graph  # noqa: E402
from steps_engine.curation.workspace import Workspace  # noqa: E402


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(fn, repeat: int) -> float:
    """Median seconds over `repeat` runs after one warm-up run."""
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def once(fn) -> tuple[float, object]:
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skills", type=int, default=3000)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-apptest", action="store_true")
    ap.add_argument("--no-umap", action="store_true")
    ap.add_argument("--browser", action="store_true", help="also time page loads in headless /usr/bin/chromium")
    ap.add_argument("--seed", type=int, default=0, help="planted generator seed")
    ap.add_argument("--demo", action="store_true", help="time the reading aids on the bundled demo instead")
    args = ap.parse_args()
    if args.demo:
        return demo_main(args)
    rows: list[tuple[str, float]] = []
    log("building the taxonomy")

    graph = planted_graph(args.skills, args.rows, seed=args.seed)
    t_build, tax = once(lambda: taxonomy_from_graph(graph, height=4))
    rows.append(("taxonomy build (pipeline, numba cache warm; not an interaction)", t_build))
    tmp = Path(tempfile.mkdtemp(prefix="bench_studio_"))
    src = tmp / "tax"
    save_taxonomy(tax, src)
    ws = Workspace(tmp / "ws")
    ws.set_taxonomy(src)
    tree, g = ws.tree, ws.graph
    terms = node_terms(g, tree).term
    n_clusters = int((tree.leaf_skill < 0).sum())

    log("figures")
    from steps_engine.studio.plotting.taxonomy import auto_depth

    depth = auto_depth(tree)
    for levels in sorted({depth, 3}):
        n_shown = len(taxonomy_figure(tree, g, maxdepth=levels, terms=terms).data[0].ids)
        for kind in ("sunburst", "icicle", "treemap"):
            rows.append((f"{kind} figure, {levels} levels ({n_shown} segments)",
                         timed(lambda: taxonomy_figure(tree, g, kind=kind, maxdepth=levels, terms=terms), args.repeat)))
    rows.append((f"sunburst sized by entropy, {depth} levels (the page's default here)",
                 timed(lambda: taxonomy_figure(tree, g, size_by="entropy", maxdepth=depth, terms=terms), args.repeat)))
    fig = taxonomy_figure(tree, g, maxdepth=depth, terms=terms)
    rows.append((f"sunburst JSON serialisation, {depth} levels", timed(fig.to_json, args.repeat)))
    rows.append(("entropy terms (node_terms)", timed(lambda: node_terms(g, tree), args.repeat)))
    rows.append(("cluster table", timed(lambda: studio_state.cluster_table(tree, g, terms), args.repeat)))
    rows.append(("long-tail figure", timed(lambda: long_tail_figure(g.counts, g.skills), args.repeat)))
    t_layout, layout = once(lambda: studio_state.graph_layout(g))
    rows.append(("co-occurrence layout of the skill map (components one by one; cached per graph)", t_layout))
    frame = studio_state.skill_frame(g, tree)
    rows.append(("skill map points (cluster labels joined to cached positions)",
                 timed(lambda: studio_state.skill_points(studio_state.skill_frame(g, tree), layout), args.repeat)))
    pts = studio_state.skill_points(frame, layout)
    rows.append(("skill points figure", timed(lambda: skill_points_figure(pts), args.repeat)))

    rows += reading_rows(ws, args.repeat)

    if not args.no_umap:
        from steps_engine.semantic import skillmap

        log("UMAP (first call compiles numba)")
        t_first, _ = once(lambda: skillmap.skill_map(g.skills, g.counts, [""] * g.n_skills, cache_dir=tmp / "umap"))
        rows.append(("meaning map, first call in a process (model load + numba compile + UMAP fit)", t_first))
        t_fit, _ = once(lambda: skillmap.skill_map(g.skills, g.counts, [""] * g.n_skills, seed=1, cache_dir=tmp / "umap"))
        rows.append(("meaning map, new layout after warm-up (embeddings cached, UMAP fit)", t_fit))
        rows.append(("meaning map, cached layout",
                     timed(lambda: skillmap.skill_map(g.skills, g.counts, [""] * g.n_skills, seed=1, cache_dir=tmp / "umap"), 3)))
    log("edits")
    # edits through the workspace (persisted atomically), undone after each timing run
    ch = tree.children()
    tops = [c for c in ch[0] if tree.leaf_skill[c] < 0]
    a, b = tree.ids[tops[0]], tree.ids[tops[1]]
    some = tree.members(tops[1])[:5]
    inner = next((c for c in ch[tops[0]] if tree.leaf_skill[c] < 0), tops[0])
    edits = {
        "rename": Edit("rename", {"node_id": a, "label": "renamed"}),
        "move 5 skills": Edit("move", {"skills": some, "target_id": a}),
        "merge two top clusters": Edit("merge", {"target_id": a, "source_id": b}),
        "split a cluster": Edit("split", {"node_id": tree.ids[inner]}),
        "exclude a skill": Edit("exclude", {"skills": some[:1]}),
        "create a cluster": Edit("create", {"parent_id": a, "label": "new"}),
    }
    for name, edit in edits.items():
        def step(edit=edit):
            ws.apply(edit)
            ws.undo()

        rows.append((f"edit: {name} (+ undo)", timed(step, args.repeat)))
    ws.apply(edits["move 5 skills"])
    rows.append(("undo", timed(lambda: (ws.undo(), ws.redo()), args.repeat) / 2))
    rows.append(("reopen workspace + load current tree", timed(lambda: Workspace(ws.root).tree, args.repeat)))
    ws.undo()

    log("selection")
    from steps_engine.selection.search import Constraints

    t_sel, summ = once(lambda: studio_state.run_selection(ws, Constraints(k=3), starts="tail:0.1", scope="level:1", terms=terms))
    rows.append((f"Combinations run (long work, progress shown): {summ['metrics']['steps']['combinations']} long-tail "
                 "starts, k=3, level:1 exact + random baseline, saved", t_sel))
    log("AppTest")
    if not args.no_apptest:
        rows += apptest_rows(ws)

    if args.browser:
        log("browser")
        rows += browser_rows(ws)

    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}")
    print(f"Taxonomy: {g.n_skills:,} skills, {g.n_edges:,} edges, {tree.n_nodes:,} nodes ({n_clusters} clusters), "
          f"height {tree.height}\n")
    print("| step | seconds |\n| --- | ---: |")
    for name, sec in rows:
        print(f"| {name} | {sec:.3f} |")


def reading_rows(ws: Workspace, repeat: int) -> list[tuple[str, float]]:
    """The reading aids of issue 11 on the workspace's current tree."""
    from steps_engine.studio.reading import outline_html
    from steps_engine.taxonomy.keyword_names import keyword_names

    tree, g = ws.tree, ws.graph
    terms = node_terms(g, tree).term
    out = []
    corpus = ws.name_corpus
    out.append(("keyword names of every cluster (c-TF-IDF + central members)",
                timed(lambda: keyword_names(tree, g, corpus), repeat)))
    from steps_engine.studio.plotting.taxonomy import auto_depth

    depth = auto_depth(tree)
    out.append((f"first chart: sunburst ({depth} levels, names, hover members, legend) + JSON",
                timed(lambda: taxonomy_figure(tree, g, maxdepth=depth, terms=terms).to_json(), repeat)))
    top = [c for c in tree.children()[0] if tree.leaf_skill[c] < 0]
    big = max(top, key=lambda c: tree.member_counts()[c])
    out.append(("drill-down: sunburst re-rooted at the largest top-level cluster + JSON",
                timed(lambda: taxonomy_figure(tree, g, maxdepth=auto_depth(tree, tree.ids[big]), root_id=tree.ids[big],
                                              terms=terms).to_json(), repeat)))
    layout = studio_state.graph_layout(g)
    pts = studio_state.skill_points(studio_state.skill_frame(g, tree), layout)
    skill = sorted(tree.members(0))[len(tree.members(0)) // 2]
    out.append(("skill-map search: figure highlighting and zooming to a skill + JSON",
                timed(lambda: skill_points_figure(pts, highlight=skill).to_json(), repeat)))
    out.append(("skill map coloured by level 2", timed(lambda: studio_state.skill_frame(g, tree, 2), repeat)))
    out.append((f"outline view ({depth} levels)", timed(lambda: outline_html(tree, g, terms, max_depth=depth), repeat)))
    ch = tree.children()
    a, b = tree.ids[top[0]] if top[0] != big else tree.ids[top[1]], tree.ids[big]
    some = tree.members(big)[:5]
    inner = next((c for c in ch[big] if tree.leaf_skill[c] < 0), big)
    what = {
        "move 5 skills": Edit("move", {"skills": some, "target_id": a}),
        "merge two top clusters": Edit("merge", {"target_id": a, "source_id": b}),
        "split by entropy (a second-level cluster)": Edit("split", {"node_id": tree.ids[inner]}),
        "split by entropy (the largest top-level cluster)": Edit("split", {"node_id": b}),
        "split off a chosen group of 5": Edit("split", {"node_id": b, "groups": [some]}),
        "exclude a skill": Edit("exclude", {"skills": some[:1]}),
    }
    for name, edit in what.items():
        out.append((f"what-if cost (nothing applied): {name}", timed(lambda edit=edit: ws.what_if(edit), repeat)))
    return out


def demo_main(args) -> None:
    import resource
    import subprocess

    from steps_engine.studio.reading import load_rows, rows_behind

    rows: list[tuple[str, float]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_studio_demo_"))
    ws = Workspace(tmp / "ws")
    t, _ = once(lambda: studio_state.build_into_workspace(ws, studio_state.demo_path(), studio_state.demo_mapping(), height=3))
    rows.append(("demo taxonomy build incl. keyword names over the rows", t))
    rows += reading_rows(ws, args.repeat)
    t, table = once(lambda: load_rows(ws))
    rows.append((f"read the rows of the input ({len(table)} rows; cached per graph)", t))
    node = ws.tree.ids[ws.tree.children()[0][0]]
    rows.append(("rows behind a top-level cluster", timed(lambda: rows_behind(table, ws.tree, node_id=node), args.repeat)))
    if not args.no_umap:
        log("meaning map, fresh cache, as the studio's subprocess")
        env = dict(os.environ, STEPS_CACHE_DIR=str(tmp / "cache"))
        code = ("import sys; from steps_engine.studio.state import build_meaning_map; "
                "build_meaning_map(sys.argv[1], sys.argv[2])")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(ws.taxonomy_dir), str(tmp / "mm.json")], env=env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append((f"meaning map first build, fresh cache (wall; CPU {cpu:.1f} s)", wall))
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}")
    print(f"Demo: {ws.graph.n_skills} skills, {ws.tree.n_nodes} nodes\n")
    print("| step | seconds |\n| --- | ---: |")
    for name, sec in rows:
        print(f"| {name} | {sec:.3f} |")


def apptest_rows(ws: Workspace) -> list[tuple[str, float]]:
    from streamlit.testing.v1 import AppTest

    os.environ["STEPS_WORKSPACE"] = str(ws.root)
    out = []
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    for page in ("home", "data", "taxonomy", "skill_map", "curate", "combinations", "synthesize", "export"):
        at.switch_page(f"pages/{page}.py")
        t, _ = once(at.run)
        out.append((f"page {page}: first run (cold caches)", t))
        out.append((f"page {page}: rerun", timed(at.run, 3)))
        assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/taxonomy.py")
    at.run()
    t, _ = once(lambda: at.radio(key="tax_kind").set_value("icicle").run())
    out.append(("taxonomy: switch to icicle (new figure)", t))
    t, _ = once(lambda: at.radio(key="tax_size").set_value("entropy").run())
    out.append(("taxonomy: size by entropy (new figure)", t))
    at.switch_page("pages/curate.py")
    at.run()
    skill = ws.tree.members(0)[0]
    target = ws.tree.ids[ws.tree.children()[0][-1]]
    at.multiselect(key="move_skills").set_value([skill])
    at.selectbox(key="move_target").set_value(target).run()
    t, _ = once(lambda: at.button(key="do_move").click().run())
    out.append(("curate: move a skill (edit + rerun with new tree)", t))
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/taxonomy.py")
    t, _ = once(at.run)
    out.append(("taxonomy page after an edit (new tree: terms + figure)", t))
    at.switch_page("pages/skill_map.py")
    t, _ = once(at.run)
    out.append(("skill map after an edit (positions cached, labels re-joined)", t))
    at.switch_page("pages/curate.py")
    at.run()
    t, _ = once(lambda: at.button(key="undo").click().run())
    out.append(("curate: undo (+ rerun)", t))
    at.switch_page("pages/skill_map.py")
    at.run()
    # the meaning map: wait for the background UMAP warm-up, then time the first map
    at.radio(key="map_mode").set_value("Meaning (UMAP of skill names)").run()
    end = time.monotonic() + 300
    while any("being built" in i.value for i in at.info) and time.monotonic() < end:
        time.sleep(5)
        at.run()
    if not at.info:
        log("UMAP map ready")
        at.switch_page("pages/curate.py")
        at.run()
        at.multiselect(key="move_skills").set_value([skill])
        at.selectbox(key="move_target").set_value(target).run()
        at.button(key="do_move").click().run()
        at.switch_page("pages/skill_map.py")
        t, _ = once(at.run)
        out.append(("skill map (UMAP) after an edit", t))
        out.append(("skill map (UMAP) rerun", timed(at.run, 3)))
    return out


def browser_rows(ws: Workspace) -> list[tuple[str, float]]:
    """Wall time in a real browser: server answer + websocket + plotly drawing."""
    import socket
    import subprocess

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, STEPS_WORKSPACE=str(ws.root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    out = []
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run"]
    try:
        import urllib.request

        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            page.wait_for_selector("h1:has-text('STEPS Studio')", timeout=120_000)
            t = time.perf_counter()
            page.reload()
            page.wait_for_selector("h1:has-text('STEPS Studio')", timeout=120_000)
            page.wait_for_selector("[data-testid='stMetricValue']", timeout=120_000)
            out.append(("browser: Start page load (no chart; the app's own boot)", time.perf_counter() - t))
            page.goto(url + "/taxonomy")
            page.wait_for_selector("g.sunburstlayer path", timeout=120_000)  # warm the server caches
            t = time.perf_counter()
            page.reload()
            page.wait_for_selector("g.sunburstlayer path", timeout=120_000)
            out.append(("browser: taxonomy page load until the sunburst is drawn", time.perf_counter() - t))
            page.wait_for_timeout(1500)
            top = page.locator("g.sunburstlayer g.slice").first.text_content()
            target = page.locator("g.sunburstlayer g.slice").nth(1).text_content()
            t = time.perf_counter()
            page.locator("g.sunburstlayer g.slice").nth(1).locator("path.surface").click(force=True)
            page.wait_for_function(
                "t => document.querySelector('g.sunburstlayer g.slice').textContent === t", arg=target, timeout=120_000
            )
            out.append(("browser: click a cluster (re-root, new figure) until drawn", time.perf_counter() - t))
            page.wait_for_timeout(1500)
            t = time.perf_counter()
            page.locator("g.sunburstlayer g.slice").first.locator("path.surface").click(force=True)
            page.wait_for_function(
                "t => document.querySelector('g.sunburstlayer g.slice').textContent === t", arg=top, timeout=120_000
            )
            out.append(("browser: click the centre (back up) until drawn", time.perf_counter() - t))
            t = time.perf_counter()
            page.get_by_text("icicle", exact=True).click()
            page.wait_for_selector("g.iciclelayer path", timeout=120_000)
            out.append(("browser: switch to icicle until drawn", time.perf_counter() - t))
            for kind in ("treemap", "sunburst", "icicle"):
                t = time.perf_counter()
                page.get_by_text(kind, exact=True).click()
                page.wait_for_selector(f"g.{kind}layer path", timeout=120_000)
                out.append((f"browser: switch to {kind} until drawn", time.perf_counter() - t))
            nav = page.locator("[data-testid='stSidebarNav']")
            t = time.perf_counter()
            nav.get_by_text("Skill map", exact=True).click()
            page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
            out.append(("browser: sidebar Taxonomy -> Skill map until the points are drawn", time.perf_counter() - t))
            t = time.perf_counter()
            nav.get_by_text("Taxonomy", exact=True).click()
            page.wait_for_selector(".js-plotly-plot path.surface", timeout=120_000)
            out.append(("browser: sidebar Skill map -> Taxonomy until the chart is drawn", time.perf_counter() - t))
            t = time.perf_counter()
            nav.get_by_text("Curate", exact=True).click()
            page.wait_for_selector("h1:has-text('Curate')", timeout=120_000)
            page.wait_for_selector("[data-testid='stMetricValue']", timeout=120_000)
            out.append(("browser: sidebar Taxonomy -> Curate", time.perf_counter() - t))
            page.goto(url + "/skill_map")
            page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
            t = time.perf_counter()
            page.reload()
            page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=120_000)
            out.append(("browser: skill map page load until the points are drawn", time.perf_counter() - t))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
    return out


if __name__ == "__main__":
    main()
