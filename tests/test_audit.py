"""The claim audit (actlab.audit): the parser on a synthetic chapter, the verdict families, and that the
committed results file matches the chapter sources (run `python -m actlab.audit` when this fails)."""
import textwrap

from actlab import audit

CHAPTER = textwrap.dedent('''\
    # 42 Test chapter

    ## What the source says

    - **C1.** first claim.
    - **C2** second claim.

    ## Test the claims

    (tab-verdicts)=
    ### Verdicts: the table

    ```{code-cell} ipython3
    ---
    tags: [experiment]
    ---
    x = 3
    experiments.claims_table([
        ("C1", "it is "
         "so", "true, if x", f"evidence {x}"),
        ("C2", "other", f"false ({x})", "e"),
    ])
    ```
    ''')


def test_parser_reads_listed_claims_rows_and_the_label(tmp_path):
    p = tmp_path / "42_test.md"
    p.write_text(CHAPTER)
    ch = audit.chapter_claims(p)
    assert ch.listed == ["C1", "C2"]
    assert [(r.id, r.says, r.verdict) for r in ch.rows] == [("C1", "it is so", "true, if x"),
                                                            ("C2", "other", "false (…)")]
    assert ch.anchor == "tab-verdicts" and ch.problems == []


def test_parser_reports_missing_rows_and_heading_anchor(tmp_path):
    p = tmp_path / "42_test.md"
    p.write_text(CHAPTER.replace("(tab-verdicts)=\n", "").replace('    ("C2", "other", f"false ({x})", "e"),\n', "")
                 + "\n- **C3** listed late\n")
    ch = audit.chapter_claims(p)
    assert ch.anchor == "verdicts-the-table"
    assert any("C2" in q and "not in the table" in q for q in ch.problems), ch.problems


def test_verdict_families():
    assert audit.family("true") == "true"
    assert audit.family("true (proof)") == "true"
    assert audit.family("true, if “linear” means affine") == "qualified"
    assert audit.family("true for problems that are not linearly separable") == "qualified"
    assert audit.family("wrong: a large slope underfits") == "false"
    assert audit.family("not supported here") == "false"
    assert audit.family("partly: a motivation") == "qualified"
    assert audit.family("supplied: GEGLU(x) = ...") == "supplied"


def test_committed_audit_matches_the_chapter_sources():
    current = audit.audit_json(audit.collect())
    assert audit.RESULTS.exists(), "run `python -m actlab.audit`"
    assert audit.load() == current, "benchmarks/results/claims_audit.json is stale: run `python -m actlab.audit`"


def test_audit_table_links_each_claim_to_its_chapter():
    data = audit.load()
    table = audit.AuditTable(data)
    linked = [r for r in table.rows if r[4]]
    assert linked and all(r[4].endswith("#" + r[4].split("#")[1]) for r in linked)
    assert 'href="' in table._repr_html_()


def test_every_chapter_claims_table_is_complete_and_literal():
    """Each chapter 00–12 in the toc lists its claims, tables every one with literal verdicts, under a heading."""
    chapters = audit.collect()
    assert [c.number for c in chapters] == [f"{n:02d}" for n in range(13)]
    for ch in chapters:
        assert ch.problems == [] and ch.rows and ch.anchor, (ch.slug, ch.problems)
