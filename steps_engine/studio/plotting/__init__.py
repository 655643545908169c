"""Studio figures, one module per figure; each function returns a `plotly.graph_objects.Figure`.

    taxonomy.taxonomy_figure      sunburst / icicle / treemap of the encoding tree
    long_tail.long_tail_figure    skill frequency by rank, log-log
    strategies.strategy_figure    steps vs baselines (gain, coherence)
    usage.skill_usage_figure      skills by the number of combinations that use them
    points.skill_points_figure    skills as 2-D points (graph-layout fallback of the skill map)
    skill_map                     the UMAP skill map (embeddings)
"""
