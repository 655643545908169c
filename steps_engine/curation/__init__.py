"""Beside the pipeline, curation: hand edits of a taxonomy and where they are kept.

Takes a taxonomy; gives validated edits with their entropy cost (`edits`: merge, split, move,
rename, exclude; an undo/redo log) and the studio's on-disk workspace (`workspace`).
"""

from steps_engine.curation.edits import Edit, EditLog, EditResult
from steps_engine.curation.workspace import Workspace, default_dir

__all__ = ["Edit", "EditLog", "EditResult", "Workspace", "default_dir"]
