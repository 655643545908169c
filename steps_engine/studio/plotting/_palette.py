"""Shared colours: one per top-level cluster, stable for a given cluster order."""

import plotly.express as px

PALETTE = px.colors.qualitative.Plotly + px.colors.qualitative.D3 + px.colors.qualitative.Alphabet
ROOT_COLOUR = "#e8e8e8"


def colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def shade(hex_colour: str, amount: float) -> str:
    """`hex_colour` mixed with white: amount 0 keeps it, 1 gives white."""
    if amount <= 0:
        return hex_colour
    h = hex_colour.lstrip("#")
    rgb = [int(h[k : k + 2], 16) for k in (0, 2, 4)]
    a = min(max(float(amount), 0.0), 1.0)
    return "#" + "".join(f"{round(c + (255 - c) * a):02x}" for c in rgb)
