"""STEPS engine: skill graphs, structural-entropy taxonomies, combination selection and synthesis.

UI-free; the `steps` CLI and the Streamlit studio both call these modules.
"""

__version__ = "0.1.0"
