"""STEPS Studio: `streamlit run app.py` (workspace folder: $STEPS_WORKSPACE or ./workspace)."""

from pathlib import Path

import streamlit as st

# A local icon file: a ":material/...:" page icon makes the browser fetch the favicon from a
# font server, and the studio must work with nothing fetched from outside.
ICON = str(Path(__file__).resolve().parent / "assets" / "icon.png")
st.set_page_config(page_title="STEPS Studio", page_icon=ICON, layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Start", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
    st.Page("pages/taxonomy.py", title="Taxonomy", icon=":material/account_tree:"),
    st.Page("pages/skill_map.py", title="Skill map", icon=":material/scatter_plot:"),
    st.Page("pages/curate.py", title="Curate", icon=":material/edit:"),
    st.Page("pages/combinations.py", title="Combinations", icon=":material/hub:"),
    st.Page("pages/synthesize.py", title="Synthesize & preview", icon=":material/auto_awesome:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]

from steps_engine.studio.state import exposure_warning  # noqa: E402

if warning := exposure_warning(st.get_option("server.address")):
    st.warning(warning, icon=":material/public:")
st.navigation(PAGES).run()
