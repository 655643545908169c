"""The studio's engine side: what the Streamlit pages call, and the figures they show.

`state` loads, caches and saves what a page needs (taxonomy, combinations, results) through
the stages; `sources` says where the open taxonomy came from and suggests field defaults for
a new file; `inputs` turns a typed path (file, folder of shards, glob) or several uploads (kept
as shards of one input) into what ingest reads, with per-file row counts for the preview; `reading` gives the rows behind a cluster, skill or combination and the outline
view; `mapview` the skill map's clusters by level and its meaning / co-occurrence agreement;
`plotting` holds one function per figure, each returning a plotly Figure.
Pages hold no logic of their own.
"""
