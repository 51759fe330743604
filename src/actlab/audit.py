"""The claim audit of the whole source on one page (the capstone): collected from the chapter sources, not
retyped.

Every chapter lists the source's claims as bullets ``- **C1** ...`` under "What the source says" and ends its
experiments with ONE ``experiments.claims_table([...])`` call whose rows are ``(claim id, what the source says,
verdict, evidence)``. :func:`collect` reads ``solutions/NN_*.md`` statically (nothing is executed): the
listed claim ids, and from the ``claims_table`` call's AST the id, the "says" and the verdict of each row (string
literals; an f-string keeps its literal text with ``…`` for each formatted value). The evidence is the chapter
itself: each row links to the section that holds the chapter's claims table (its heading's anchor, or the MyST
label ``(name)=`` right above that heading).

What a chapter must provide, so that its claims appear here:

1. a bullet per claim, ``- **C<n>**`` at the start of the line, in "What the source says";
2. exactly one ``claims_table([...])`` call, a list of 4-tuples whose first three items (id, says, verdict) are
   string literals (implicit concatenation is fine; an f-string works but shows ``…`` for its values);
3. the call in a code cell under a heading (``## ...`` / ``### ...``) whose title is unique in the chapter;
4. the chapter listed in ``_toc.yml`` (rows of chapters not in the toc are collected but not linked).

``python -m actlab.audit`` writes ``benchmarks/results/claims_audit.json`` (the file the capstone page loads;
the site's execution cache depends on it), ``--check`` fails when the file is stale or a chapter's listed
claims and table rows disagree. ``tests/test_audit.py`` runs the check.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import html
import json
import re
import sys
from pathlib import Path

__all__ = ["Claim", "ChapterClaims", "collect", "audit_json", "load", "AuditTable", "main", "ROOT",
           "RESULTS"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "claims_audit.json"
CHAPTER = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.md$")
BULLET = re.compile(r"^\s*[-*]\s+\*\*(C\d+)\.?\*\*", re.MULTILINE)
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
LABEL = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$")


@dataclasses.dataclass
class Claim:
    id: str
    says: str
    verdict: str


@dataclasses.dataclass
class ChapterClaims:
    """The claims of one chapter: listed ids, table rows, where the table is, and what disagrees."""
    number: str
    slug: str
    title: str
    listed: list
    rows: list                     # Claim per table row
    anchor: str | None             # the id of the section that holds the claims table
    problems: list

    @property
    def page(self) -> str:
        return f"{self.slug}.html"


def _slug_id(title: str) -> str:
    """The HTML id docutils gives a section titled ``title`` (``docutils.nodes.make_id``)."""
    from docutils.nodes import make_id

    text = re.sub(r"\{[a-z:]+\}`([^`]*)`", r"\1", title)     # roles: keep their text
    text = re.sub(r"[`*$]", "", text)
    return make_id(text)


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _cells(text: str):
    """``(kind, source, line)`` of the markdown text and the ```{code-cell}``` blocks of a MyST notebook."""
    out, lines, i = [], text.split("\n"), 0
    buf, start = [], 0
    while i < len(lines):
        m = re.match(r"^(`{3,})\{code-cell\}", lines[i])
        if m:
            out.append(("md", "\n".join(buf), start))
            fence, j = m.group(1), i + 1
            body = []
            if j < len(lines) and lines[j].strip() == "---":           # cell metadata
                j += 1
                while j < len(lines) and lines[j].strip() != "---":
                    j += 1
                j += 1
            while j < len(lines) and not lines[j].startswith(fence):
                body.append(lines[j])
                j += 1
            out.append(("code", "\n".join(body), i))
            buf, start, i = [], j + 1, j + 1
            continue
        buf.append(lines[i])
        i += 1
    out.append(("md", "\n".join(buf), start))
    return out


def _claims_call(source: str):
    """The list node of the first ``claims_table([...])`` call in a code cell's source, or None."""
    code = "\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name == "claims_table" and node.args:
                return node.args[0]
    return None


def chapter_claims(path: Path) -> ChapterClaims:
    """Read one chapter source (see the module docstring)."""
    text = Path(path).read_text(encoding="utf-8")
    number = CHAPTER.match(Path(path).name).group(1)
    title = next((m.group(2) for ln in text.split("\n") if (m := HEADING.match(ln)) and len(m.group(1)) == 1),
                 Path(path).stem)
    listed = list(dict.fromkeys(BULLET.findall(text.split("## Exercises")[0])))
    rows, anchor, problems = [], None, []
    heading, label_above, pending_label, calls = None, None, None, 0
    for kind, src, _ in _cells(text):
        if kind == "md":
            for ln in src.split("\n"):
                if (m := LABEL.match(ln.strip())):
                    pending_label = m.group(1)
                elif (m := HEADING.match(ln)) and len(m.group(1)) > 1:
                    heading, label_above, pending_label = m.group(2), pending_label, None
                elif ln.strip():
                    pending_label = None
            continue
        node = _claims_call(src)
        if node is None:
            continue
        calls += 1
        if calls > 1:
            problems.append("more than one claims_table call (only the first is collected)")
            continue
        anchor = label_above.lower().replace("_", "-") if label_above else (_slug_id(heading) if heading else None)
        if not isinstance(node, (ast.List, ast.Tuple)):
            problems.append("claims_table's argument is not a literal list of rows")
            continue
        for el in node.elts:
            if not isinstance(el, ast.Tuple) or len(el.elts) != 4:
                problems.append(f"a row is not a 4-tuple (line {getattr(el, 'lineno', '?')} of its cell)")
                continue
            cid, says, verdict = (_literal(e) for e in el.elts[:3])
            if None in (cid, says, verdict):
                problems.append(f"row {cid or '?'}: id, says and verdict must be string literals")
                continue
            rows.append(Claim(cid, " ".join(says.split()), " ".join(verdict.split())))
    if calls == 0:
        problems.append("no claims_table call")
    ids = [r.id for r in rows]
    missing = [c for c in listed if c not in ids]
    extra = [c for c in ids if c not in listed]
    if missing:
        problems.append(f"claims listed but not in the table: {', '.join(missing)}")
    if extra:
        problems.append(f"table rows not listed as claims: {', '.join(extra)}")
    if rows and anchor is None:
        problems.append("the claims table is under no heading (nothing to link to)")
    return ChapterClaims(number, Path(path).stem, title, listed, rows, anchor, problems)


def _toc_slugs(toc: Path) -> set[str]:
    import yaml

    found: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("file"), str):
                found.add(Path(x["file"]).name)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(yaml.safe_load(toc.read_text(encoding="utf-8")))
    return found


def collect(solutions: Path = ROOT / "solutions", toc: Path = ROOT / "_toc.yml",
            numbers: range = range(0, 13)) -> list[ChapterClaims]:
    """Every chapter ``NN_*.md`` with ``NN`` in ``numbers`` (00–12: the source's sections), in order."""
    out = []
    in_toc = _toc_slugs(toc) if Path(toc).exists() else set()
    for path in sorted(Path(solutions).glob("*.md")):
        m = CHAPTER.match(path.name)
        if m and int(m.group(1)) in numbers:
            ch = chapter_claims(path)
            if path.stem not in in_toc:
                ch.problems.append("not in _toc.yml yet (not linked)")
                ch.anchor = None
            out.append(ch)
    return out


def audit_json(chapters: list[ChapterClaims]) -> dict:
    """The content of :data:`RESULTS`."""
    return {"what": "the claims of every chapter's claims table, collected by actlab.audit from solutions/",
            "command": "python -m actlab.audit",
            "chapters": [{"number": c.number, "slug": c.slug, "title": c.title, "anchor": c.anchor,
                          "listed": c.listed, "problems": c.problems,
                          "claims": [dataclasses.asdict(r) for r in c.rows]} for c in chapters]}


def load(path: Path = RESULTS) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


#: Verdict families by the verdict's first words, checked in order.
FAMILIES = ((r"(false|wrong|refuted|not supported|not true|no\b|corrected)", "false"),
            (r"(half|partly|mostly|misleading|qualified|depends)", "qualified"),
            (r"(true|accurate|supported|confirmed|yes)\b,?\s+(if|for|but|only|when|in|as|mostly|per|against|"
             r"of the|depends)\b", "qualified"),
            (r"(true|accurate|supported|confirmed|yes)\b", "true"),
            (r"supplied", "supplied"))


def family(verdict: str) -> str:
    """``true``, ``qualified``, ``false``, ``supplied`` or ``other``, from the verdict's first words: "true"
    followed by a reservation ("true, if ...", "true for ...", "true, but ...") is ``qualified``."""
    v = " ".join(verdict.strip().lower().split())
    for pattern, fam in FAMILIES:
        if re.match(pattern, v):
            return fam
    return "other"


class AuditTable:
    """The audit as an HTML table (claim, chapter, the source says, verdict, a link to the evidence)."""

    def __init__(self, data: dict, link_prefix: str = ""):
        self.rows = []
        for ch in data["chapters"]:
            for c in ch["claims"]:
                href = f"{link_prefix}{ch['slug']}.html#{ch['anchor']}" if ch["anchor"] else None
                self.rows.append((f"{ch['number']}·{c['id']}", ch["title"], c["says"], c["verdict"], href))

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("claim", "chapter", "the source says", "verdict", "evidence"))
        body = "".join(
            f"<tr><td><strong>{e(cid)}</strong></td><td>{e(title)}</td><td>{e(says)}</td><td>{e(verdict)}</td>"
            f"<td>{f'<a href={chr(34)}{e(href)}{chr(34)}>claims table</a>' if href else '—'}</td></tr>"
            for cid, title, says, verdict, href in self.rows)
        return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(f"{c} | {t} | {s} | {v} | {h or '-'}" for c, t, s, v, h in self.rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actlab.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    chapters = collect()
    data = audit_json(chapters)
    for c in chapters:
        status = "; ".join(c.problems) if c.problems else "ok"
        print(f"{c.number} {c.slug}: {len(c.rows)} claims, anchor #{c.anchor} - {status}")
    if args.check:
        if not args.out.exists() or load(args.out) != data:
            print(f"{args.out} is stale: run `python -m actlab.audit`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
