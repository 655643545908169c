"""Placeholder until the engine module lands."""

import streamlit as st

from app_pages import _shared as ui

ws = ui.workspace()
st.title("combinations")
st.info("This page is being wired to the engine.")
