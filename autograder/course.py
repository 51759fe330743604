"""The grader's workspace: nbgrader's course folder for the assignments being graded.

``build/autograder/`` (a build folder, never committed) holds

* ``course/``: nbgrader's course directory: ``source/<slug>/<slug>.ipynb`` (the instructor
  notebook: solutions and hidden tests), ``release/<slug>/<slug>.ipynb`` (what students got)
  and ``gradebook.db``, a *template* gradebook that knows the assignments and no student.
  Each grading worker copies it; the sandbox never sees any of this.
* the real gradebook (``db_url``; default ``sqlite:///build/autograder/gradebook.db``), where
  the grades end up (nbgrader's schema: ``nbgrader formgrade`` and friends read it);
* ``cache/``: one JSON result per (submission, tests, environment) hash.

Assignments are regenerated from ``solutions/NN_slug.md`` with the book pipeline
(:func:`autograder.release.generate_assignments`, nbgrader's ``generate_assignment``) only
when a source changed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .verify import Assignment, load_assignment

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "build" / "autograder"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _generator_version() -> str:
    from . import release
    return _sha(Path(release.__file__))[:12]


@dataclass
class Course:
    """The assignments of one grading run, prepared in ``workspace``."""
    workspace: Path
    sources: list[Path]
    db_url: str

    @property
    def course_dir(self) -> Path:
        return self.workspace / "course"

    @classmethod
    def create(cls, sources: list[Path], workspace: Path | None = None,
               db_url: str | None = None) -> "Course":
        workspace = Path(workspace or WORKSPACE).resolve()
        workspace.mkdir(parents=True, exist_ok=True)
        db_url = db_url or f"sqlite:///{workspace / 'gradebook.db'}"
        course = cls(workspace, [Path(s).resolve() for s in sources], db_url)
        course.prepare()
        return course

    def _state(self) -> dict:
        f = self.workspace / "state.json"
        return json.loads(f.read_text()) if f.is_file() else {}

    def _save_state(self, state: dict) -> None:
        (self.workspace / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))

    def prepare(self) -> None:
        """(Re)generate the assignments whose source changed; register them in the gradebook."""
        from .release import _with_venv_on_path, generate_assignments

        _with_venv_on_path()
        state = self._state()
        version = _generator_version()
        tags = {src.stem: f"{_sha(src)}:{version}" for src in self.sources}
        stale = [src for src in self.sources
                 if state.get("assignments", {}).get(src.stem) != tags[src.stem]
                 or not self.source_path(src.stem).is_file() or not self.release_path(src.stem).is_file()]
        if stale:
            generate_assignments(stale, self.course_dir)
            state.setdefault("assignments", {}).update({s.stem: tags[s.stem] for s in stale})
        registered = state.setdefault("gradebooks", {}).setdefault(self.db_url, {})
        todo = [s.stem for s in self.sources if registered.get(s.stem) != tags[s.stem]]
        if todo or not self._db_exists():
            self.register(todo or [s.stem for s in self.sources])
            registered.update({slug: tags[slug] for slug in (todo or tags)})
        self._save_state(state)

    def _db_exists(self) -> bool:
        if self.db_url.startswith("sqlite:///"):
            return Path(self.db_url[len("sqlite:///"):]).is_file()
        return True

    def register(self, slugs: list[str]) -> None:
        """Put the assignments into the real gradebook with nbgrader's own generate_assignment."""
        from nbgrader.apps import NbGraderAPI
        from .nbgrader_config import nbgrader_config

        api = NbGraderAPI(config=nbgrader_config(self.course_dir, db_url=self.db_url))
        for slug in slugs:
            out = api.generate_assignment(slug, force=True, create=True)
            if not out["success"]:
                raise RuntimeError(f"nbgrader could not register {slug} in {self.db_url}:\n"
                                   f"{out['error']}\n{out['log'][-2000:]}")

    def source_path(self, slug: str) -> Path:
        return self.course_dir / "source" / slug / f"{slug}.ipynb"

    def release_path(self, slug: str) -> Path:
        return self.course_dir / "release" / slug / f"{slug}.ipynb"

    @property
    def template_db(self) -> Path:
        return self.course_dir / "gradebook.db"

    @property
    def slugs(self) -> list[str]:
        return [s.stem for s in self.sources]

    def assignment(self, slug: str) -> Assignment:
        return load_cached(str(self.source_path(slug)), str(self.release_path(slug)), slug,
                           _sha(self.source_path(slug)))

    def protected_paths(self) -> list[str]:
        paths = [str(self.workspace), str(ROOT / "solutions"), str(ROOT / "build"),
                 str(ROOT / "autograder"), str(ROOT / "tests")]
        paths += [str(s.parent) for s in self.sources]
        if self.db_url.startswith("sqlite:///"):
            paths.append(str(Path(self.db_url[len("sqlite:///"):]).parent))
        return sorted(set(paths))


@functools.lru_cache(maxsize=64)
def load_cached(source: str, release: str, slug: str, digest: str) -> Assignment:
    src = nbformat.read(source, as_version=4)
    rel = nbformat.read(release, as_version=4)
    return load_assignment(src, rel, slug, slug)


def environment_fingerprint() -> str:
    """What a cached result depends on besides the submission and the tests: the versions of
    the packages that run or judge student code, and the grader's and actlab's own source."""
    from importlib import metadata

    parts = [sys.version]
    for pkg in ("numpy", "torch", "scipy", "nbgrader", "nbclient", "ipykernel", "matplotlib",
                "sympy", "scikit-learn"):
        try:
            parts.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{pkg}=missing")
    import actlab
    for folder in (Path(actlab.__file__).parent, Path(__file__).parent):
        for f in sorted(folder.rglob("*.py")):
            parts.append(f"{f.name}:{_sha(f)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
