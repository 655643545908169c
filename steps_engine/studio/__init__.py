"""The studio's engine side: what the Streamlit pages call, and the figures they show.

`state` loads, caches and saves what a page needs (taxonomy, combinations, results) through
the stages; `plotting` holds one function per figure, each returning a plotly Figure.
Pages hold no logic of their own.
"""
