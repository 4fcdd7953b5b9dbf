"""leafbench.deploy on hand-made records: the frontier, the budget answers, bytes per document, the search-cost
projection against a size it was not fitted on, and `leafbench deploy` on a fixture results folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.report_results import add_task_sizes, make_results, write_calibration, write_throughput
from leafbench.deploy.budgets import Budget, best_under
from leafbench.deploy.calibration import SIZES, Calibration, calibrate, load_calibration
from leafbench.deploy.numbers import parse_number
from leafbench.deploy.pareto import dominates, frontier
from leafbench.deploy.projection import fit, models_from
from leafbench.deploy.storage import footprint
from leafbench.errors import UserError


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = make_results(tmp_path / "results")
    add_task_sizes(folder)
    write_throughput(folder)
    write_calibration(folder)
    return folder


@pytest.mark.parametrize("seed", range(5))
def test_frontier_is_exactly_the_non_dominated_points(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # coarse grids, so equal costs, equal qualities and exact duplicates all occur
    points = [(float(c), float(q)) for c, q in zip(rng.integers(1, 8, 40), rng.integers(0, 6, 40) / 5)]
    front = frontier(points, lambda p: p[0], lambda p: p[1])
    non_dominated = [p for p in points if not any(dominates(o, p) for o in points)]
    assert sorted(front) == sorted(non_dominated)  # nothing dominated on it, nothing non-dominated off it
    assert [p[0] for p in front] == sorted(p[0] for p in front)  # cheapest first


def test_frontier_by_hand_skips_points_without_a_cost() -> None:
    points = {"a": (1, 0.5), "b": (2, 0.5), "c": (2, 0.7), "d": (3, 0.6), "e": (4, 0.9), "f": (None, 1.0),
              "g": (4, 0.9)}
    front = frontier(list(points), lambda k: points[k][0], lambda k: points[k][1])
    assert front == ["a", "c", "e", "g"]  # b ties a's quality at more cost, d is beaten by c; e and g are equal


def test_budget_answers_by_hand() -> None:
    # name: (quality, bytes/doc, latency ms)
    pts = {"bin64": (0.50, 8, 5.0), "bin768": (0.70, 96, 6.0), "int8-256": (0.70, 260, 4.0),
           "f32-768": (0.85, 3072, 20.0), "slow": (0.90, 3072, None)}

    def answer(**budget: float) -> str | None:
        best = best_under(list(pts), Budget(**budget), lambda k: pts[k][0], lambda k: pts[k][1], lambda k: pts[k][2])
        return best.best

    assert answer(max_bytes_per_doc=7) is None
    assert answer(max_bytes_per_doc=8) == "bin64"
    assert answer(max_bytes_per_doc=300) == "bin768"  # ties int8-256 on quality with fewer bytes
    assert answer(max_bytes_per_doc=1e9) == "slow"  # an unknown latency does not matter to a bytes budget
    assert answer(max_latency_ms=4.5) == "int8-256"
    assert answer(max_latency_ms=1000) == "f32-768"  # an unknown latency fits no latency budget
    assert answer(max_bytes_per_doc=100, max_latency_ms=5.5) == "bin64"


def test_bytes_per_document_as_stored() -> None:
    assert footprint("float32", 768, 1000).per_doc == 3072
    assert footprint("int8", 768, 1000).per_doc == pytest.approx(768 + 4 * 768 / 1000)  # + scales over N
    assert footprint("int8-affine", 256, 1000).per_doc == pytest.approx(256 + 8 * 256 / 1000)  # min and max
    assert footprint("binary", 100, 10).per_doc == 13  # 100 bits in 13 bytes
    rescored = footprint("binary", 768, 1000, rescore=100)
    assert rescored.ram == 96 * 1000 and rescored.disk == 96 * 1000 + 3072 * 1000  # float32 copy on disk only
    assert rescored.per_doc == 96 + 3072 and rescored.rescore_copy == 3072 * 1000  # ... and it counts
    measured = footprint("float32", 768, 2000, index_bytes_per_doc=3200.0)
    assert measured.per_doc == 3200 and measured.ram == 6.4e6


def test_projection_checked_on_a_size_it_was_not_fitted_on() -> None:
    linear = fit("exact", "float32", 256, [1000, 2000, 6000], [0.1 + 2e-4 * n for n in (1000, 2000, 6000)])
    assert linear.fitted_on == (1000, 2000) and linear.checked_on == 6000
    assert linear.projected_from == (1000, 2000, 6000)
    assert linear.predicted_ms == pytest.approx(linear.measured_ms) and linear.error == pytest.approx(0, abs=1e-9)
    assert linear.ms(8_800_000) == pytest.approx(0.1 + 2e-4 * 8.8e6)
    assert linear.ms(4000) == pytest.approx(0.1 + 2e-4 * 4000)  # interpolated between measured sizes
    assert linear.ms(500) == pytest.approx((0.1 + 2e-4 * 1000) / 2)  # below the smallest: proportional to N
    # a cost that grows faster than linear: the held-out check shows the fit's miss, with the right sign and size
    curved = fit("exact", "binary", 768, [6000, 1000, 2000], [1.0, 0.1, 0.2])  # order of sizes does not matter
    assert curved.predicted_ms == pytest.approx(0.6) and curved.measured_ms == 1.0
    assert curved.error == pytest.approx(-0.4)
    # beyond the largest size: the median of the pairwise slopes (0.1/1000, 0.9/5000, 0.8/4000 ms per doc)
    assert curved.ms_per_doc == pytest.approx(0.9 / 5000)
    assert curved.ms(10_000) == pytest.approx(float(np.median([0.1 - 0.18, 0.2 - 0.36, 1.0 - 1.08])) + 1.8)
    noisy = fit("exact", "int8", 768, [2000, 6000, 12000], [1.0, 3.0, 20.0])  # one spoilt timing at 12k
    assert noisy.ms_per_doc == pytest.approx(float(np.median([2 / 4000, 19 / 10000, 17 / 6000])))
    with pytest.raises(ValueError, match="at least 3"):
        fit("exact", "float32", 64, [1000, 2000], [0.1, 0.2])


def test_calibration_is_timed_once_per_machine_and_projects_real_timings(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import leafbench.deploy.calibration as calibration

    timed: list[tuple[str, int, int]] = []
    real = calibration._time_sizes

    def counting(precision: str, dim: int, sizes: tuple[int, ...], rng: np.random.Generator) -> list:
        timed.extend((precision, dim, n) for n in sizes)
        return real(precision, dim, sizes, rng)

    monkeypatch.setattr(calibration, "_time_sizes", counting)
    cal = calibrate(tmp_path, [("float32", 32), ("int8-affine", 32)])
    assert sorted(timed) == sorted((p, 32, n) for p in ("float32", "int8") for n in SIZES)  # affine timed as int8
    assert all(t.ms_per_query > 0 and t.ms_per_query == t.median_ms for t in cal.timings)  # the median
    assert all(len(t.trials_ms) == calibration.REPEATS for t in cal.timings)
    assert cal.seconds is not None and cal.seconds > 0  # what timing it cost
    again = calibrate(tmp_path, [("float32", 32), ("binary", 32)])  # only the new pair is timed
    assert len(timed) == 3 * len(SIZES) and {t.precision for t in again.timings} == {"float32", "int8", "binary"}
    loaded = load_calibration([tmp_path])
    assert loaded is not None and Calibration.model_validate(loaded.dump()) == loaded
    model = models_from(loaded)[("float32", 32)]
    assert model.checked_on == max(SIZES) and model.measured_ms > 0 and np.isfinite(model.error)
    stale = loaded.model_copy(update={"method": "median of 7 single-query searches, size after size"})
    calibration.write_json_atomic(calibration.calibration_path(tmp_path), stale.dump())
    monkeypatch.setattr(calibration, "_cache_folder", lambda: tmp_path / "other-cache")
    calibrate(tmp_path, [("float32", 32)])  # a record timed by another method is timed again, not reused
    assert len(timed) == 4 * len(SIZES)


def test_parse_numbers() -> None:
    assert parse_number("8.8M", "--docs", integer=True) == 8_800_000
    assert parse_number("128", "--max-bytes") == 128
    assert parse_number("1Ki", "--max-bytes") == 1024 and parse_number("2KB", "--max-bytes") == 2000
    assert parse_number("1.5e3", "--docs") == 1500
    for bad in ("8.8X", "-3", "0", "lots", ""):
        with pytest.raises(UserError, match="^--docs"):
            parse_number(bad, "--docs", integer=True)


def test_report_has_the_deploy_section(results: Path, tmp_path: Path) -> None:
    from leafbench.report import SignificanceOptions, build_report

    report = build_report([results], tmp_path / "report", opts=SignificanceOptions(n_resamples=200))
    names = [t.name for t in report.tables]
    assert {"deploy_frontier", "deploy_budget", "deploy_projection"} <= set(names)
    assert {"frontier_bytes", "frontier_latency"} <= {f.name for f in report.figures}
    for f in report.figures:
        assert f.png.stat().st_size > 0 and f.pdf.read_bytes().startswith(b"%PDF")
    for name in ("deploy_frontier", "deploy_budget", "deploy_projection"):
        for ext in ("md", "tex", "csv"):
            assert (tmp_path / "report" / "tables" / f"{name}.{ext}").exists()
    assert "Deploy: best under budget" in (tmp_path / "report" / "tables.md").read_text()
    page = report.html.read_text()
    assert page.count('<div class="scroll"><table') == len([n for n in names if n != "significance"]) + 1
    assert "<h2>Deploy</h2>" in page
    doc = json.loads((tmp_path / "report" / "deploy.json").read_text())
    assert doc["n_docs"] == 5000 and not doc["n_docs_given"]  # the largest evaluated corpus (alpha)
    # the bytes frontier by hand from the fixture's means: every point on it beats every cheaper one
    by_label = {p["label"]: p for p in doc["points"]}
    front = [by_label[label] for label in doc["bytes_frontier"]]
    assert doc["bytes_frontier"][0] == "leaf-asym/256/binary" and doc["bytes_frontier"][-1] == "teacher/768/float32"
    for p in doc["points"]:
        on = p["label"] in doc["bytes_frontier"]
        beaten = any(o["bytes_per_doc"]["value"] <= p["bytes_per_doc"]["value"] and
                     o["ndcg_at_10"]["value"] >= p["ndcg_at_10"]["value"] and o is not p and
                     (o["bytes_per_doc"]["value"], o["ndcg_at_10"]["value"]) !=
                     (p["bytes_per_doc"]["value"], p["ndcg_at_10"]["value"]) for o in doc["points"])
        assert on != beaten, p["label"]
    assert all(f["bytes_per_doc"]["source"] == "computed" for f in front)  # from the layout, not read from disk
    teacher = by_label["teacher/768/float32"]
    assert teacher["encode_p50_ms"]["value"] == 20.0 and teacher["docs_per_s"]["value"] == 10.0
    assert teacher["encode_hours"] == {"value": pytest.approx(5000 / 10 / 3600), "source": "projected"}
    assert teacher["search_ms"]["source"] == "projected"
    assert teacher["latency_ms"]["value"] == pytest.approx(20.0 + teacher["search_ms"]["value"])
    asym = by_label["leaf-asym/768/float32"]  # student queries, teacher documents
    assert asym["encode_p50_ms"]["value"] == 4.0 and asym["docs_per_s"]["value"] == 10.0


def test_cli_deploy_prints_the_budget_answer_fast_without_torch(results: Path) -> None:
    code = ("import sys, time; t = time.perf_counter(); from leafbench.cli import main; "
            f"rc = main(['deploy', {str(results)!r}, '--docs', '8.8M', '--max-bytes', '128']); "
            "print('SECONDS', time.perf_counter() - t); "
            "print('HEAVY', sorted(m for m in ('torch', 'mteb', 'matplotlib') if m in sys.modules)); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Deploy: best under budget" in out and "<= 128 B/doc" in out
    row = next(line for line in out.splitlines() if "<= 128 B/doc" in line)
    assert "leaf-asym/768/binary" in row  # 96 B/doc ties teacher/768/binary at 0.70; the student's queries are faster
    assert "N = 8.8M docs" in " ".join(out.split())  # the caption names the corpus size costed
    assert "HEAVY []" in out


def test_cli_deploy_bad_input_is_one_line(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from leafbench.cli import main

    assert main(["deploy", str(results), "--docs", "8.8X"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --docs 8.8X") and "\n" not in err
    assert main(["deploy", str(tmp_path / "missing")]) == 2
    assert main(["deploy", str(results), "--max-latency-ms", "-1"]) == 2
    assert "--max-latency-ms -1" in capsys.readouterr().err


def test_rescoring_curve_from_stored_embeddings(small_beir: Path, tmp_path: Path) -> None:
    from leafbench.config import TaskSpec
    from leafbench.datasets.tasks import load_task
    from leafbench.deploy.rescoring import DEPTHS, rescoring_curves
    from leafbench.metrics import evaluate_run, run_from_topk
    from leafbench.search import retrieve
    from leafbench.store import EmbeddingStore, namespace_id
    from leafbench.transforms import truncate

    spec = {"path": str(small_beir)}
    data = load_task(TaskSpec.model_validate(spec))
    qids, dids = sorted(data.queries), sorted(data.corpus)
    rng = np.random.default_rng(0)
    store = EmbeddingStore(tmp_path / "store")
    model = {"name": "m", "id": "m", "fingerprint": "fp", "query_prompt": "", "document_prompt": "",
             "max_seq_length": 64, "dtype": "fp32"}
    spaces = {role: {"fingerprint": "fp", "role": role, "prompt": "", "max_seq_length": 64, "dtype": "fp32"}
              for role in ("query", "document")}
    emb = {role: rng.standard_normal((n, 16)).astype(np.float32) for role, n in (("query", len(qids)),
                                                                                 ("document", len(dids)))}
    store.get(spaces["query"], [data.queries[q] for q in qids], lambda todo: emb["query"])
    store.get(spaces["document"], data.doc_texts(dids), lambda todo: emb["document"])
    q, d = truncate(emb["query"], 16), truncate(emb["document"], 16)

    def score(precision: str, rescore: int = 0) -> tuple[float, dict[str, float]]:
        top = retrieve(q, d, precision, 11, rescore=rescore)
        scores, per_query = evaluate_run(data.qrels, run_from_topk(top, qids, dids), [10], True)
        return scores["NDCG@10"], {x: v["NDCG@10"] for x, v in per_query.items()}

    ceiling, per_query = score("float32")
    cell = {"task": "t", "config": "c", "dim": 16, "full_dim": 16, "precision": "float32", "task_spec": spec,
            "task_size": {"docs": len(dids)}, "query_model": model, "document_model": model, "cell_hash": "h1",
            "ignore_identical_ids": True, "scores": {"NDCG@10": ceiling}, "per_query": {"NDCG@10": per_query},
            "embeddings": {role: namespace_id(ns) for role, ns in spaces.items()}}
    task, curves = rescoring_curves({("t", "c", 16, "float32"): cell}, tmp_path / "results", tmp_path / "store")
    assert task == "t" and [c.precision for c in curves] == ["int8", "binary"]
    binary = dict(curves[1].points)
    assert list(binary) == [x for x in DEPTHS if x <= len(dids)] and curves[1].float32 == pytest.approx(ceiling)
    assert binary[0] == pytest.approx(score("binary")[0], abs=1e-6)  # no rescoring: the binary ranking itself
    assert binary[10] == pytest.approx(score("binary", rescore=10)[0], abs=1e-6)  # top 11 rescored in float32
    assert binary[10] != binary[0]  # the constructed case is one where rescoring changes the ranking
    assert curves[1].queries == len(qids) and curves[1].agreement == 1.0
    assert (tmp_path / "results" / "deploy" / "rescoring.json").exists()
    # embeddings that do not reproduce the cell's float32 scores give no curve rather than a wrong one
    wrong = {**cell, "cell_hash": "h2", "per_query": {"NDCG@10": {x: 1.0 - v for x, v in per_query.items()}}}
    assert rescoring_curves({("t", "c", 16, "float32"): wrong}, tmp_path / "other", tmp_path / "store") == (None, [])


def test_scale_benchmark_rows_project_faiss_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows beside the results folder or named by a flag (never ./results), one model per backend *and its
    parameters*, and a benchmark run on another CPU named as such."""
    from leafbench.deploy.calibration import Timing, machine, machine_key
    from leafbench.deploy.projection import all_models, model_for
    from leafbench.deploy.scale import backend_key, load_scale

    hnsw_params = {"hnsw_m": 32, "ef_construction": 64, "ef_search": 128}
    rows = [{"backend": b, "n": n, "queries": 1000, "search_s": t * n / 1e6} for b, t in (("hnsw", 0.5), ("exact", 9.0))
            for n in (100_000, 300_000, 1_000_000)] + [{"backend": "unknown", "n": 5, "queries": 1, "search_s": 1}]
    here = machine()["cpu_model"]
    (tmp_path / "results" / "bench").mkdir(parents=True)
    (tmp_path / "results" / "bench" / "scale.json").write_text(json.dumps({"rows": rows, "hnsw": hnsw_params,
                                                                           "cpu": here}))
    monkeypatch.chdir(tmp_path)
    assert load_scale([tmp_path / "elsewhere" / "quickstart"]) == []  # ./results/bench is not beside that folder
    scale = load_scale([tmp_path / "results" / "quickstart"])  # the file beside the suite's folder
    key = backend_key({"backend": "hnsw", **hnsw_params})
    assert sorted(c.backend for c in scale) == ["exact", key]
    own = Calibration(machine=machine(), machine_key=machine_key(), created="x",
                      timings=[Timing(precision="float32", dim=768, n_docs=n, ms_per_query=1.0, trials_ms=[1.0])
                               for n in SIZES])
    models = all_models(own, scale)
    hnsw = model_for(models, key, "float32", 768)
    assert hnsw is not None and hnsw.source == "scale.py" and hnsw.checked_on == 1_000_000
    assert hnsw.ms(3_000_000) == pytest.approx(1000 * 0.5 * 3 / 1000)  # 0.5 s per 1M docs per 1000 queries
    other = backend_key({"backend": "hnsw", **hnsw_params, "ef_search": 512})
    assert model_for(models, other, "float32", 768) is None  # another efSearch is not this index's cost
    exact = model_for(models, "exact", "float32", 768)
    assert exact is not None and exact.source == "calibration"  # this machine's own timing wins
    assert model_for(models, key, "binary", 768) is None
    named = tmp_path / "other-box.json"  # --scale FILE, from another machine, with single-query medians
    named.write_text(json.dumps({"cpu": "Some Other CPU", "hnsw": hnsw_params,
                                 "rows": [{**r, "single_ms": 2.0 * r["n"] / 1e6} for r in rows]}))
    models = all_models(own, load_scale([tmp_path / "elsewhere"], [named]))
    hnsw = model_for(models, key, "float32", 768)
    assert hnsw is not None and hnsw.source == "scale.py on Some Other CPU"
    assert hnsw.ms(3_000_000) == pytest.approx(6.0)  # the single-query median, not the batch


def test_scale_check_sets_the_calibration_projection_beside_the_benchmark_at_larger_n(tmp_path: Path) -> None:
    """Each exact-scan size scale.py timed beyond the calibrated ones, on this CPU only, with the projection there."""
    from leafbench.deploy.calibration import Timing, machine, machine_key
    from leafbench.deploy.projection import scale_checks
    from leafbench.deploy.scale import load_scale

    rows = [{"backend": "exact", "n": 3_000_000, "queries": 20, "search_s": 9.0, "single_ms": 1000.0},
            {"backend": "binary-scan", "n": 3_000_000, "queries": 20, "search_s": 1.0, "single_ms": 40.0},
            {"backend": "exact", "n": 50_000, "queries": 20, "search_s": 1.0, "single_ms": 20.0}]  # within range
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "scale.json").write_text(json.dumps({"rows": rows, "cpu": machine()["cpu_model"]}))
    (tmp_path / "other.json").write_text(json.dumps({"rows": rows, "cpu": "Some Other CPU"}))
    own = Calibration(machine=machine(), machine_key=machine_key(), created="x",
                      timings=[Timing(precision="float32", dim=768, n_docs=n, ms_per_query=n / 100_000 * 30.0,
                                      trials_ms=[1.0]) for n in SIZES])  # 0.3 ms per 1k docs, no fixed part
    checks = scale_checks(own, load_scale([tmp_path / "quickstart"], [tmp_path / "other.json"]))
    assert [(c.precision, c.n_docs) for c in checks] == [("float32", 3_000_000)]  # binary: no calibration here
    assert checks[0].projected_ms == pytest.approx(900.0) and checks[0].measured_ms == 1000.0
    assert checks[0].error == pytest.approx(-0.1)
    assert scale_checks(None, load_scale([tmp_path / "quickstart"])) == []


def test_cli_deploy_bad_input_each_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No cells, no throughput record with a latency budget, --docs 0 or absurd, negative / non-numeric budgets:
    exit 2 and one line naming the flag or folder; a budget nothing fits: exit 0 and a line that says so."""
    from leafbench.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    no_throughput = make_results(tmp_path / "no-throughput")
    add_task_sizes(no_throughput)
    write_calibration(no_throughput)
    full = make_results(tmp_path / "full")
    add_task_sizes(full)
    write_calibration(full)
    write_throughput(full)
    cases = [([str(empty)], str(empty)), ([str(no_throughput), "--max-latency-ms", "5"], "no throughput record"),
             ([str(full), "--docs", "0"], "--docs 0"), ([str(full), "--docs", "1e99"], "--docs 1e99"),
             ([str(full), "--max-bytes", "-5"], "--max-bytes -5"),
             ([str(full), "--max-bytes", "abc"], "--max-bytes abc"), ([str(full), "--scale", "nope.json"], "nope.json"),
             ([str(full), "--max-latency-ms", "fast"], "--max-latency-ms fast")]
    for argv, named in cases:
        assert main(["deploy", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and named in err and "\n" not in err and "Traceback" not in err, argv
    assert main(["deploy", str(no_throughput)]) == 0  # bytes budgets still answer; the latency part is a note
    assert "note: no throughput records" in capsys.readouterr().out
    assert main(["deploy", str(full), "--max-bytes", "1"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "nothing fits <= 1 B/doc: the smallest, " in said and "/256/binary, needs 32 B/doc" in said


def test_rescored_latency_includes_rescoring_and_its_bytes_the_float32_copy(tmp_path: Path) -> None:
    """A rescoring cell's latency = quantized search + the calibrated rescoring of R candidates; its bytes/doc add
    the float32 copy it rescores from; the cost table shows the rescoring model."""
    from leafbench.deploy.analysis import analyse
    from leafbench.deploy.calibration import RESCORE, RESCORE_DEPTHS, Timing
    from leafbench.resultset import load_results

    folder = make_results(tmp_path / "results")
    add_task_sizes(folder)
    write_throughput(folder)
    write_calibration(folder)
    plain = analyse(load_results([str(folder)]), load_calibration([folder]))
    for path in folder.rglob("*.json"):  # every cell rescored the top 100
        rec = json.loads(path.read_text())
        if "rescore" in rec and "task_size" in rec:
            path.write_text(json.dumps({**rec, "rescore": 100}))
    cal = load_calibration([folder])
    cal = cal.model_copy(update={"timings": cal.timings + [
        Timing(precision=RESCORE, dim=d, n_docs=r, ms_per_query=0.01 * r, trials_ms=[0.01 * r])
        for d in (768, 384, 256) for r in RESCORE_DEPTHS]})
    rescored = analyse(load_results([str(folder)]), cal)
    before = {p.label: p for p in plain.points}
    for p in rescored.points:
        if p.precision == "float32":  # nothing to rescore
            assert p.search_ms == before[p.label].search_ms and p.rescore_ms is None
            assert p.bytes_per_doc == before[p.label].bytes_per_doc
        else:
            assert p.rescore_ms == pytest.approx(1.0)  # 0.01 ms per candidate, R = 100 (a calibrated depth)
            assert p.search_ms == pytest.approx(before[p.label].search_ms + 1.0)
            assert p.bytes_per_doc == pytest.approx(before[p.label].bytes_per_doc + 4 * p.dim)
    assert any(m.precision == RESCORE for m in rescored.cost_models)
    for p in analyse(load_results([str(folder)]), load_calibration([folder])).points:  # no rescoring timing
        assert p.precision == "float32" or (p.search_ms is None and p.latency_ms is None)
