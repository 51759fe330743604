"""The website: page notebooks, a parallel pre-execution, the strict Jupyter Book build and its audit.

Why the site is built from a staged copy (``build/book/``) and not from ``solutions/``: a chapter source
holds the hidden tests and the solutions. The page a reader sees is generated from it here, with nbgrader's
own preprocessors (the same ones that make the student notebook):

* a solution cell becomes the student's stub (not executed on the site), followed, after its test cell, by
  the worked solution in a collapsed toggle, or by nothing at all in a graded-cohort build
  (``solutions=False``: the solution code is then nowhere on the site);
* a test cell shows only its visible tests (not executed); the hidden tests are removed;
* every code cell before the exercises is executed as written, so every figure and number on the page
  comes from code; from the first exercise on (exercises close a chapter, then the self-check), code cells
  are shown, not run.

The staged book mirrors the repository (``chapters/NN_slug.ipynb`` next to ``intro.md``), so the Colab
button opens the student notebook ``chapters/NN_slug.ipynb`` in the repository, and after the build the
download button's file (``_sources/chapters/NN_slug.ipynb``) is replaced by that same student notebook.
Finally ``audit()`` scans every file of the built site: no hidden test, no solution in a graded-cohort
build, no script, style, image or font from another host. Any finding fails the build.

This lives in ``autograder/`` beside ``release.py`` because both are one pipeline from one source, built on
the same nbgrader configuration; ``python -m autograder book`` runs it (``make book`` calls that).
"""

from __future__ import annotations

import copy
import hashlib
import html as html_lib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import yaml
from nbformat import NotebookNode

from .nbgrader_config import nbgrader_config
from .release import (BUILD_DIR, CHAPTERS_DIR, EXERCISE_HEADING, ROOT, SOLUTIONS_DIR, check_source,
                      is_solution, is_test, nbgrader_meta, split_hidden, strip_solution_markers)

BOOK_SRC = BUILD_DIR / "book"     # the staged Jupyter Book source (generated, never committed)
OUT_DIR = ROOT / "_build"         # jupyter-book's output: html/, .jupyter_cache/, .doctrees/
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
#: Files and folders every staged book gets from the repository root besides its toc pages.
SHARED = ("references.bib", "_static")
SKIP_EXECUTION = "skip-execution"
ANSWER_TAG, TESTS_TAG = "exercise-answer", "exercise-tests"     # labelled by _static/book.css
CHAPTER_PREFIX = "chapters/"
STATE_NAME = "book-state.json"
LOG_NAME = "book-build.log"
#: What executed pages depend on besides their own code: the library's code and the committed results
#: files that pages load. When these change, cached page outputs are stale (jupyter-cache keys a notebook
#: by its own code only), so the cache is emptied.
DEPENDENCIES = ((ROOT / "src" / "actlab", (".py",)),
                (ROOT / "benchmarks", (".json", ".csv", ".npz", ".txt")))
BEGIN_MARK_SCHEME, END_MARK_SCHEME = "=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="


class BuildError(RuntimeError):
    """The book did not build cleanly (a failing notebook, a Sphinx warning, or an audit finding)."""


# --------------------------------------------------------------------------------------------------
# the table of contents


def toc_entries(toc_path: Path | str = TOC) -> list[str]:
    """Every document of a ``_toc.yml``, in reading order (the root first)."""
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            for key in ("parts", "chapters", "sections"):
                walk(item.get(key))

    walk([{"parts": toc.get("parts"), "chapters": toc.get("chapters")}])
    return entries


def chapter_slug(entry: str) -> str | None:
    """``chapters/00_why_activation`` -> ``00_why_activation``; None for a page that is not a chapter."""
    return entry[len(CHAPTER_PREFIX):] if entry.startswith(CHAPTER_PREFIX) else None


# --------------------------------------------------------------------------------------------------
# page notebooks


def _fence(body: str, minimum: int, char: str = "`") -> str:
    """A fence of ``char`` longer than any run of ``char`` inside ``body``."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", body)), default=0)
    return char * max(minimum, longest + 1)


def _remove_mark_scheme(text: str) -> str:
    out, inside = [], False
    for line in text.split("\n"):
        if BEGIN_MARK_SCHEME in line:
            inside = True
        elif END_MARK_SCHEME in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def solution_toggle(cell: NotebookNode, title: str, cell_id: str) -> NotebookNode:
    """A markdown cell with the worked solution of ``cell`` in a collapsed admonition (sphinx-togglebutton)."""
    answer = _remove_mark_scheme(strip_solution_markers(cell.source)).strip("\n")
    if cell.cell_type == "code":
        inner = _fence(answer, 3)
        answer = f"{inner}python\n{answer}\n{inner}"
    outer = _fence(answer, 4, "~")   # tildes: the title may hold backticks, a backtick fence's info string may not
    source = f"{outer}{{admonition}} {title}\n:class: dropdown tip\n\n{answer}\n{outer}"
    new = nbformat.v4.new_markdown_cell(source)
    new.id = cell_id
    return new


def page_notebook(src: NotebookNode, *, solutions: bool = True) -> NotebookNode:
    """The notebook a chapter page is built from (see the module docstring).

    ``src`` is a chapter source as read by ``release.read_source``. From the first exercise cell on, code
    cells are tagged ``skip-execution``: the stubs, the visible tests and the self-check are shown, not run.
    """
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    config = nbgrader_config(BUILD_DIR / "nbgrader")
    student, resources = copy.deepcopy(src), {}
    for preprocessor in (ClearSolutions, ClearHiddenTests, ClearMarkScheme):
        student, resources = preprocessor(config=config).preprocess(student, resources)

    page = nbformat.v4.new_notebook(metadata={"kernelspec": src.metadata["kernelspec"]})
    in_exercises, title, pending = False, "Worked solution", []
    for original, shown in zip(src.cells, student.cells):
        if original.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(original.source)
            if headings:
                number, name, _points = headings[-1]
                title = f"Worked solution: Exercise {number} ({name})"
        cell = copy.deepcopy(shown)
        for key in ("nbgrader", "deletable", "editable"):
            cell.metadata.pop(key, None)
        if nbgrader_meta(original):
            in_exercises = True
        if cell.cell_type == "code" and in_exercises:
            tags = list(cell.metadata.get("tags", []))
            role = [ANSWER_TAG] if is_solution(original) else [TESTS_TAG] if is_test(original) else []
            cell.metadata["tags"] = tags + [t for t in [SKIP_EXECUTION] + role if t not in tags]
        if pending and not is_test(original):       # the toggle goes after the test cell, if any
            page.cells.extend(pending)
            pending = []
        page.cells.append(cell)
        if is_solution(original) and solutions:
            pending.append(solution_toggle(original, title, f"{original.id}-solution"))
    page.cells.extend(pending)
    nbformat.validate(page)
    return page


# --------------------------------------------------------------------------------------------------
# staging


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds it (unchanged files keep their mtime, so Sphinx's
    incremental build leaves them alone)."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


@dataclass
class StagedBook:
    src: Path
    entries: list[str]
    chapters: dict[str, Path]          # slug -> chapter source (solutions/NN_slug.md)
    pages: dict[str, NotebookNode]     # slug -> page notebook as staged
    changed: list[str] = field(default_factory=list)


def stage(book_src: Path | str = BOOK_SRC, *, toc: Path | str = TOC, solutions_dir: Path | str = SOLUTIONS_DIR,
          solutions: bool = True) -> StagedBook:
    """Assemble a complete Jupyter Book source in ``book_src``.

    ``_config.yml``, ``references.bib`` and ``_static/`` come from the repository root; the toc's pages
    from the toc's folder, else from the repository root; each chapter ``chapters/NN_slug`` becomes ``chapters/NN_slug.ipynb``, the page
    notebook of ``solutions_dir/NN_slug.md``. Files left from an earlier staging are removed.
    """
    book_src, toc, solutions_dir = Path(book_src), Path(toc), Path(solutions_dir)
    entries = toc_entries(toc)
    staged: dict[str, bytes] = {"_config.yml": CONFIG.read_bytes(), "_toc.yml": toc.read_bytes()}
    for name in SHARED:
        path = ROOT / name
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    staged[str(f.relative_to(ROOT))] = f.read_bytes()
        elif path.is_file():
            staged[name] = path.read_bytes()
    chapters, pages = {}, {}
    for entry in entries:
        slug = chapter_slug(entry)
        if slug is not None:
            source = solutions_dir / f"{slug}.md"
            if not source.is_file():
                raise BuildError(f"{toc.name} lists {entry}, but its source {source} does not exist")
            page = page_notebook(check_source(source), solutions=solutions)
            chapters[slug], pages[slug] = source, page
            staged[f"{entry}.ipynb"] = (nbformat.writes(page) + "\n").encode()
            continue
        candidates = [folder / f"{entry}{ext}" for folder in (toc.parent, ROOT) for ext in (".md", ".ipynb")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise BuildError(f"{toc.name} lists {entry}, but no {entry}.md or {entry}.ipynb exists")
        staged[str(Path(entry).with_suffix(found.suffix))] = found.read_bytes()

    book = StagedBook(book_src, entries, chapters, pages)
    for rel, data in staged.items():
        if _write_if_changed(book_src / rel, data):
            book.changed.append(rel)
    keep = {str(book_src / rel) for rel in staged}
    for f in sorted(book_src.rglob("*"), reverse=True):
        if f.is_file() and str(f) not in keep:
            f.unlink()
        elif f.is_dir() and not any(f.iterdir()):
            f.rmdir()
    return book


# --------------------------------------------------------------------------------------------------
# execution: every page notebook that the cache does not hold, in parallel, into myst-nb's cache


def _execute_one(path: str, timeout: int, threads: int) -> tuple[str, str, float, str | None]:
    """Execute one page notebook as myst-nb would (cwd: its folder; stop at the first error).

    ``threads``: the kernel's share of the cores (OpenMP / MKL threads), so parallel chapters do not
    oversubscribe the machine; a value already set in the environment wins.
    """
    import tempfile

    from jupyter_cache.executors.utils import single_nb_execution
    from jupyter_client.manager import KernelManager

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))

    nb = nbformat.read(path, as_version=4)
    # the kernel talks over Unix sockets in a private folder (ZeroMQ's ipc transport), not over TCP on
    # localhost (which ipykernel warns about: "Kernel is running over TCP without encryption")
    with tempfile.TemporaryDirectory(prefix="book-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                     meta_override=True, km=km)
    return path, nbformat.writes(nb), result.time, result.exc_string if result.err else None


def _fingerprint(paths, suffixes: tuple[str, ...] | None = None) -> str:
    digest = hashlib.sha256()
    for base in paths:
        base = Path(base)
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for f in files:
            if not f.is_file() or "__pycache__" in f.parts or (suffixes and f.suffix not in suffixes):
                continue
            digest.update(str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def dependencies_fingerprint() -> str:
    return "".join(_fingerprint([folder], suffixes=suffixes) for folder, suffixes in DEPENDENCIES)


def execute_pages(book: StagedBook, cache_dir: Path, *, jobs: int | None = None, timeout: int = 120,
                  progress: bool = True) -> dict[str, float | None]:
    """Execute, ``jobs`` at a time, the page notebooks that myst-nb's jupyter-cache does not hold yet.

    Returns {slug: seconds} for executed pages and {slug: None} for cache hits. The cache is emptied when
    the library or the committed results change (see ``DEPENDENCIES``). Raises ``BuildError`` naming
    every page that fails, with its traceback.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(cache_dir))
    deps_file = cache_dir / "dependencies.sha256"
    deps = dependencies_fingerprint()
    if deps_file.is_file() and deps_file.read_text() != deps:
        cache.clear_cache()         # removes the folder
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = get_cache(str(cache_dir))
    deps_file.write_text(deps)

    times: dict[str, float | None] = {}
    todo = []
    for slug in book.pages:
        path = book.src / f"{CHAPTER_PREFIX}{slug}.ipynb"
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
            times[slug] = None
        except KeyError:
            todo.append(path)
    if not todo:
        return times
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    failures = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        futures = [pool.submit(_execute_one, str(p), timeout, threads) for p in todo]
        done = as_completed(futures)
        if progress:
            from tqdm.auto import tqdm
            done = tqdm(done, total=len(futures), desc=f"executing chapters ({jobs} workers)", unit="ch")
        for fut in done:
            path, text, seconds, error = fut.result()
            slug = Path(path).stem
            if error:
                failures.append(f"chapters/{slug} (from solutions/{slug}.md) failed:\n{error}")
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nbformat.reads(text, as_version=4), path, data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
            times[slug] = seconds
    if failures:
        raise BuildError("\n\n".join(failures))
    return times


# --------------------------------------------------------------------------------------------------
# the audit of a built site


TEXT_SUFFIXES = {".html", ".js", ".txt", ".ipynb", ".json", ".md", ".css", ".py", ".svg", ".xml", ".bib"}
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"""(url\(\s*['"]?\s*(https?:)?//|@import\s+['"](https?:)?//)""", re.IGNORECASE)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def site_texts(html_dir: Path):
    """Yield (relative path, searchable text) for every text file of a built site.

    HTML is searched raw and as its text (tags removed, entities decoded: highlighted code reads as the
    code itself); notebooks and JSON as their decoded strings.
    """
    for f in sorted(Path(html_dir).rglob("*")):
        if not f.is_file() or f.suffix not in TEXT_SUFFIXES:
            continue
        raw = f.read_text(encoding="utf-8", errors="replace")
        parts = [raw]
        if f.suffix == ".html":
            parts.append(html_lib.unescape(re.sub(r"<[^>]+>", "", raw)))
        elif f.suffix in (".ipynb", ".json"):
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            strings = []

            def collect(x):
                if isinstance(x, str):
                    strings.append(x)
                elif isinstance(x, list):
                    if all(isinstance(s, str) for s in x):
                        strings.append("".join(x))
                    for y in x:
                        collect(y)
                elif isinstance(x, dict):
                    for y in x.values():
                        collect(y)
            collect(data)
            parts.append("\n".join(strings))
        yield str(f.relative_to(html_dir)), _squash("\n".join(parts))


def secret_snippets(source: NotebookNode, page: NotebookNode, *, solutions: bool) -> dict[str, str]:
    """{line: "hidden test" | "solution"}: lines that must not appear anywhere on the site.

    Each hidden-test line (and, in a graded-cohort build, each solution line) that the page itself does
    not otherwise show; lines shorter than 8 characters are too common to look for.
    """
    shown = _squash("\n".join(c.source for c in page.cells))
    secrets: dict[str, str] = {}
    for cell in source.cells:
        if is_test(cell):
            kind, regions = "hidden test", split_hidden(cell.source)[1]
        elif is_solution(cell) and not solutions:
            kind, regions = "solution", [strip_solution_markers(cell.source)]
        else:
            continue
        for region in regions:
            for line in region.split("\n"):
                line = _squash(line).strip()
                if len(line) >= 8 and line not in shown:
                    secrets.setdefault(line, kind)
    return secrets


def external_resources(html_dir: Path) -> list[str]:
    """Every script, style, image, font or frame that a built page would load from another host."""
    from bs4 import BeautifulSoup

    found = []
    for f in sorted(Path(html_dir).rglob("*")):
        if f.suffix == ".html":
            soup = BeautifulSoup(f.read_text(encoding="utf-8", errors="replace"), "html.parser")
            for tag in soup.find_all(["script", "img", "iframe", "source", "video", "audio", "embed", "link",
                                      "object", "track", "input"]):
                for attr in ("src", "data", "srcset", "poster") + (("href",) if tag.name == "link" else ()):
                    value = tag.get(attr)
                    if value and EXTERNAL.match(value.split(",")[0]):
                        if tag.name == "link" and set(tag.get("rel") or []) & {"canonical", "alternate"}:
                            continue
                        found.append(f"{f.relative_to(html_dir)}: <{tag.name} {attr}={value!r}>")
            for style in soup.find_all("style"):
                if CSS_EXTERNAL.search(style.get_text()):
                    found.append(f"{f.relative_to(html_dir)}: <style> loads from another host")
        elif f.suffix == ".css":
            text = re.sub(r"/\*.*?\*/", "", f.read_text(encoding="utf-8", errors="replace"), flags=re.DOTALL)
            for m in CSS_EXTERNAL.finditer(text):
                found.append(f"{f.relative_to(html_dir)}: {text[m.start():m.start() + 80]!r}")
    return found


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{5,}")


def searchindex_terms(html_dir: Path | str) -> set[str]:
    """The (stemmed) words of the site's search index, titles included."""
    text = (Path(html_dir) / "searchindex.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("(") + 1:text.rindex(")")])
    return set(data.get("terms", {})) | set(data.get("titleterms", {}))


def search_stem(word: str) -> str:
    """A word as Sphinx's English search index stores it."""
    from sphinx.search.en import SearchEnglish

    return SearchEnglish({}).stem(word.lower())


#: nbgrader's markers never reach the site (solution toggles show the code without them).
MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION", "BEGIN MARK SCHEME")


def audit(html_dir: Path | str, book: StagedBook, *, solutions: bool) -> list[str]:
    """Every leak in a built site: nbgrader markers, hidden tests, solutions (when ``solutions`` is False),
    and resources loaded from another host. An empty list means the site is clean."""
    html_dir = Path(html_dir)
    secrets: dict[str, tuple[str, str]] = {}
    for slug, source in book.chapters.items():
        for line, kind in secret_snippets(check_source(source), book.pages[slug], solutions=solutions).items():
            secrets.setdefault(line, (kind, slug))
    problems = []
    # identifiers that only the secrets use must not be searchable either
    staged = "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in book.src.rglob("*")
                       if f.suffix in (".md", ".ipynb"))
    shown = {search_stem(w) for w in set(re.findall(r"\w+", staged))}
    terms = searchindex_terms(html_dir) if (html_dir / "searchindex.js").is_file() else set()
    for line, (kind, slug) in secrets.items():
        for word in IDENTIFIER.findall(line):
            stem = search_stem(word)
            if stem not in shown and stem in terms:
                problems.append(f"searchindex.js: contains {word!r}, from a {kind} line of {slug}")
    for rel, text in site_texts(html_dir):
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{rel}: contains the marker {marker!r}")
        for line, (kind, slug) in secrets.items():
            if line in text:
                problems.append(f"{rel}: contains a {kind} line of {slug}: {line!r}")
    return problems + external_resources(html_dir)


# --------------------------------------------------------------------------------------------------
# the build


@dataclass
class BuildResult:
    ok: bool
    strict: bool
    forced: bool
    solutions: bool
    fingerprint: str
    seconds: float
    execute_seconds: float
    executed: dict
    warnings: int
    html_dir: str
    log: str
    problems: list = field(default_factory=list)

    def save(self, out_dir: Path) -> None:
        (out_dir / STATE_NAME).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, out_dir: Path) -> "BuildResult | None":
        try:
            return cls(**json.loads((Path(out_dir) / STATE_NAME).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def book_fingerprint(*, toc: Path = TOC, solutions_dir: Path = SOLUTIONS_DIR,
                     chapters_dir: Path = CHAPTERS_DIR) -> str:
    """A hash of everything a built site depends on (config, pages, chapters, library, this pipeline)."""
    entries = toc_entries(toc)
    here = Path(__file__).parent
    pipeline = [here / "site.py", here / "release.py", here / "nbgrader_config.py"]
    pages = [toc, CONFIG] + [ROOT / n for n in SHARED] + pipeline + [ROOT / "requirements.txt"]
    for entry in entries:
        slug = chapter_slug(entry)
        if slug:
            pages += [Path(solutions_dir) / f"{slug}.md", Path(chapters_dir) / f"{slug}.ipynb"]
        else:
            pages += [toc.parent / f"{entry}.md", toc.parent / f"{entry}.ipynb"]
    return _fingerprint(pages, suffixes=None) + dependencies_fingerprint()


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _count_warnings(log: str) -> int:
    """Sphinx's warnings and errors in a build log (ANSI colours removed)."""
    return len(re.findall(r"(?m)^.*\b(WARNING|ERROR|CRITICAL|SEVERE)\b.*$", ANSI.sub("", log)))


def build_site(*, solutions: bool = True, force: bool = False, clean: bool = False, jobs: int | None = None,
               release_first: bool = True, book_src: Path | str = BOOK_SRC, out_dir: Path | str = OUT_DIR,
               toc: Path | str = TOC, solutions_dir: Path | str = SOLUTIONS_DIR,
               chapters_dir: Path | str = CHAPTERS_DIR, timeout: int | None = None,
               quiet: bool = False) -> BuildResult:
    """Build the site strictly: ``jupyter-book build -W -n --keep-going`` (plus ``--all`` when ``force``).

    Steps: (1) regenerate the student notebooks (``release_first``); (2) stage the book source; (3)
    execute the pages the cache lacks, ``jobs`` at a time; (4) run jupyter-book (pages come from the cache);
    (5) put the student notebooks behind the download buttons; (6) audit the site. Any warning, failing
    notebook or audit finding raises ``BuildError``; a record of the build goes to ``_build/book-state.json``
    and the full log to ``_build/book-build.log``.

    Args:
        solutions: show worked solutions in toggles (False: a graded-cohort site without solutions).
        force: re-read every page (``--all``), as CI does; otherwise an incremental build.
        clean: delete the output folder first, jupyter-cache included (a cold build).
        jobs: chapters executed at once (default: every core).
    """
    from .release import chapter_sources, release

    start = time.perf_counter()
    out_dir, chapters_dir = Path(out_dir), Path(chapters_dir)
    html_dir = out_dir / "html"
    if clean:
        shutil.rmtree(out_dir, ignore_errors=True)
    previous = BuildResult.load(out_dir)
    if previous is not None and (previous.solutions != solutions or not previous.ok):
        # a graded-cohort site must not keep pages of a build with solutions; a failed build must not
        # leave pages that an incremental build would consider up to date
        shutil.rmtree(html_dir, ignore_errors=True)
        shutil.rmtree(out_dir / ".doctrees", ignore_errors=True)
        force = True
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STATE_NAME).unlink(missing_ok=True)

    book = stage(book_src, toc=toc, solutions_dir=solutions_dir, solutions=solutions)
    if release_first and book.chapters:
        report = release([p for p in chapter_sources(solutions_dir) if p.stem in book.chapters],
                         chapters_dir=chapters_dir)
        for path in report.written:
            print(f"wrote {path} (a generated student notebook: commit it)")
    if timeout is None:         # the cell timeout of _config.yml, as myst-nb would use it
        timeout = int((yaml.safe_load(CONFIG.read_text(encoding="utf-8")).get("execute") or {}).get("timeout", 120))
    exec_start = time.perf_counter()
    executed = execute_pages(book, out_dir / ".jupyter_cache", jobs=jobs, timeout=timeout, progress=not quiet)
    exec_seconds = time.perf_counter() - exec_start

    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book.src), "--path-output",
           str(out_dir.parent), "-W", "-n", "--keep-going"] + (["--all"] if force else [])
    if out_dir.name != "_build":
        raise ValueError("jupyter-book writes into <path-output>/_build: out_dir must be named _build")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if not quiet:
            sys.stdout.write(line)
    proc.wait()
    log = "".join(lines)
    (out_dir / LOG_NAME).write_text(ANSI.sub("", log))
    warnings = _count_warnings(log)

    problems = []
    if proc.returncode != 0 or warnings:
        problems.append(f"jupyter-book exited with {proc.returncode} and {warnings} warning(s); "
                        f"see {out_dir / LOG_NAME}")
    else:
        for slug in book.chapters:      # the download button serves the student notebook
            student = chapters_dir / f"{slug}.ipynb"
            if not student.is_file():
                problems.append(f"{student} is missing: run `python -m autograder release`")
                continue
            target = html_dir / "_sources" / CHAPTER_PREFIX / f"{slug}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(student, target)
        problems += audit(html_dir, book, solutions=solutions)

    result = BuildResult(ok=not problems, strict=True, forced=force, solutions=solutions,
                         fingerprint=book_fingerprint(toc=Path(toc), solutions_dir=Path(solutions_dir),
                                                      chapters_dir=chapters_dir),
                         seconds=time.perf_counter() - start, execute_seconds=exec_seconds,
                         executed=executed, warnings=warnings, html_dir=str(html_dir),
                         log=str(out_dir / LOG_NAME), problems=problems)
    result.save(out_dir)
    if problems:
        raise BuildError("the book did not build cleanly:\n" + "\n".join(f"  - {p}" for p in problems))
    return result


def ensure_built(*, solutions: bool = True) -> BuildResult:
    """The site for the tests: built once, strictly and forced, then shared.

    Rebuilds only when no successful forced strict build of exactly the current sources exists. In CI
    (the ``CI`` environment variable set) the first build is also clean: no jupyter-cache, every chapter
    executed. Safe under pytest-xdist: the workers wait for one build behind a file lock. The committed
    student notebooks are used as they are (``release_first=False``), so a stale ``chapters/`` is caught by
    tests/test_pipeline.py instead of being silently regenerated.
    """
    from filelock import FileLock

    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with FileLock(str(BUILD_DIR / "book.lock")):
        state = BuildResult.load(OUT_DIR)
        if (state is not None and state.ok and state.forced and state.solutions == solutions
                and state.fingerprint == book_fingerprint() and (OUT_DIR / "html" / "index.html").is_file()):
            return state
        return build_site(solutions=solutions, force=True, clean=bool(os.environ.get("CI")),
                          release_first=False)
