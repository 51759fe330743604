"""MyST-only syntax in the student notebooks' markdown cells, rewritten as Markdown that Jupyter and Colab render.

The chapter sources (``solutions/NN_slug.md``) are MyST Markdown; the website keeps it. A student notebook
(``chapters/NN_slug.ipynb``, made by ``release.generate_assignments``) is read in plain Jupyter or Colab,
which show MyST directives and roles as raw text, so its markdown cells are rewritten here first:

=============================================  ==========================================================
MyST                                           in the student notebook
=============================================  ==========================================================
```` ```{dropdown} Title ````, ``{toggle}``,   ``<details><summary>Title</summary>`` + a blank line (so the
an admonition with ``:class: dropdown``        Markdown inside renders) + body + ``</details>``
``{note}``, ``{tip}``, ``{warning}``, ...,     a blockquote opened by a bold label: ``> **Note**``
``{admonition} Title``
``{prf:theorem} Title`` (lemma, definition,    ``**Theorem 2 (Title).** body``, numbered per kind in
proposition, corollary, ...)                   order within the chapter, as sphinx-proof numbers them
``{prf:proof}``                                ``*Proof.* body ∎``
``{math}``, ``{code-block}``, ``{figure}``      ``$$ ... $$``, a fenced code block, an image and caption
{cite:p}`k1,k2` / {cite}`k` / {cite:t}`k`      ``(Hendrycks & Gimpel, 2016; ...)`` / ``Hendrycks & Gimpel
                                               (2016)`` from references.bib, each linked to the site's
                                               bibliography page when _config.yml names the site
                                               (``html.baseurl``), else to the entry's DOI or URL, else
                                               unlinked
{prf:ref}`label`, {numref}, {ref}, {doc}       plain text: ``Theorem 2``, the section's heading (the
                                               one after ``(label)=``), the page's title
{glue:text}`name` (a number computed when      ```name``` in a code span, and one note per cell saying
the book is built)                             where the value comes from (the notebook does not show it:
                                               ``actlab.experiments.glue`` records it for the book only)
{math}`x` / {term}`x` / other roles            ``$x$`` / ``x`` / their content
``(label)=`` targets, ``% comments``           removed
``{{ name }}`` substitutions                   the value from ``parse.myst_substitutions`` in _config.yml
=============================================  ==========================================================

What cannot be converted (an unknown directive or role, an unknown citation key or label) keeps its text and
is reported as a :class:`MystConversionWarning` naming the chapter source and line, never dropped silently.
Only markdown cells change: cell count, order, ids, metadata (nbgrader's included) and code cells are kept.
"""

from __future__ import annotations

import codecs
import copy
import functools
import html
import posixpath
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import latexcodec  # noqa: F401  (registers the "ulatex" codec used to decode BibTeX names)

if TYPE_CHECKING:
    from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]


class MystConversionWarning(UserWarning):
    """MyST syntax that the student notebook cannot show as intended (its text is kept)."""


# --------------------------------------------------------------------------------------------------
# block structure: fences (directives, code) and text lines

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[A-Za-z][\w:.+-]*)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
COMMENT = re.compile(r"^%")
HEADING = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
#: Directives whose body is literal (not Markdown): never parsed for nested directives or roles.
LITERAL = {"code-cell", "code-block", "code", "sourcecode", "math", "raw"}


@dataclass
class Text:
    lines: list[str]
    line: int                    # 1-based line of lines[0] within the cell


@dataclass
class Fence:
    """A fenced block: a directive (``name``) or plain code (``name`` is None, ``raw`` holds it all)."""
    name: str | None
    arg: str
    options: dict
    body: list                   # parsed nodes (directives) or literal lines (LITERAL directives)
    raw: list[str]
    line: int
    indent: str = ""


def parse(lines: list[str], first_line: int = 1) -> list:
    """Split Markdown lines into Text runs and Fence blocks (directives parsed recursively)."""
    nodes: list = []
    run: list[str] = []
    run_start = first_line
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or (m["fence"][0] == "`" and "`" in m["info"]):
            if not run:
                run_start = first_line + i
            run.append(lines[i])
            i += 1
            continue
        if run:
            nodes.append(Text(run, run_start))
            run = []
        indent, fence = m["indent"], m["fence"]
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        inner = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:j]]
        raw = lines[i:j + 1]
        d = DIRECTIVE.match(m["info"].strip())
        if d is None:
            nodes.append(Fence(None, m["info"].strip(), {}, inner, raw, first_line + i, indent))
        else:
            name = d["name"]
            options, body_start = _options(inner) if name != "code-cell" else ({}, 0)
            body = inner[body_start:]
            nodes.append(Fence(name, d["arg"].strip(), options,
                               body if name in LITERAL else parse(body, first_line + i + 1 + body_start),
                               raw, first_line + i, indent))
        i = j + 1
    if run:
        nodes.append(Text(run, run_start))
    return nodes


def _options(inner: list[str]) -> tuple[dict, int]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and where its body starts."""
    if inner and inner[0].strip() == "---":
        end = next((k for k in range(1, len(inner)) if inner[k].strip() == "---"), None)
        if end is not None:
            import yaml
            try:
                opts = yaml.safe_load("\n".join(inner[1:end])) or {}
            except yaml.YAMLError:
                opts = None
            if isinstance(opts, dict):
                return {str(k): "" if v is None else v for k, v in opts.items()}, end + 1
    opts, k = {}, 0
    while k < len(inner) and (m := OPTION.match(inner[k].strip())) and inner[k].strip():
        opts[m["key"]] = m["value"].strip()
        k += 1
    if k and k < len(inner) and not inner[k].strip():
        k += 1                   # the blank line that may separate options from the body
    return opts, k


def walk(nodes: list):
    """Every Fence in ``nodes``, in document order, nested ones included."""
    for node in nodes:
        if isinstance(node, Fence):
            yield node
            if node.name is not None and node.name not in LITERAL:
                yield from walk(node.body)


# --------------------------------------------------------------------------------------------------
# what references resolve against: the bibliography, the toc, theorem numbers and section labels

#: sphinx-proof's directives and the name it prints; each kind is numbered on its own within a page.
PRF_KINDS = {k: k.capitalize() for k in (
    "theorem", "lemma", "corollary", "definition", "proposition", "conjecture", "remark", "example",
    "axiom", "criterion", "observation", "property", "assumption", "notation", "algorithm")}
PRF_KINDS["proof"] = "Proof"


@dataclass(frozen=True)
class Reference:
    authors: str           # "Hendrycks & Gimpel", "Ramachandran et al."
    all_authors: str       # every author: "Ramachandran, Zoph & Le"
    year: str
    link: str | None


@dataclass(frozen=True)
class Statement:
    """A numbered sphinx-proof block: ``Theorem 2``."""
    kind: str
    number: int | None
    title: str

    @property
    def name(self) -> str:
        if self.number is None:
            return self.title or self.kind
        return f"{self.kind} {self.number}"


def number_statements(nodes: list) -> list[tuple[Fence, Statement]]:
    """sphinx-proof's numbering: per kind, in order, ``:nonumber:`` blocks and proofs left out."""
    counters: dict[str, int] = {}
    out = []
    for f in walk(nodes):
        if not f.name or not f.name.startswith("prf:"):
            continue
        kind = f.name.split(":", 1)[1]
        if kind not in PRF_KINDS:
            continue
        number = None
        if kind != "proof" and "nonumber" not in f.options:
            counters[kind] = counters.get(kind, 0) + 1
            number = counters[kind]
        out.append((f, Statement(PRF_KINDS[kind], number, f.arg)))
    return out


def section_labels(lines: list[str]) -> dict[str, str]:
    """{label: heading text} for every ``(label)=`` target followed by a heading."""
    labels: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = TARGET.match(line)
        if not m:
            continue
        nxt = next((ln for ln in lines[i + 1:] if ln.strip() and not TARGET.match(ln)), "")
        h = HEADING.match(nxt)
        if h:
            labels[m["label"]] = h["title"]
    return labels


def _latex_text(s: str) -> str:
    try:
        s = codecs.decode(s, "ulatex")
    except Exception:  # noqa: BLE001 - a name latexcodec cannot decode is shown as written
        pass
    return s.replace("{", "").replace("}", "").replace("~", " ").strip()


def _names(people) -> list[str]:
    return [_latex_text(" ".join(p.prelast_names + p.last_names) or str(p)) for p in people]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " & " + names[-1]


def load_bibliography(path: Path, site_bibliography: str | None = None) -> dict[str, Reference]:
    """{key: Reference} from a BibTeX file, parsed with pybtex."""
    from pybtex.database import parse_file

    refs = {}
    for key, entry in parse_file(str(path), bib_format="bibtex").entries.items():
        names = _names(entry.persons.get("author") or entry.persons.get("editor") or [])
        if not names:
            names = [_latex_text(entry.fields.get("organization") or entry.fields.get("title") or key)]
        short = names[0] + " et al." if len(names) > 2 else _join(names)
        year = entry.fields.get("year") or str(entry.fields.get("date", ""))[:4] or "n.d."
        link = site_bibliography
        if link is None and entry.fields.get("doi"):
            link = "https://doi.org/" + entry.fields["doi"].strip()
        if link is None and entry.fields.get("url"):
            link = entry.fields["url"].strip()
        if link is not None:       # parentheses and spaces would end a Markdown link destination
            link = link.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        refs[key] = Reference(short, _join(names), year, link)
    return refs


@dataclass
class BookContext:
    """What references resolve against, read from the repository (see :meth:`load`)."""
    bibliography: dict[str, Reference] = field(default_factory=dict)
    doc_titles: dict[str, str] = field(default_factory=dict)        # docname -> page title
    section_titles: dict[str, str] = field(default_factory=dict)    # (label)= -> heading, every page
    statements: dict[str, Statement] = field(default_factory=dict)  # :label: -> Theorem 2, every chapter
    substitutions: dict[str, str] = field(default_factory=dict)
    site_url: str | None = None

    @classmethod
    def load(cls, root: Path | str = ROOT) -> "BookContext":
        """Read _config.yml, _toc.yml, references.bib and every page source under ``root`` (cached until one
        of them changes)."""
        root = Path(root)
        files = [root / "_config.yml", root / "_toc.yml", root / "references.bib",
                 *sorted(root.glob("*.md")), *sorted((root / "solutions").glob("[0-9][0-9]_*.md"))]
        stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files if f.is_file())
        return copy.deepcopy(_load_context(str(root), stamp))


@functools.lru_cache(maxsize=4)
def _load_context(root_str: str, stamp: tuple) -> BookContext:
    import yaml

    root = Path(root_str)
    config_path, toc_path = root / "_config.yml", root / "_toc.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config = config or {}
    site = ((config.get("html") or {}).get("baseurl")
            or ((config.get("sphinx") or {}).get("config") or {}).get("html_baseurl"))
    ctx = BookContext(site_url=site.rstrip("/") if site else None)
    ctx.substitutions = {str(k): str(v) for k, v in
                         ((config.get("parse") or {}).get("myst_substitutions") or {}).items()}

    toc_titles: dict[str, str] = {}
    if toc_path.is_file():
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
        toc_titles[str(toc.get("root", "intro"))] = ""

        def visit(items):
            for item in items or []:
                if isinstance(item, dict):
                    if "file" in item:
                        toc_titles[str(item["file"])] = str(item.get("title") or "")
                    for key in ("parts", "chapters", "sections"):
                        visit(item.get(key))
        visit(toc.get("parts"))
        visit(toc.get("chapters"))
    bib_doc = next((d for d in toc_titles if posixpath.basename(d) == "bibliography"), None)
    bib_page = f"{ctx.site_url}/{bib_doc}.html" if ctx.site_url and bib_doc else None
    if (root / "references.bib").is_file():
        ctx.bibliography = load_bibliography(root / "references.bib", bib_page)

    for chapter in sorted((root / "solutions").glob("[0-9][0-9]_*.md")):    # chapters not in the toc yet too
        toc_titles.setdefault(f"chapters/{chapter.stem}", "")
    for doc, toc_title in toc_titles.items():
        path = _doc_source(root, doc)
        lines = path.read_text(encoding="utf-8").split("\n") if path else []
        nodes = parse(lines)
        text = [ln for n in nodes if isinstance(n, Text) for ln in n.lines]
        # a page's title is its first heading (what Sphinx shows for {doc}); the toc title otherwise
        first = next((HEADING.match(ln)["title"] for ln in text if HEADING.match(ln)
                      and len(HEADING.match(ln)["hashes"]) == 1), None)
        ctx.doc_titles[doc] = first or toc_title or doc
        ctx.section_titles.update(section_labels(text))
        for fence, statement in number_statements(nodes):
            if fence.options.get("label"):
                ctx.statements[str(fence.options["label"])] = statement
    return ctx


def _doc_source(root: Path, doc: str) -> Path | None:
    """The source of a toc page: a chapter's is its solutions/NN_slug.md, the others are at the root."""
    candidates = [root / "solutions" / f"{posixpath.basename(doc)}.md"] if doc.startswith("chapters/") else []
    candidates += [root / f"{doc}.md", root / f"{doc}.ipynb"]
    return next((p for p in candidates if p.is_file() and p.suffix == ".md"), None)


# --------------------------------------------------------------------------------------------------
# inline syntax

INLINE = re.compile(
    r"(?P<role>\{(?P<rname>[A-Za-z][\w:.+-]*)\}(?P<rtick>`+)(?P<rbody>.+?)(?P=rtick))"
    r"|(?P<code>(?P<tick>`+).+?(?P=tick))"
    r"|(?P<math>\$\$.+?\$\$|(?<![\\$])\$(?!\s)[^$]+?(?<![\\\s])\$)"
    r"|(?P<subst>\{\{\s*(?P<sname>[A-Za-z_][\w.-]*)\s*\}\})",
    re.S)
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
#: Roles that only mark up their text: shown as the text (explicit-title form: its title).
PLAIN_ROLES = {"term", "abbr", "index", "dfn", "guilabel", "menuselection", "download", "any", "file",
               "command", "program"}
HTML_ROLES = {"sub": "sub", "sup": "sup", "kbd": "kbd"}
CODE_ROLES = {"code", "samp", "literal"}
CITE_ROLES = {"cite", "cite:p", "cite:ps", "cite:t", "cite:ts", "cite:alp", "cite:alps", "cite:author",
              "cite:authors", "cite:year", "cite:yearpar", "cite:label", "cite:labelpar"}
GLUE_ROLES = {"glue", "glue:", "glue:text", "glue:md", "glue:any"}

GLUE_NOTE = ("*{subject} that this chapter's code cells compute and the book fills in when it is built. This "
             "notebook does not print {obj} (`glue(name, value)` records a value for the book only): run those "
             "cells and look at the value given to `glue`, or read the chapter's page in the book.*")


# --------------------------------------------------------------------------------------------------
# the converter


class Converter:
    """Converts the markdown cells of one chapter notebook."""

    def __init__(self, nb: NotebookNode, *, source: Path | str | None = None,
                 context: BookContext | None = None, docname: str | None = None):
        self.source = Path(source) if source is not None else None
        self.chapter = _display(self.source) if self.source else "notebook"
        stem = self.source.stem if self.source else "notebook"
        self.docname = docname or f"chapters/{stem}"
        self.ctx = context if context is not None else BookContext.load()
        self.warnings: list[str] = []
        self.cells = [c for c in nb.cells if c.cell_type == "markdown"]
        self.starts = _cell_lines(self.cells, self.source)
        self.parsed = [parse(c.source.split("\n")) for c in self.cells]
        # this chapter's numbering and labels override the book-wide index (they are what is converted)
        self.numbers: dict[int, Statement] = {}
        self.statements = dict(self.ctx.statements)
        self.sections = dict(self.ctx.section_titles)
        all_nodes = [n for nodes in self.parsed for n in nodes]
        for fence, st in number_statements(all_nodes):
            self.numbers[id(fence)] = st
            if fence.options.get("label"):
                self.statements[str(fence.options["label"])] = st
        for cell in self.cells:
            self.sections.update(section_labels(cell.source.split("\n")))

    # ------------------------------------------------------------------ entry points
    def convert(self, nb: NotebookNode) -> NotebookNode:
        """A copy of ``nb`` with its markdown cells converted (the cells given to the constructor)."""
        out = copy.deepcopy(nb)
        converted = iter(self.convert_cells())
        for cell in out.cells:
            if cell.cell_type == "markdown":
                cell.source = next(converted)
        return out

    def convert_cells(self) -> list[str]:
        return [self._cell(nodes, start) for nodes, start in zip(self.parsed, self.starts)]

    # ------------------------------------------------------------------ blocks
    def _cell(self, nodes: list, start: int) -> str:
        self._start, self._glued = start, []
        text = "\n".join(_squeeze(self._blocks(nodes))).strip("\n")
        if self._glued:
            names = list(dict.fromkeys(self._glued))
            subject = (f"`{names[0]}` stands for a number" if len(names) == 1 else
                       f"The names in code font ({', '.join(f'`{n}`' for n in names[:2])}"
                       f"{', ...' if len(names) > 2 else ''}) stand for numbers")
            text += "\n\n" + GLUE_NOTE.format(subject=subject, obj="it" if len(names) == 1 else "them")
        return text

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.chapter}:{self._start + line - 1}: {message}")

    def _blocks(self, nodes: list) -> list[str]:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, Text):
                out += self._text(node)
            elif node.name is None:
                if node.raw[0].lstrip().startswith(":"):
                    self._warn(node.line, f"a ':::' fence without a directive name ({node.arg!r}): "
                               "kept its content as plain Markdown")
                    out += [node.indent + ln for ln in self._blocks(parse(node.body, node.line + 1))]
                else:
                    out += node.raw       # a plain code block: literal
            else:
                out += [node.indent + ln if ln else ln for ln in self._directive(node)]
        return out

    def _text(self, node: Text) -> list[str]:
        kept = [(node.line + k, ln) for k, ln in enumerate(node.lines)
                if not TARGET.match(ln) and not COMMENT.match(ln)]
        if not kept:
            return []
        joined = "\n".join(ln for _, ln in kept)
        starts, pos = [], 0
        for lineno, ln in kept:
            starts.append((pos, lineno))
            pos += len(ln) + 1
        return self._inline(joined, lambda offset: max(n for p, n in starts if p <= offset)).split("\n")

    def _directive(self, f: Fence) -> list[str]:
        name = f.name
        if name in ("dropdown", "toggle"):
            title = f.arg or ("Show" if name == "toggle" else "")
            return self._details(title, f.body, "open" in f.options, f.line)
        if name in ADMONITIONS or name == "admonition":
            title = f.arg if name == "admonition" else ADMONITIONS[name]
            body = f.body
            if name != "admonition" and f.arg:            # MyST: a note's argument opens its body
                body = [Text([f.arg], f.line)] + body
            if "dropdown" in str(f.options.get("class", "")).split():
                return self._details(title, body, "open" in f.options, f.line)
            return self._blockquote(title, body, f.line)
        if name.startswith("prf:") and name.split(":", 1)[1] in PRF_KINDS:
            return self._statement(f)
        if name == "math":
            return ["", "$$", *f.body, "$$", ""]
        if name in ("code-block", "code", "sourcecode"):
            fence = "`" * max(3, 1 + max((len(m) for ln in f.body for m in re.findall(r"`{3,}", ln)),
                                         default=0))
            caption = [f"*{self._inline(str(f.options['caption']), lambda _: f.line)}*", ""] \
                if f.options.get("caption") else []
            return ["", *caption, fence + f.arg, *f.body, fence, ""]
        if name in ("figure", "image"):
            alt = str(f.options.get("alt", ""))
            caption = self._blocks(f.body)
            return ["", f"![{alt}]({f.arg})", "", *(["*" + " ".join(c for c in caption if c.strip()) + "*"]
                                                    if any(c.strip() for c in caption) else []), ""]
        self._warn(f.line, f"unknown directive {{{name}}}: kept its title and body as plain Markdown")
        title = self._inline(f.arg, lambda _: f.line)
        return ["", *([f"**{title}**", ""] if title else []), *self._blocks(f.body), ""]

    def _details(self, title: str, body: list, is_open: bool, line: int) -> list[str]:
        summary = _summary_html(self._inline(title, lambda _: line)) if title else "Details"
        return ["", f"<details{' open' if is_open else ''}>", f"<summary>{summary}</summary>", "",
                *self._blocks(body), "", "</details>", ""]

    def _blockquote(self, title: str, body: list, line: int) -> list[str]:
        inner = [f"**{self._inline(title, lambda _: line)}**", "", *self._blocks(body)]
        while inner and not inner[-1].strip():
            inner.pop()
        return ["", *[f"> {ln}" if ln.strip() else ">" for ln in inner], ""]

    def _statement(self, f: Fence) -> list[str]:
        st = self.numbers[id(f)]
        body = self._blocks(f.body)
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        if f.name == "prf:proof":
            head = "*Proof.*"
            if body and _is_paragraph_line(body[-1]):
                body[-1] += " ∎"
            else:
                body += ["", "∎"]
        else:
            title = self._inline(st.title, lambda _: f.line)
            label = st.kind if st.number is None else f"{st.kind} {st.number}"
            head = f"**{label}{f' ({title})' if title else ''}.**"
        if body and _is_paragraph_line(body[0]):
            body[0] = f"{head} {body[0]}"
        else:
            body = [head, "", *body]
        return ["", *body, ""]

    # ------------------------------------------------------------------ inline
    def _inline(self, text: str, line_of) -> str:
        def repl(m: re.Match) -> str:
            if m["role"]:
                return self._role(m["rname"], m["rbody"], line_of(m.start()))
            if m["subst"]:
                if m["sname"] in self.ctx.substitutions:
                    return self.ctx.substitutions[m["sname"]]
                self._warn(line_of(m.start()), f"unknown substitution {{{{ {m['sname']} }}}}: kept as text")
                return f"`{m['sname']}`"
            return m.group(0)      # code spans and math stay as they are
        return INLINE.sub(repl, text)

    def _role(self, name: str, body: str, line: int) -> str:
        explicit = EXPLICIT.match(body)
        text, target = (explicit["text"], explicit["target"]) if explicit and explicit["text"] else (None, body)
        if name == "math":
            return f"${body}$"
        if name in CITE_ROLES:
            return self._cite(name, body, line)
        if name in GLUE_ROLES:
            glued = body.split(":", 1)[0].strip()
            self._glued.append(glued)
            return f"`{glued}`"
        if name in ("prf:ref", "ref", "numref"):
            return self._ref(name, text, target.strip(), line)
        if name == "doc":
            return text or self._doc(target.strip(), line)
        if name in HTML_ROLES:
            return f"<{HTML_ROLES[name]}>{html.escape(body)}</{HTML_ROLES[name]}>"
        if name in CODE_ROLES:
            return f"`{body}`"
        if name in PLAIN_ROLES:
            return text or target
        self._warn(line, f"unknown role {{{name}}}: kept its content {body!r}")
        return text or body

    def _ref(self, name: str, text: str | None, label: str, line: int) -> str:
        st = self.statements.get(label)
        if name == "numref" and text and st is not None:
            return text.replace("%s", str(st.number or "")).replace("{number}", str(st.number or ""))
        if text:
            return text
        if st is not None:
            return st.name
        if label in self.sections:
            return self._inline(self.sections[label], lambda _: line)
        self._warn(line, f"{{{name}}}`{label}`: no such label in the book; kept the label as text")
        return label

    def _doc(self, target: str, line: int) -> str:
        doc = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join(posixpath.dirname(self.docname), target))
        doc = re.sub(r"\.(md|ipynb)$", "", doc)
        if doc in self.ctx.doc_titles:
            return self._inline(self.ctx.doc_titles[doc], lambda _: line)
        self._warn(line, f"{{doc}}`{target}`: no page {doc!r} in _toc.yml; kept the name as text")
        return posixpath.basename(doc)

    def _cite(self, name: str, body: str, line: int) -> str:
        keys = [k.strip() for k in body.split(",") if k.strip()]
        items = []
        for key in keys:
            ref = self.ctx.bibliography.get(key)
            if ref is None:
                self._warn(line, f"{{{name}}}`{key}`: not in references.bib; kept the key as text")
                items.append((key, None, None))
            else:
                items.append((ref.all_authors if name in ("cite:ps", "cite:ts", "cite:authors", "cite:alps")
                              else ref.authors, ref.year, ref.link))
        link = lambda s, url: f"[{s}]({url})" if url else s  # noqa: E731
        show = lambda a, y: a if y is None else f"{a}, {y}"  # noqa: E731
        kind = name.split(":", 1)[1] if ":" in name else "p"
        if kind in ("t", "ts"):
            return ", ".join(link(a if y is None else f"{a} ({y})", u) for a, y, u in items)
        if kind in ("author", "authors"):
            return ", ".join(link(a, u) for a, y, u in items)
        if kind in ("year", "yearpar"):
            inner = ", ".join(link(y or a, u) for a, y, u in items)
            return f"({inner})" if kind == "yearpar" else inner
        if kind in ("alp", "alps", "label"):
            return "; ".join(link(show(a, y), u) for a, y, u in items)
        return "(" + "; ".join(link(show(a, y), u) for a, y, u in items) + ")"


ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
               "seealso": "See also"}


def _squeeze(lines: list[str]) -> list[str]:
    """Runs of blank lines (left by removed blocks) cut to one, except inside code fences."""
    out: list[str] = []
    close = None
    for line in lines:
        if close is not None:
            if close.match(line):
                close = None
        elif (m := FENCE.match(line)) and m["fence"][0] == "`":
            close = re.compile(rf"^[ \t]*`{{{len(m['fence'])},}}\s*$")
        elif not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out


def _is_paragraph_line(line: str) -> bool:
    """A line of running text (not math, a list, a heading, a table, a fence, a quote or HTML)."""
    s = line.strip()
    return bool(s) and not re.match(r"^(\$\$|[-*+] |\d+[.)] |#|\||`{3}|:{3}|>|<)", s)


def _summary_html(text: str) -> str:
    """Inline Markdown of a title, as HTML (a <summary> is an HTML block: Markdown inside is not parsed)."""
    parts = re.split(r"(`[^`]+`|\$[^$]+\$)", text)
    out = []
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) > 1:
            out.append(f"<code>{html.escape(p[1:-1])}</code>")
        elif p.startswith("$") and p.endswith("$") and len(p) > 1:
            out.append(html.escape(p, quote=False))          # MathJax typesets it in place
        else:
            p = html.escape(p, quote=False)
            p = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", p)
            p = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", p)
            p = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', p)
            out.append(p)
    return "".join(out)


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _cell_lines(cells: list, source: Path | None) -> list[int]:
    """The line in ``source`` where each markdown cell starts (1 where the source cannot be searched)."""
    if source is None or not Path(source).is_file():
        return [1] * len(cells)
    text = Path(source).read_text(encoding="utf-8")
    starts, cursor = [], 0
    for cell in cells:
        pos = text.find(cell.source, cursor) if cell.source else -1
        if pos < 0:
            starts.append(text.count("\n", 0, cursor) + 1)
            continue
        starts.append(text.count("\n", 0, pos) + 1)
        cursor = pos + len(cell.source)
    return starts


# --------------------------------------------------------------------------------------------------
# public API


def convert_markdown(text: str, *, context: BookContext | None = None, source: Path | str | None = None,
                     docname: str | None = None) -> tuple[str, list[str]]:
    """One markdown text (a cell) converted: (text, warnings)."""
    from nbformat.v4 import new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell(text)])
    conv = Converter(nb, source=source, context=context, docname=docname)
    return conv.convert_cells()[0], conv.warnings


def student_markdown(nb: NotebookNode, source: Path | str | None = None, *,
                     context: BookContext | None = None, warn: bool = True) -> NotebookNode:
    """A copy of ``nb`` with every markdown cell in Jupyter-renderable Markdown (only those cells change).

    Args:
        nb: a chapter notebook as read by ``release.read_source``.
        source: its ``solutions/NN_slug.md`` (names the chapter and the lines in warnings).
        context: what references resolve against; default: read from the repository.
        warn: issue each problem as a :class:`MystConversionWarning`.
    """
    conv = Converter(nb, source=source, context=context)
    out = conv.convert(nb)
    if warn:
        for message in conv.warnings:
            warnings.warn(message, MystConversionWarning, stacklevel=2)
    return out
