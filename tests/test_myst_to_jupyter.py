"""The student notebooks' markdown in plain Jupyter Markdown (autograder/myst_to_jupyter.py).

Unit tests per construct (MyST in, expected Markdown out) against a small hand-made book context, then
checks over every committed chapters/NN_*.ipynb: no MyST syntax left in its markdown cells, and the
conversion changed nothing but markdown cells (cell count, order, types, ids, nbgrader metadata).
"""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path

import nbformat
import pytest

from autograder.myst_to_jupyter import (BookContext, Converter, MystConversionWarning, Reference, Statement,
                                        convert_markdown, load_bibliography, student_markdown)
from autograder.release import CHAPTERS_DIR, ROOT, SETUP_CELL, chapter_sources, read_source

COMMITTED = sorted(CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture
def ctx() -> BookContext:
    return BookContext(
        bibliography={
            "hendrycks2016gelu": Reference("Hendrycks & Gimpel", "Hendrycks & Gimpel", "2016",
                                           "https://doi.org/10.48550/arXiv.1606.08415"),
            "ramachandran2017swish": Reference("Ramachandran et al.", "Ramachandran, Zoph & Le", "2017", None),
        },
        doc_titles={"glossary": "Glossary", "chapters/01_vanishing": "01 Vanishing gradients"},
        section_titles={"sec-elsewhere": "A section in another chapter"},
        statements={"thm-00-abs": Statement("Theorem", 3, "Absolute value")},
    )


def conv(text: str, ctx: BookContext) -> str:
    out, problems = convert_markdown(textwrap.dedent(text).strip("\n"), context=ctx,
                                     docname="chapters/05_test")
    assert problems == [], problems
    return out


# ------------------------------------------------------------------------------------------ blocks


def test_dropdown_becomes_details_with_a_blank_line_after_the_summary(ctx):
    out = conv("""
        Before.

        ```{dropdown} Hint
        Use **numpy**: $x^2$.
        ```
        After.
        """, ctx)
    assert out == ("Before.\n\n<details>\n<summary>Hint</summary>\n\nUse **numpy**: $x^2$.\n\n</details>\n\n"
                   "After.")


def test_dropdown_title_markup_is_html_and_open_option_is_kept(ctx):
    out = conv("""
        :::{dropdown} The **hint** for `f` and $x$
        :open:

        Body.
        :::
        """, ctx)   # a colon fence: a backtick fence's info string cannot hold a backtick (CommonMark)
    assert out.startswith("<details open>\n<summary>The <b>hint</b> for <code>f</code> and $x$</summary>\n\n"
                          "Body.\n")
    assert ":open:" not in out


def test_colon_fence_admonition_becomes_a_blockquote_with_a_bold_label(ctx):
    out = conv("""
        :::{note}
        First paragraph.

        Second paragraph.
        :::
        """, ctx)
    assert out == "> **Note**\n>\n> First paragraph.\n>\n> Second paragraph."


@pytest.mark.parametrize("name,label", [("tip", "Tip"), ("warning", "Warning"), ("important", "Important")])
def test_plain_admonitions(ctx, name, label):
    assert conv(f"```{{{name}}}\nText.\n```", ctx) == f"> **{label}**\n>\n> Text."


def test_titled_and_togglable_admonitions(ctx):
    assert conv("```{admonition} Why it works\nText.\n```", ctx) == "> **Why it works**\n>\n> Text."
    out = conv("```{admonition} Answer\n:class: dropdown\n\nText.\n```", ctx)
    assert out == "<details>\n<summary>Answer</summary>\n\nText.\n\n</details>"
    out = conv("```{note}\n:class: dropdown\nText.\n```", ctx)
    assert out == "<details>\n<summary>Note</summary>\n\nText.\n\n</details>"


def test_nested_directives(ctx):
    out = conv("""
        ````{dropdown} Solution sketch
        ```{note}
        Inner {cite:p}`hendrycks2016gelu`.
        ```

        ```python
        x = 1  # {cite}`not_a_role_in_code`
        ```
        ````
        """, ctx)
    assert "<summary>Solution sketch</summary>\n\n> **Note**\n>\n> Inner " in out
    assert "([Hendrycks & Gimpel, 2016](https://doi.org/10.48550/arXiv.1606.08415))" in out
    assert "```python\nx = 1  # {cite}`not_a_role_in_code`\n```" in out, "code blocks are literal"


def test_theorems_are_numbered_per_kind_in_order_and_proofs_end_with_qed(ctx):
    out = conv("""
        ```{prf:theorem} Collapse
        :label: thm-a

        A stack of affine maps is affine.
        ```

        ```{prf:proof}
        By induction.
        ```

        ```{prf:definition}
        :label: def-a
        A map is *affine* if ...
        ```

        ```{prf:theorem} Second
        ---
        label: thm-b
        ---
        $$
        x = y
        $$
        ```

        ```{prf:proof}
        $$
        x = y
        $$
        ```

        See {prf:ref}`thm-b`, {prf:ref}`def-a` and {prf:ref}`thm-00-abs`.
        """, ctx)
    assert "**Theorem 1 (Collapse).** A stack of affine maps is affine." in out
    assert "*Proof.* By induction. ∎" in out
    assert "**Definition 1.** A map is *affine* if ..." in out
    assert "**Theorem 2 (Second).**\n\n$$\nx = y\n$$" in out, "display math cannot share the heading's line"
    assert "*Proof.*\n\n$$\nx = y\n$$\n\n∎" in out
    assert "See Theorem 2, Definition 1 and Theorem 3." in out
    assert ":label:" not in out and "---" not in out


def test_numbering_runs_over_the_whole_notebook(ctx):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Later: {prf:ref}`thm-second`."),
        nbformat.v4.new_markdown_cell("```{prf:theorem} One\nA.\n```"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("```{prf:theorem} Two\n:label: thm-second\nB.\n```"),
    ])
    out = student_markdown(nb, context=ctx)
    assert out.cells[0].source == "Later: Theorem 2."
    assert out.cells[1].source == "**Theorem 1 (One).** A."
    assert out.cells[3].source == "**Theorem 2 (Two).** B."


def test_unnumbered_statement_is_named_by_its_title(ctx):
    out = conv("```{prf:lemma} Helper\n:label: lem-h\n:nonumber:\nText.\n```\n\nBy {prf:ref}`lem-h`.", ctx)
    assert out == "**Lemma (Helper).** Text.\n\nBy Helper."


def test_math_and_code_directives(ctx):
    assert conv("```{math}\n:label: eq-a\nx^2\n```", ctx) == "$$\nx^2\n$$"
    assert conv("```{code-block} python\nprint(1)\n```", ctx) == "```python\nprint(1)\n```"


# ------------------------------------------------------------------------------------------ roles


def test_citations_author_year_linked_to_doi_else_plain(ctx):
    assert conv("GELU {cite:p}`hendrycks2016gelu`.", ctx) == (
        "GELU ([Hendrycks & Gimpel, 2016](https://doi.org/10.48550/arXiv.1606.08415)).")
    assert conv("{cite}`hendrycks2016gelu,ramachandran2017swish`", ctx) == (
        "([Hendrycks & Gimpel, 2016](https://doi.org/10.48550/arXiv.1606.08415); Ramachandran et al., 2017)")
    assert conv("{cite:t}`ramachandran2017swish` found", ctx) == "Ramachandran et al. (2017) found"
    assert conv("{cite:ts}`ramachandran2017swish`", ctx) == "Ramachandran, Zoph & Le (2017)"


def test_bibliography_from_references_bib():
    refs = load_bibliography(ROOT / "references.bib")
    assert refs["hendrycks2016gelu"].authors == "Hendrycks & Gimpel"
    assert refs["hendrycks2016gelu"].year == "2016"
    assert refs["ramachandran2017swish"].authors == "Ramachandran et al."
    montufar = next(r for r in refs.values() if r.authors.startswith("Mont"))
    assert montufar.authors == "Montúfar et al.", "LaTeX accents are decoded"
    for key, ref in refs.items():
        assert "{" not in ref.all_authors and "\\" not in ref.all_authors, key
        assert ref.link is None or (ref.link.startswith("http") and not re.search(r"[\s()]", ref.link)), key
    site = load_bibliography(ROOT / "references.bib", "https://example.org/book/bibliography.html")
    assert {r.link for r in site.values()} == {"https://example.org/book/bibliography.html"}


def test_references_resolve_to_plain_titles(ctx):
    text = """
        (sec-here)=
        ## Saturation, explained

        See {ref}`sec-here`, {ref}`sec-elsewhere`, {ref}`the start <sec-here>`, {doc}`../glossary`,
        {doc}`01_vanishing` and {numref}`Theorem %s <thm-00-abs>`.
        """
    out = conv(text, ctx)
    assert out == ("## Saturation, explained\n\nSee Saturation, explained, A section in another chapter, the start, "
                   "Glossary,\n01 Vanishing gradients and Theorem 3.")


def test_glue_roles_show_the_name_and_one_note_per_cell(ctx):
    out = conv("Accuracy {glue:text}`acc_relu` vs {glue:}`acc_lin` and {glue:text}`acc_relu:.2f`.", ctx)
    first, note = out.split("\n\n")
    assert first == "Accuracy `acc_relu` vs `acc_lin` and `acc_relu`."
    assert note.count("does not print") == 1 and "`acc_relu`, `acc_lin`" in note
    assert "{glue" not in out


def test_simple_roles_targets_and_comments(ctx):
    out = conv("""
        (lbl)=
        % a MyST comment
        A {term}`pre-activation`, {math}`\\sigma(x)`, H{sub}`2`O, {abbr}`LR (learning rate)`, `{cite}` in code.
        """, ctx)
    assert out == "A pre-activation, $\\sigma(x)$, H<sub>2</sub>O, LR (learning rate), `{cite}` in code."


def test_math_and_code_spans_are_untouched(ctx):
    text = "Let $f = \\{x\\}$ and $$g_{i}$$ with `code {x}` here."
    assert conv(text, ctx) == text


def test_substitutions_from_the_config(ctx):
    ctx.substitutions = {"version": "1.2"}
    assert conv("Version {{ version }}.", ctx) == "Version 1.2."


# ------------------------------------------------------------------------------------------ problems


def test_unknown_directive_keeps_its_text_and_warns_with_chapter_and_line(tmp_path, ctx):
    source = tmp_path / "42_demo.md"
    source.write_text("# 42 Demo\n\nIntro.\n\n```{margin} Aside\nKeep **this** text.\n```\n\nEnd {foo}`bar`.\n",
                      encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source.read_text().strip("\n"))])
    with pytest.warns(MystConversionWarning) as record:
        out = student_markdown(nb, source, context=ctx)
    messages = [str(r.message) for r in record]
    assert any("42_demo.md:5:" in m and "unknown directive {margin}" in m for m in messages), messages
    assert any("42_demo.md:9:" in m and "unknown role {foo}" in m for m in messages), messages
    assert "**Aside**" in out.cells[0].source and "Keep **this** text." in out.cells[0].source
    assert "End bar." in out.cells[0].source and "```" not in out.cells[0].source


def test_unknown_citation_and_label_warn(ctx):
    out, problems = convert_markdown("{cite:p}`nobody2099` and {ref}`nowhere`", context=ctx)
    assert out == "(nobody2099) and nowhere"
    assert len(problems) == 2 and "references.bib" in problems[0] and "no such label" in problems[1]


def test_conversion_is_idempotent(ctx):
    once = conv("```{dropdown} Hint\n{cite:p}`hendrycks2016gelu`\n```\n\n```{prf:proof}\nDone.\n```", ctx)
    assert conv(once, ctx) == once


# ------------------------------------------------------------------------------------------ the chapters

PLAIN_FENCE = re.compile(r"^(`{3,})(?![ \t]*\{)[^`\n]*\n.*?^\1`*[ \t]*$", re.M | re.S)  # ```python ... ```
#: left to right: a role, or a code span, or math (roles are found; code and math are skipped)
SCAN = re.compile(r"(?P<role>\{[A-Za-z][\w:.+-]*\}(`+).+?\2)|(`+).+?\3|\$\$.+?\$\$|\$[^$]+\$", re.S)
MYST = {
    "directive fence": re.compile(r"^\s*(`{3,}|:{3,})\s*\{", re.M),
    "colon fence": re.compile(r"^\s*:{3,}", re.M),
    "target": re.compile(r"^\s*\([^()\s]+\)=\s*$", re.M),
    "directive option": re.compile(r"^\s*:(label|class|open|name|nonumber|caption):", re.M),
    "substitution": re.compile(r"\{\{\s*[A-Za-z_][\w.-]*\s*\}\}"),
}


def myst_left(markdown: str) -> dict[str, list[str]]:
    """MyST syntax in a markdown cell, outside plain code blocks (and, for roles and substitutions, outside
    code spans and math)."""
    text = PLAIN_FENCE.sub("", markdown)
    found = {"role": [m["role"] for m in SCAN.finditer(text) if m["role"]]}
    inline = SCAN.sub(" ", text)
    found.update({what: rx.findall(inline if what == "substitution" else text) for what, rx in MYST.items()})
    return {what: hits for what, hits in found.items() if hits}


def test_the_myst_detector_detects_myst():
    assert set(myst_left("```{note}\n:class: x\n```\n:::{tip}\n:::\n(a)=\n{cite}`k` {{ s }}")) == set(MYST) | {"role"}
    assert myst_left("```python\n{cite}`k`\n```\n`{ref}`x`` and $\\{a\\}$") == {}


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_no_myst_left_in_a_chapter_notebook(path):
    nb = nbformat.read(path, as_version=4)
    problems = {i: left for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and (left := myst_left(c.source))}
    assert not problems, f"{path.name}: MyST syntax in markdown cells {problems}"
    details = sum(c.source.count("<details") for c in nb.cells if c.cell_type == "markdown")
    assert details == sum(c.source.count("</details>") for c in nb.cells if c.cell_type == "markdown")
    for c in nb.cells:
        if c.cell_type == "markdown":
            assert all("\n\n" in block for block in re.findall(r"</summary>\n*", c.source)), (
                f"{path.name}: a <summary> must be followed by a blank line")


def _shape(cells) -> list[tuple]:
    return [(c.cell_type, c.get("id"), c.metadata.get("nbgrader", {}).get("grade_id"),
             c.metadata.get("nbgrader", {}).get("solution"), c.metadata.get("nbgrader", {}).get("grade"),
             c.metadata.get("nbgrader", {}).get("points"), tuple(c.metadata.get("tags", [])))
            for c in cells]


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_conversion_changes_only_markdown_cells(path):
    """The chapter notebook has the source's cells (plus the setup cell), in order, with the same nbgrader
    metadata; the conversion itself returns the same cells with the same metadata and code."""
    source = ROOT / "solutions" / f"{path.stem}.md"
    if source not in chapter_sources():
        pytest.fail(f"{path.name} has no source solutions/{path.stem}.md")
    nb = read_source(source)
    converted = student_markdown(nb, source)
    assert len(converted.cells) == len(nb.cells)
    assert _shape(converted.cells) == _shape(nb.cells)
    for a, b in zip(nb.cells, converted.cells):
        assert a.metadata == b.metadata
        if a.cell_type != "markdown":
            assert a.source == b.source
    student = nbformat.read(path, as_version=4)
    cells = [c for c in student.cells if c.source != SETUP_CELL.format(url=_repo_url())]
    assert len(cells) == len(nb.cells) and len(student.cells) == len(nb.cells) + 1
    assert [(c.cell_type, c.metadata.get("nbgrader", {}).get("grade_id")) for c in cells] == \
           [(c.cell_type, c.metadata.get("nbgrader", {}).get("grade_id")) for c in converted.cells]
    for mine, theirs in zip(converted.cells, cells):
        if mine.cell_type == "markdown":
            assert theirs.source == mine.source, f"{path.name}: markdown cell differs from the conversion"


def _repo_url() -> str:
    from autograder.release import repository_url
    return repository_url()


def test_every_chapter_source_converts_without_warnings():
    context = BookContext.load()
    for source in chapter_sources():
        with warnings.catch_warnings():
            warnings.simplefilter("error", MystConversionWarning)
            conv_ = Converter(read_source(source), source=source, context=context)
            conv_.convert_cells()
        assert conv_.warnings == [], conv_.warnings


def test_chapter_theorem_numbers_match_the_site_numbering():
    """sphinx-proof numbers each kind separately within a page: chapter 00 has Theorems 1-4, one proposition
    and one corollary (the built site shows the same)."""
    source = ROOT / "solutions" / "00_why_activation.md"
    nb = student_markdown(read_source(source), source)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    heads = re.findall(r"\*\*(Theorem|Proposition|Corollary) (\d+)", text)
    assert [h for h in heads if h[0] == "Theorem"] == [("Theorem", str(i)) for i in range(1, 5)]
    assert ("Proposition", "1") in heads and ("Corollary", "1") in heads
    assert text.count("*Proof.*") == text.count("∎") >= 5
