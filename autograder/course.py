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
from dataclasses import dataclass, field
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
    broken: dict = field(default_factory=dict)   # slug -> why its assignment is unavailable
    _library: dict = field(default_factory=dict, repr=False)

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
        for src in stale:  # one by one: a chapter that breaks the rules does not stop the others
            try:
                generate_assignments([src], self.course_dir)
            except Exception as exc:  # noqa: BLE001 - SourceError, nbgrader failures
                self.broken[src.stem] = f"cannot generate the assignment from {src.name}: {exc}"[:2000]
                continue
            state.setdefault("assignments", {})[src.stem] = tags[src.stem]
        for src in self.sources:
            if src.stem not in self.broken:
                try:
                    self.assignment(src.stem)  # the trusted specs must rebuild here
                except Exception as exc:  # noqa: BLE001
                    self.broken[src.stem] = f"cannot read the tests of {src.name}: {type(exc).__name__}: {exc}"
        if self.broken:
            import warnings
            warnings.warn("; ".join(self.broken.values()), stacklevel=2)
            self.sources = [s for s in self.sources if s.stem not in self.broken]
        registered = state.setdefault("gradebooks", {}).setdefault(self.db_url, {})
        todo = [s.stem for s in self.sources if registered.get(s.stem) != tags[s.stem]]
        if todo or not self._db_exists():
            todo = todo or [s.stem for s in self.sources]
            self.register(todo)
            registered.update({slug: tags[slug] for slug in todo})
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

    def library_fingerprint(self, slug: str) -> str:
        """The hash of the ``actlab`` code this assignment reaches (see :func:`actlab_fingerprint`)."""
        if slug not in self._library:
            self._library[slug] = actlab_fingerprint(
                self.assignment(slug), nbformat.read(self.source_path(slug), as_version=4))
        return self._library[slug]

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


#: The grader's own modules that decide a verdict (release.py and site.py do not: what they
#: generate is part of the assignment's fingerprint).
GRADING_MODULES = ("sandbox", "execute", "cells", "verify", "preprocessors", "grade", "course")


def environment_fingerprint() -> str:
    """What a cached result depends on besides the submission, its tests and the ``actlab`` code
    they reach (:func:`actlab_fingerprint`): the versions of the packages that run or judge
    student code and the grader's own grading code."""
    from importlib import metadata

    parts = [sys.version]
    for pkg in ("numpy", "torch", "scipy", "nbgrader", "nbclient", "ipykernel", "matplotlib",
                "sympy", "scikit-learn"):
        try:
            parts.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{pkg}=missing")
    here = Path(__file__).parent
    for name in GRADING_MODULES:
        parts.append(f"{name}:{_sha(here / f'{name}.py')}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def actlab_fingerprint(assignment: Assignment, source_nb) -> str:
    """A hash of the ``actlab`` modules an assignment can reach: ``actlab`` and ``actlab.checks``,
    the modules of its checks' references, evaluators and case generators, those its notebook
    imports, and everything they import from ``actlab`` in turn. Editing an unrelated module of
    the library (another chapter's) does not invalidate this assignment's cached grades."""
    import ast
    import actlab

    pkg = Path(actlab.__file__).parent
    names = {"actlab", "actlab.checks"}
    for ex in assignment.exercises:
        for spec in ex.specs:
            for key in ("reference", "evaluate"):
                if spec.get(key):
                    names.add(spec[key])
            gen = (spec.get("cases") or {}).get("generator")
            if gen:
                names.add(gen)
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            names |= _actlab_imports(cell.source, "actlab")
    seen: dict[str, str] = {}
    todo = [n for n in names if n == "actlab" or n.startswith("actlab.")]
    while todo:
        name = todo.pop()
        path = _module_file(pkg, name)
        if path is None or str(path) in seen:
            continue
        seen[str(path)] = _sha(path)
        module = ".".join(path.relative_to(pkg.parent).with_suffix("").parts).removesuffix(".__init__")
        todo += list(_actlab_imports(path.read_text(), module, is_package=path.name == "__init__.py"))
    return hashlib.sha256(json.dumps(sorted(seen.items())).encode()).hexdigest()


def _module_file(pkg: Path, dotted: str) -> Path | None:
    """The file of the longest importable prefix of a dotted name under the actlab package."""
    parts = dotted.split(".")[1:]
    for i in range(len(parts), -1, -1):
        base = pkg.joinpath(*parts[:i])
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
    return None


def _actlab_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    import ast
    from .verify import _python_only
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return set()
    found = set()
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "actlab"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                root = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = ".".join(root + ([base] if base else []))
            if base.split(".")[0] == "actlab":
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found
