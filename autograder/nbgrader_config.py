"""The nbgrader configuration every command of the autograder starts from.

nbgrader is the engine (``generate_assignment``, ``validate``, later ``autograde``); this module is the
one place where it is configured, as a traitlets ``Config`` built in code rather than a
``nbgrader_config.py`` picked up from the working directory, so the result never depends on where a
command is run from.

The course directory (nbgrader's ``source/``, ``release/``, ``submitted/``, ... and the SQLite gradebook)
lives under ``build/nbgrader/``: a build folder, never committed.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

#: A cell tagged ``experiment`` is an experiment or a figure that no exercise depends on
#: (solutions/AUTHORING.md). nbgrader skips it whenever it executes a notebook (validate, autograde).
EXPERIMENT_TAG = "experiment"

#: What nbgrader puts in place of a solution (the student sees this stub).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

#: Seconds one cell may run while nbgrader executes a notebook.
CELL_TIMEOUT = 120


def nbgrader_config(course_dir: Path | str, *, db_url: str | None = None) -> Config:
    """Return the nbgrader configuration for a course directory.

    Args:
        course_dir: nbgrader's course root (it holds ``source/``, ``release/`` and the gradebook).
        db_url: the gradebook's SQLAlchemy URL; default: ``sqlite:///<course_dir>/gradebook.db``.
    """
    course_dir = Path(course_dir).resolve()
    c = Config()
    c.CourseDirectory.root = str(course_dir)
    c.CourseDirectory.db_url = db_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.skip_cells_with_tag = EXPERIMENT_TAG
    return c
