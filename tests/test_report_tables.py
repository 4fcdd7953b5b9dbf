"""Report tables from a hand-made results folder: values computed by hand, gaps, teacher choice, bad folders."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from fixtures.report_results import make_results, write_cell
from leafbench.cli import main
from leafbench.errors import UserError
from leafbench.report import build_report, load_results
from leafbench.report.tables import SignificanceOptions, alignment_table, mrl_table, significance_families, table1
from leafbench.results import cell_path

OPTS = SignificanceOptions(n_resamples=4000)
TEACHER_AVG = (0.916667 + 0.8) / 2  # alpha and beta headline means of the teacher


def _rows(table) -> dict[str, list]:
    return {row[1].value if table.name == "table1" else (row[0].value, row[1].value): row for row in table.rows}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return make_results(tmp_path / "results")


def test_table1_values_letters_and_percent_of_teacher(results: Path) -> None:
    rs = load_results([results])
    assert rs.teacher == "teacher" and "asymmetric" in rs.teacher_reason
    assert list(rs.configs) == ["teacher", "student", "leaf-asym"] and rs.tasks == ["alpha", "beta"]
    t = table1(rs, significance_families(rs, OPTS), OPTS)
    assert t.columns[5:] == ["alpha", "beta", "Avg", "% of teacher"]
    rows = _rows(t)
    # letters a, b, c in display order; alpha: teacher and leaf-asym beat the student (10 and 9 of 12 queries
    # better, p ~ 0.002 and 0.004, x3 Bonferroni); beta: teacher and student beat leaf-asym (all 12 queries).
    assert [rows[c][0].value for c in ("teacher", "student", "leaf-asym")] == ["a", "b", "c"]
    assert [(c.value, c.sup) for c in rows["teacher"][5:7]] == [(0.916667, "b"), (0.8, "c")]
    assert [(c.value, c.sup) for c in rows["student"][5:7]] == [(0.5, ""), (0.8, "c")]
    assert [(c.value, c.sup) for c in rows["leaf-asym"][5:7]] == [(0.875, "b"), (0.7, "")]
    assert rows["teacher"][7].value == pytest.approx(TEACHER_AVG)
    assert rows["student"][7].value == pytest.approx(0.65)
    assert rows["leaf-asym"][7].value == pytest.approx(0.7875)
    assert rows["teacher"][8].value == pytest.approx(100.0)
    assert rows["student"][8].value == pytest.approx(0.65 / TEACHER_AVG * 100)  # 75.73
    assert rows["leaf-asym"][8].value == pytest.approx(0.7875 / TEACHER_AVG * 100)  # 91.75
    assert [rows[c][4].value for c in ("teacher", "student", "leaf-asym")] == [768, 384, 768]
    assert rows["teacher"][5].bold and not rows["leaf-asym"][5].bold


def test_mrl_and_alignment_tables(results: Path) -> None:
    rs = load_results([results])
    rows = _rows(mrl_table(rs))
    assert list(rows) == [("teacher", 768), ("teacher", 256), ("student", 384), ("student", 256),
                          ("leaf-asym", 768), ("leaf-asym", 256)]
    int8, binary = rs.precisions.index("int8") + 2, rs.precisions.index("binary") + 2
    assert rows[("teacher", 768)][int8].value == pytest.approx(0.85)
    assert rows[("teacher", 768)][int8].rel == pytest.approx(0.85 / TEACHER_AVG * 100)  # 99.03
    assert rows[("student", 256)][binary].value == pytest.approx(0.4)
    assert rows[("student", 256)][binary].rel == pytest.approx(0.4 / 0.65 * 100)  # 61.54
    assert rows[("teacher", 256)][binary].value is None  # beta lacks this cell: no partial mean
    align = _rows(alignment_table(rs))
    assert list(align) == [("leaf-asym", 768), ("leaf-asym", 256)]
    assert align[("leaf-asym", 768)][2].value == pytest.approx(0.8)   # float32 overlap: (0.9 + 0.7) / 2
    assert align[("leaf-asym", 768)][4].value == pytest.approx(0.7)   # binary overlap: 0.1 lower
    assert align[("leaf-asym", 256)][5].value == pytest.approx(0.93)  # cosine: (0.94 + 0.92) / 2


def test_written_formats_agree(results: Path, tmp_path: Path) -> None:
    report = build_report([results], tmp_path / "report", opts=OPTS)
    out = tmp_path / "report"
    assert {t.name for t in report.tables if not t.name.startswith("deploy_")} == {"table1", "share", "mrl",
                                                                                   "alignment", "significance"}
    with open(out / "tables" / "table1.csv") as f:
        rows = {r["Config"]: r for r in csv.DictReader(f)}
    assert float(rows["student"]["Avg"]) == pytest.approx(0.65)
    assert float(rows["leaf-asym"]["% of teacher"]) == pytest.approx(0.7875 / TEACHER_AVG * 100, abs=1e-6)
    md = (out / "tables" / "table1.md").read_text()
    assert ("| a | teacher | standard | all-mpnet-base-v2 | 768 | **0.9167**<sup>b</sup> | **0.8000**<sup>c</sup> |"
            in md)
    tex = (out / "tables" / "table1.tex").read_text()
    assert all(s in tex for s in (r"\toprule", r"\midrule", r"\bottomrule", r"\textsuperscript{b}", r"\% of teacher"))
    assert r"\usepackage" not in tex and tex.count(r"\begin{tabular}") == 1
    with open(out / "tables" / "share.csv") as f:
        share = {r["Config"]: r for r in csv.DictReader(f)}
    assert float(share["leaf-asym"]["beta (low)"]) == float(share["leaf-asym"]["beta (high)"]) == 87.5  # 3 decimals
    assert "| leaf-asym | 95.5 [" in (out / "tables" / "share.md").read_text()
    mrl = (out / "tables" / "mrl.md").read_text()
    assert "| teacher | 256 | 0.8000 (93.2) | 0.7750 (90.3) | – |" in mrl
    with open(out / "tables" / "significance.csv") as f:
        sig = list(csv.DictReader(f))
    head = [r for r in sig if r["Task"] == "alpha" and r["Cells"].startswith("headline")]
    assert [(r["A"], r["B"], r["Significant"]) for r in head] == [
        ("teacher", "student", "yes"), ("teacher", "leaf-asym", "no"), ("student", "leaf-asym", "yes")]
    cells = list(csv.DictReader(io.StringIO((out / "cells.csv").read_text())))
    assert len(cells) == 6 + 29  # every record, once
    assert (out / "tables.md").read_text().count("**Table 1") == 1


def test_missing_cells_are_gaps_and_suites_do_not_mix(results: Path) -> None:
    cell_path(results, "beta", "student", 384, "float32").unlink()
    # Another suite whose 'teacher' is a different model: both get suite-qualified labels, nothing is merged.
    write_cell(results.parent, "other", "alpha", "teacher", 768, "float32", [0.25] * 12,
               fingerprints={"teacher": "fp-other"})
    rs = load_results([results.parent])
    assert list(rs.configs) == ["fixture/teacher", "other/teacher", "student", "leaf-asym"]
    assert rs.teacher == "fixture/teacher"
    rows = _rows(table1(rs, significance_families(rs, OPTS), OPTS))
    assert rows["student"][6].value is None and rows["student"][7].value is None and rows["student"][8].value is None
    assert rows["other/teacher"][5].value == 0.25 and rows["other/teacher"][6].value is None
    assert rows["leaf-asym"][8].value == pytest.approx(0.7875 / TEACHER_AVG * 100)
    # same weights, run with another max_seq_length: a different setup, so a different row too
    write_cell(results.parent, "long", "alpha", "student", 384, "float32", [0.5] * 12, max_seq_length=512)
    assert "long/student" in load_results([results.parent]).configs


def test_teacher_override_and_named_teacher(results: Path) -> None:
    rs = load_results([results], teacher="student")
    assert rs.teacher == "student" and list(rs.configs)[0] == "student"
    rows = _rows(table1(rs, [], OPTS))
    assert rows["teacher"][8].value == pytest.approx(TEACHER_AVG / 0.65 * 100)
    for path in results.rglob("leaf-asym/*.json"):
        path.unlink()
    rs = load_results([results])
    assert rs.teacher == "teacher" and "named 'teacher'" in rs.teacher_reason


def test_nested_folders_are_read_once(results: Path) -> None:
    rs = load_results([results.parent, results])
    assert len(rs.cells) == 35 and not rs.notes


def test_bad_folders_are_one_line_user_errors(tmp_path: Path, results: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "mteb.json").write_text(json.dumps({"task_name": "SciFact"}))
    with pytest.raises(UserError, match=r"^.*empty: no leafbench results found"):
        load_results([empty])
    with pytest.raises(UserError, match="results folder not found"):
        load_results([tmp_path / "missing"])
    with pytest.raises(UserError, match=r"^--teacher nope: no such config"):
        load_results([results], teacher="nope")
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert main(["report", str(results), "--out", str(tmp_path / "r"), "--resamples", "500"]) == 0
    assert (tmp_path / "r" / "index.html").is_file()


def test_throughput_table_joins_models_to_configs(results: Path) -> None:
    from fixtures.report_results import write_throughput
    from leafbench.report.throughput import throughput_table

    write_throughput(results)
    rows = {r[0].value: r for r in throughput_table(load_results([results])).rows}
    cols = ["Config", "Device", "Backend", "Params", "fewer params x", "docs/s", "queries/s", "p50", "p95", "docs x",
            "queries x", "latency x"]
    got = {c: dict(zip(cols, (cell.value for cell in row))) for c, row in rows.items()}
    assert got["teacher"]["docs/s"] == 10.0 and got["teacher"]["docs x"] == 1.0
    assert got["student"]["Params"] == 22.713216 and got["student"]["fewer params x"] == 109_486_464 / 22_713_216
    assert (got["student"]["docs x"], got["student"]["queries x"], got["student"]["latency x"]) == (5.0, 400 / 60, 5.0)
    # asymmetric: documents at the teacher's speed, queries and latency at the student's
    assert (got["leaf-asym"]["docs/s"], got["leaf-asym"]["queries/s"], got["leaf-asym"]["p50"]) == (10.0, 400.0, 4.0)
    assert (got["leaf-asym"]["docs x"], got["leaf-asym"]["queries x"]) == (1.0, 400 / 60)
    assert got["leaf-asym"]["Device"] == "Test CPU" and got["leaf-asym"]["Backend"] == "torch fp32"


def test_a_model_run_in_its_own_dtype_is_compared_in_the_teachers_section_and_says_how_it_ran(results: Path) -> None:
    """The teacher ran bf16, the student (say a static leaf) fp32 only: its configs get rows, ratios and frontier
    points in the teacher's setup, and the Backend cell names each side's dtype."""
    import json

    from fixtures.report_results import write_throughput
    from leafbench.report.throughput import throughput_table

    write_throughput(results)
    for path in (results / "throughput").glob("*.json"):
        if not path.name.startswith("student"):
            path.write_text(json.dumps({**json.loads(path.read_text()), "dtype": "bf16"}))
    table = throughput_table(load_results([results]))
    rows = {r[0].value: [c.value for c in r] for r in table.rows}
    assert len(rows) == len(table.rows) and table.sections == {0}  # one section, the teacher's: no second row
    assert rows["student"][2] == "torch fp32" and rows["student"][10] == 400 / 60  # queries x, as in fp32 alone
    assert rows["teacher"][2] == "torch bf16"
    assert rows["leaf-asym"][2] == "queries torch fp32, documents torch bf16"


def test_distill_table_shows_both_stages_in_and_off_domain(results: Path, tmp_path: Path) -> None:
    from fixtures.report_results import write_distill
    from leafbench.report.distill import distill_table

    write_distill(results)
    table = distill_table(load_results([results]))
    assert table.columns[6:9] == ["alpha asym NDCG@10", "beta asym NDCG@10", "gamma (off-domain) asym NDCG@10"]
    assert table.columns[9:16] == ["in-domain % of teacher", "in-domain q-cos", "in-domain top-10",
                                   "off-domain % of teacher", "off-domain q-cos", "off-domain top-10",
                                   "off-domain worst % of teacher"]
    proj, final = ([c.value for c in row] for row in table.rows)
    assert proj[1:6] == ["projection only", "cpu fp32, leaf, loss mse, max_seq_length 128", 0, 0, 0.70]
    assert proj[16] is None and final[1] == "fine-tuned" and final[3:6] == [100, 3200, 0.85]
    assert final[16:18] == [40.0, 80.0 / 60]  # samples/s and minutes: only for the trained row
    assert table.rows[1][6].rel == pytest.approx(90) and table.rows[1][7].rel == pytest.approx(95)
    assert final[9] == pytest.approx((90 + 95) / 2) and final[10] == pytest.approx(0.855)
    assert final[12] == pytest.approx(75) and final[13:15] == [pytest.approx(0.78), pytest.approx(0.45)]
    report = build_report([results], tmp_path / "report", opts=OPTS)
    assert (tmp_path / "report" / "tables" / "distill.tex").is_file() and "Distillation" in \
        (tmp_path / "report" / "tables.md").read_text()
    assert "learning_curve" in [f.name for f in report.figures]


def test_distill_table_names_each_stage_by_its_output(results: Path) -> None:
    """A suite of several distill stages (one per student family) gives one record each, all of the same suite: the
    rows say which student they are."""
    import json

    from fixtures.report_results import write_distill
    from leafbench.report.distill import distill_table

    write_distill(results)
    path = results / "distill" / "run-0123" / "distill.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "outputs": {"projection": None, "finetuned": str(path.parent / "static")}}))
    assert [row[1].value for row in distill_table(load_results([results])).rows] == \
        ["static: projection only", "static: fine-tuned"]


def test_distill_table_and_model_card_show_each_off_domain_yardstick_and_the_worst(results: Path) -> None:
    """Several off-domain yardsticks (one per query shape): each gets its column, and the worst one its own figure,
    since the mean of 75% and 50% would hide the shape alignment fails on."""
    import json

    from fixtures.report_results import write_distill
    from leafbench.distill.export import model_card
    from leafbench.distill.record import parse_record
    from leafbench.report.distill import distill_table

    write_distill(results)
    path = results / "distill" / "run-0123" / "distill.json"
    raw = json.loads(path.read_text())
    for ev in [*raw["history"], raw["projection_only"], raw["final"]]:
        ev["curve"]["delta"] = {"ndcg10": 0.40, "teacher_ndcg10": 0.80, "query_cosine": 0.7, "top10_overlap": 0.3,
                                "off_domain": True}
    raw["data"] = {"train": 900, "train_queries": 600, "train_documents": 300, "validation": 100, "sources": [],
                   "dropped_duplicates": 0, "dropped_short": 0, "dropped_eval_queries": 0,
                   "eval_queries_excluded": True}  # what the model card's Data section reads
    path.write_text(json.dumps(raw))
    table = distill_table(load_results([results]))
    assert table.columns[6:10] == ["alpha asym NDCG@10", "beta asym NDCG@10", "delta (off-domain) asym NDCG@10",
                                   "gamma (off-domain) asym NDCG@10"]
    final = [c.value for c in table.rows[1]]
    worst = table.columns.index("off-domain worst % of teacher")
    assert final[worst] == pytest.approx(50.0)  # delta 0.40 / 0.80, below gamma's 75%
    assert final[table.columns.index("off-domain % of teacher")] == pytest.approx((75 + 50) / 2)
    card = model_card(parse_record(raw), "finetuned", "leaf")
    assert "## Off-domain yardsticks" in card and "delta 50.0%, gamma 75.0%; worst 50.0%." in card
