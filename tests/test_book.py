"""The website, built strictly once per session and shared with tests/test_site_browser.py.

``autograder.site.ensure_built()`` runs ``jupyter-book build --all -W -n --keep-going`` (clean in CI) unless a
successful forced strict build of exactly the current sources exists; the build itself fails on any warning,
failing cell, leaked hidden test or resource from another host. These tests check what it produced. The
graded-cohort switch (no solutions) is checked on the small fixture book, built twice into a temporary
folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from autograder.release import CHAPTERS_DIR, ROOT, check_source, is_solution, is_test, split_hidden
from autograder.site import (CHAPTER_PREFIX, SKIP_EXECUTION, BuildResult, audit, build_site, chapter_slug,
                             ensure_built, external_resources, page_notebook, search_stem, searchindex_terms,
                             secret_snippets, site_texts, stage, toc_entries)

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "solutions" / "98_fixture.md"
ENTRIES = toc_entries()
CHAPTERS = [chapter_slug(e) for e in ENTRIES if chapter_slug(e)]
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


@pytest.fixture(scope="module")
def site() -> BuildResult:
    return ensure_built()


@pytest.fixture(scope="module")
def html(site) -> Path:
    return Path(site.html_dir)


@pytest.fixture(scope="module")
def book(site):
    """The staged book as the build saw it (page notebooks, chapter sources)."""
    return stage(solutions=site.solutions)


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


# ------------------------------------------------------------------------------------------------ the build


def test_strict_build_has_zero_warnings(site):
    assert site.ok and site.strict and site.forced, site.problems
    assert site.warnings == 0
    log = Path(site.log).read_text()
    assert "build succeeded" in log and "finished with problems" not in log
    assert "-W" in log or site.strict


def test_every_toc_page_is_built(html):
    missing = [e for e in ENTRIES if not (html / f"{e}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"
    assert (html / "index.html").is_file() and (html / "search.html").is_file()


def test_sources_in_order_of_the_curriculum():
    numbers = [int(slug[:2]) for slug in CHAPTERS]
    assert numbers == sorted(numbers), f"_toc.yml lists chapters out of order: {CHAPTERS}"
    assert ENTRIES[0] == "intro" and ENTRIES[-2:] == ["glossary", "bibliography"]


def test_chapter_titles_carry_the_chinese_section_title():
    import yaml

    def walk(items):
        for item in items or []:
            if chapter_slug(item.get("file", "")):
                yield item
            for key in ("parts", "chapters", "sections"):
                yield from walk(item.get(key))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    for item in walk(toc.get("parts", [])):
        english, _, chinese = item.get("title", "").partition(" · ")
        assert english.startswith(chapter_slug(item["file"])[:2]) and re.search(r"[\u4e00-\u9fff]", chinese), (
            f"{item['file']}: the toc title is 'NN English title · 中文标题', got {item.get('title')!r}")


@pytest.mark.parametrize("slug", CHAPTERS)
def test_chapter_fully_executed_with_every_figure(slug, site, html, book):
    """Every code cell outside the exercises ran; every image it produced is on the page."""
    from jupyter_cache import get_cache

    cache = get_cache(str(Path(site.html_dir).parent / ".jupyter_cache"))
    record = cache.match_cache_notebook(book.pages[slug])
    executed = cache.get_cache_bundle(record.pk).nb
    images = 0
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        skipped = SKIP_EXECUTION in cell.metadata.get("tags", [])
        assert skipped or cell.execution_count is not None, f"{slug}: a cell did not run:\n{cell.source[:200]}"
        assert not skipped or not cell.outputs, f"{slug}: an exercise cell ran on the site"
        assert not any(o.output_type == "error" for o in cell.outputs)
        images += sum(1 for o in cell.outputs for t in IMAGE_TYPES if t in o.get("data", {}))
    page = _soup(html / f"{CHAPTER_PREFIX}{slug}.html")
    shown = page.select("div.cell_output img")
    assert len(shown) == images, f"{slug}: {images} figures computed, {len(shown)} on the page"
    for img in shown:
        f = (html / CHAPTER_PREFIX / img["src"]).resolve()
        assert f.is_file() and f.stat().st_size > 0, f"{slug}: missing image {img['src']}"


@pytest.mark.parametrize("slug", CHAPTERS)
def test_exercises_shown_as_stub_tests_and_solution_toggle(slug, html, book, site):
    source = check_source(book.chapters[slug])
    n_solutions = sum(1 for c in source.cells if is_solution(c))
    page = _soup(html / f"{CHAPTER_PREFIX}{slug}.html")
    stubs = [c for c in page.select("div.cell.tag_exercise-answer") if "raise NotImplementedError" in c.get_text()]
    assert len(stubs) == sum(1 for c in source.cells if is_solution(c) and c.cell_type == "code")
    assert len(page.select("div.cell.tag_exercise-tests")) == sum(1 for c in source.cells if is_test(c))
    toggles = page.select("div.admonition.dropdown")
    titles = [t.select_one(".admonition-title").get_text() for t in toggles]
    worked = [t for t in titles if t.startswith("Worked solution")]
    assert len(worked) == (n_solutions if site.solutions else 0)


@pytest.mark.parametrize("slug", CHAPTERS)
def test_download_button_serves_the_student_notebook(slug, html):
    served = html / "_sources" / CHAPTER_PREFIX / f"{slug}.ipynb"
    assert served.read_bytes() == (CHAPTERS_DIR / f"{slug}.ipynb").read_bytes()
    page = _soup(html / f"{CHAPTER_PREFIX}{slug}.html")
    assert page.select_one(f'a[href="../_sources/{CHAPTER_PREFIX}{slug}.ipynb"]') is not None


@pytest.mark.parametrize("slug", CHAPTERS)
def test_colab_button_opens_the_student_notebook_in_the_repository(slug, html):
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    org_repo = repo["url"].rstrip("/").split("github.com/")[1]
    expected = (f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/"
                f"{CHAPTER_PREFIX}{slug}.ipynb")
    page = _soup(html / f"{CHAPTER_PREFIX}{slug}.html")
    assert page.select_one(f'a[href="{expected}"]') is not None, f"no Colab link to {expected}"


def test_mathjax_is_served_locally(html):
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    scripts = [s.get("src", "").split("?")[0] for s in _soup(html / "glossary.html").find_all("script")]
    assert any(s.endswith("_static/mathjax/tex-chtml.js") for s in scripts), scripts


def test_bibliography_lists_the_references(html):
    text = _soup(html / "bibliography.html").get_text()
    for needle in ("Gaussian error linear units", "GLU variants improve transformer",
                   "Delving deep into rectifiers", "Llama 2", "Approximation by superpositions"):
        assert needle.lower() in text.lower(), needle


# ------------------------------------------------------------------------------------------------ the audit


def test_no_hidden_tests_or_markers_anywhere_on_the_site(html, book, site):
    assert audit(html, book, solutions=site.solutions) == []


@pytest.mark.parametrize("slug", CHAPTERS)
def test_leak_detector_sees_the_visible_tests(slug, html, book):
    """The same text search that finds no hidden test does find the visible tests on the page."""
    source = check_source(book.chapters[slug])
    texts = dict(site_texts(html))[f"{CHAPTER_PREFIX}{slug}.html"]
    visible = [ln.strip() for c in source.cells if is_test(c) for ln in split_hidden(c.source)[0].split("\n")
               if len(ln.strip()) >= 8]
    assert visible and all(re.sub(r"\s+", " ", ln) in texts for ln in visible)
    assert secret_snippets(source, book.pages[slug], solutions=True), f"{slug}: hidden tests to look for"


def test_audit_flags_leaks(tmp_path):
    """A site with a hidden test in a page, a marker in a notebook and a hidden name in the search index."""
    book = stage(tmp_path / "book", toc=FIXTURES / "book" / "_toc.yml", solutions_dir=FIXTURES / "solutions")
    site = tmp_path / "html"
    (site / "chapters").mkdir(parents=True)
    (site / "chapters" / "98_fixture.html").write_text(
        '<pre><span class="n">fixture_hidden_z</span> <span class="o">=</span> '
        'fixture_hidden_rng.normal(size=57)</pre>')
    (site / "leak.ipynb").write_text('{"cells": [{"source": ["### BEGIN HIDDEN TESTS\\n"]}]}')
    (site / "searchindex.js").write_text('Search.setIndex({"terms": {"%s": 0}, "titleterms": {}})'
                                         % search_stem("fixture_hidden_rng"))
    problems = "\n".join(audit(site, book, solutions=True))
    assert "chapters/98_fixture.html: contains a hidden test line of 98_fixture" in problems
    assert "leak.ipynb: contains the marker 'BEGIN HIDDEN TESTS'" in problems
    assert "searchindex.js: contains 'fixture_hidden_rng'" in problems


def test_no_resources_from_another_host(html):
    assert external_resources(html) == []


def test_external_resource_detector_can_fail(tmp_path):
    (tmp_path / "a.html").write_text('<script src="https://cdn.example.org/x.js"></script>'
                                     '<link rel="stylesheet" href="//fonts.example.org/f.css">'
                                     '<img src="http://example.org/i.png"><a href="https://ok.example.org">ok</a>')
    (tmp_path / "b.css").write_text("@font-face { src: url(https://fonts.example.org/f.woff2) }")
    found = external_resources(tmp_path)
    assert len(found) == 4 and not any("ok.example.org" in f for f in found)


# ------------------------------------------------------------------------------------------------ pages


def test_page_notebook_hides_tests_and_toggles_the_solution():
    source = check_source(FIXTURE)
    page = page_notebook(source, solutions=True)
    text = "\n".join(c.source for c in page.cells)
    assert "BEGIN HIDDEN TESTS" not in text and "fixture_hidden_rng" not in text
    assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text
    toggle = next(c for c in page.cells if c.id.endswith("-solution"))
    assert toggle.cell_type == "markdown" and ":class: dropdown" in toggle.source
    assert "np.maximum(x, 0) + np.maximum(-x, 0)" in toggle.source
    order = [c.id for c in page.cells]
    test_id = next(c.id for c in source.cells if is_test(c))
    assert order.index(toggle.id) == order.index(test_id) + 1, "the solution toggle follows the tests"
    skipped = [c for c in page.cells if SKIP_EXECUTION in c.metadata.get("tags", [])]
    assert len(skipped) == 2 and all(c.cell_type == "code" for c in skipped)
    assert [t for c in skipped for t in c.metadata["tags"] if t.startswith("exercise-")] == [
        "exercise-answer", "exercise-tests"]
    assert not any("nbgrader" in c.metadata for c in page.cells)


def test_switching_solutions_off_needs_no_re_execution():
    """With and without solutions a page has the same code cells, so jupyter-cache holds its outputs."""
    from jupyter_cache.cache.main import JupyterCacheBase

    source = check_source(FIXTURE)
    hashed = [JupyterCacheBase.create_hashed_notebook(None, page_notebook(source, solutions=flag))[1]
              for flag in (True, False)]
    assert hashed[0] == hashed[1]


def test_page_notebook_without_solutions_has_no_solution_code():
    page = page_notebook(check_source(FIXTURE), solutions=False)
    text = "\n".join(c.source for c in page.cells)
    assert "np.maximum(-x, 0)" not in text and "Worked solution" not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.slow
def test_graded_cohort_switch_removes_every_solution(tmp_path):
    """The fixture book built with solutions, then (same output folder) without: no solution left."""
    paths = dict(book_src=tmp_path / "book", out_dir=tmp_path / "_build", toc=FIXTURES / "book" / "_toc.yml",
                 solutions_dir=FIXTURES / "solutions", chapters_dir=tmp_path / "chapters", quiet=True)
    solution_line = "return np.maximum(x, 0) + np.maximum(-x, 0)"
    on = build_site(solutions=True, force=True, release_first=True, **paths)
    html = Path(on.html_dir)
    assert on.ok and on.warnings == 0
    assert solution_line in dict(site_texts(html))["chapters/98_fixture.html"]
    terms = searchindex_terms(html)      # the search index holds the visible code, not the hidden tests
    assert search_stem("fixture_abs") in terms and search_stem("fixture_hidden_rng") not in terms

    off = build_site(solutions=False, release_first=False, **paths)
    assert off.ok and not off.solutions and off.warnings == 0
    hits = [rel for rel, text in site_texts(html) if solution_line in text or "np.maximum(-x, 0)" in text]
    assert hits == [], f"solution code left on a no-solutions site: {hits}"
    page = _soup(html / "chapters" / "98_fixture.html")
    assert "raise NotImplementedError" in page.get_text() and not page.select("div.admonition.dropdown")
    state = json.loads((tmp_path / "_build" / "book-state.json").read_text())
    assert state["ok"] and state["solutions"] is False
    assert nbformat.read(html / "_sources" / "chapters" / "98_fixture.ipynb", as_version=4).cells
