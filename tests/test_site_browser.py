"""The built site in a real browser: Debian's chromium driven by Playwright, the site served on localhost.

Uses the strict build shared with tests/test_book.py (``autograder.site.ensure_built``). Checks every page:
no console error, no request to another host, math typeset by the local MathJax (no raw ``$$``), every
image loaded, no hidden test; then the previous/next chain in toc order, the search page, every internal
link and anchor, and the worked-solution toggles. A full-page screenshot of each page is kept in
``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from autograder.release import check_source
from autograder.site import OUT_DIR, chapter_slug, ensure_built, secret_snippets, stage, toc_entries

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ENTRIES = toc_entries()
PAGES = ENTRIES + ["search", "genindex"]
SCREENSHOTS = OUT_DIR / "screenshots"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    return ensure_built()


@pytest.fixture(scope="module")
def server(site):
    """The built site on http://127.0.0.1:<free port>/."""
    handler = functools.partial(_QuietHandler, directory=site.html_dir)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` (apt-get install chromium) installs it")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def secrets(site):
    """Per chapter, the hidden-test lines (and without solutions, the solution lines) never to be shown."""
    book = stage(solutions=site.solutions)
    return {slug: secret_snippets(check_source(src), book.pages[slug], solutions=site.solutions)
            for slug, src in book.chapters.items()}


class Visit:
    """One page load with everything the page did: console messages, errors, requests, failures."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.console, self.errors, self.requests, self.failed = [], [], [], []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.goto(url, wait_until="networkidle")
        if self.page.evaluate("typeof window.MathJax !== 'undefined' && !!window.MathJax.startup"):
            self.page.evaluate("window.MathJax.startup.promise")
        self.page.wait_for_load_state("networkidle")

    def close(self):
        self.page.close()


def _page_url(server: str, entry: str) -> str:
    return f"{server}{entry}.html"


@pytest.mark.parametrize("entry", PAGES)
def test_page_loads_cleanly(entry, browser, server, secrets):
    visit = Visit(browser, _page_url(server, entry))
    try:
        page = visit.page
        errors = [text for kind, text in visit.console if kind == "error"] + visit.errors
        assert errors == [], f"{entry}: console errors {errors}"
        assert visit.failed == [], f"{entry}: failed requests {visit.failed}"
        foreign = [u for u in visit.requests if not u.startswith(server) and not u.startswith("data:")]
        assert foreign == [], f"{entry}: requests to another host {foreign}"

        # math: every math node typeset by MathJax, no raw TeX delimiters left in the text
        math = page.evaluate("document.querySelectorAll('.math, div.math, span.math').length")
        typeset = page.evaluate(
            "Array.from(document.querySelectorAll('.math')).filter(e => e.querySelector('mjx-container')).length")
        assert typeset == math, f"{entry}: {math - typeset} of {math} math nodes not typeset"
        text = page.evaluate("""() => {
            const body = document.querySelector('main') || document.body;
            const copy = body.cloneNode(true);
            copy.querySelectorAll('pre, code, script, style, .highlight, mjx-container').forEach(e => e.remove());
            return copy.textContent;
        }""")
        for raw in ("$$", "\\(", "\\[", "\\begin{"):
            assert raw not in text, f"{entry}: raw TeX {raw!r} left on the page"

        # images: every <img> decoded with a real size
        broken = page.evaluate("""Array.from(document.images)
            .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))""")
        assert broken == [], f"{entry}: images that did not load {broken}"

        # hidden tests: no marker, no hidden line, anywhere in the DOM or its text
        html = page.content()
        inner = page.evaluate("document.body.innerText")
        assert "HIDDEN TESTS" not in html and "BEGIN SOLUTION" not in html
        slug = chapter_slug(entry)
        for line in secrets.get(slug, {}):
            assert line not in re.sub(r"\s+", " ", inner) and line not in html, f"{entry}: leaked {line!r}"

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{entry.replace('/', '__')}.png"), full_page=True)
    finally:
        visit.close()


def test_previous_next_navigation_follows_the_toc(browser, server):
    page = browser.new_page()
    try:
        page.goto(_page_url(server, ENTRIES[0]))
        visited = [ENTRIES[0]]
        while page.locator("a.right-next").count():
            page.locator("a.right-next").first.click()
            page.wait_for_load_state("load")
            visited.append(urlparse(page.url).path.lstrip("/").removesuffix(".html"))
            assert len(visited) <= len(ENTRIES), f"next-links loop: {visited}"
        assert visited == ENTRIES
        back = [visited[-1]]
        while page.locator("a.left-prev").count():
            page.locator("a.left-prev").first.click()
            page.wait_for_load_state("load")
            back.append(urlparse(page.url).path.lstrip("/").removesuffix(".html"))
            assert len(back) <= len(ENTRIES)
        assert back == ENTRIES[::-1]
        # the Chinese section title sits under the English one in the navigation (_static/book.js)
        page.goto(_page_url(server, ENTRIES[0]))
        assert page.locator(".bd-sidenav .zh-title").count() >= 2
    finally:
        page.close()


def test_search_finds_sigmoid(browser, server):
    page = browser.new_page()
    try:
        page.goto(f"{server}search.html?q=sigmoid", wait_until="networkidle")
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=15000)
        hrefs = [results.nth(i).locator("a").first.get_attribute("href") for i in range(results.count())]
        assert any("glossary" in h for h in hrefs), hrefs
    finally:
        page.close()


def test_every_internal_link_resolves(browser, server):
    """Every link to this site, from every page, reaches a page that exists and holds its #anchor."""
    page = browser.new_page()
    targets: dict[str, set] = {}
    try:
        for entry in PAGES:
            page.goto(_page_url(server, entry))
            hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            for href in hrefs:
                if href.startswith(server):
                    url, fragment = urldefrag(href)
                    targets.setdefault(url, set()).add((fragment, entry))
        assert len(targets) >= len(ENTRIES)
        problems = []
        for url, uses in sorted(targets.items()):
            response = page.request.get(url)
            if response.status != 200:
                problems.append(f"{url} -> {response.status} (linked from {sorted({e for _, e in uses})})")
                continue
            if not url.endswith(".html") and not url.endswith("/"):
                continue
            body = response.text()
            ids = set(re.findall(r'\bid="([^"]+)"', body)) | set(re.findall(r'\bname="([^"]+)"', body))
            for fragment, entry in uses:
                if fragment and unquote(fragment) not in ids:
                    problems.append(f"{url}#{fragment} has no such anchor (linked from {entry})")
        assert problems == []
    finally:
        page.close()


@pytest.mark.parametrize("slug", [chapter_slug(e) for e in ENTRIES if chapter_slug(e)])
def test_worked_solution_toggles_open(slug, browser, server, site):
    """A worked solution starts collapsed and opens on click (or is absent without solutions)."""
    page = browser.new_page()
    try:
        page.goto(f"{server}chapters/{slug}.html", wait_until="networkidle")
        toggles = page.locator("div.admonition.dropdown", has_text="Worked solution")
        if not site.solutions:
            assert toggles.count() == 0
            return
        assert toggles.count() >= 1
        first = toggles.first
        code = first.locator("div.highlight")
        assert not code.is_visible(), "a worked solution is shown before the reader asks for it"
        first.locator("button.toggle-button").click()
        code.wait_for(state="visible", timeout=5000)
        assert "def " in code.inner_text() or code.inner_text().strip()
    finally:
        page.close()
