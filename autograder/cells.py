"""Which cells the grader and the self-check run (no nbgrader import: the self-check needs none)."""
from __future__ import annotations

#: Markers of the self-check cell at the end of each chapter (never run while grading).
SELF_CHECK_MARKERS = ("autograder check", "autograder.check")


def is_skipped(cell: "NotebookNode", skip_tags=("experiment",)) -> bool:
    """True for cells the grader does not execute: ``experiment``-tagged cells without
    nbgrader metadata (a tag cannot switch off a graded cell) and the self-check cell."""
    if cell.cell_type != "code":
        return True
    nbg = cell.metadata.get("nbgrader", {})
    nbg = nbg if isinstance(nbg, dict) else {}
    if nbg.get("grade") or nbg.get("solution") or nbg.get("locked"):
        return False
    tags = cell.metadata.get("tags", [])
    if any(tag in tags for tag in skip_tags) or "self-check" in tags:
        return True
    return any(marker in cell.source for marker in SELF_CHECK_MARKERS)
