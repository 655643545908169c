"""Shared colours: one per top-level cluster, stable for a given cluster order."""

import plotly.express as px

PALETTE = px.colors.qualitative.Plotly + px.colors.qualitative.D3 + px.colors.qualitative.Alphabet
ROOT_COLOUR = "#e8e8e8"


def colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]
