"""`leafbench export RESULTS_DIR --format mteb --out DIR`: a results folder as MTEB leaderboard JSON.

What goes in: every retrieval cell of the grid as an MTEB `TaskResult`, one experiment per (dim, precision) of each
config, plus every file the MTEB stage of the run wrote (already in MTEB's layout, scored by mteb itself; where both
exist for the same task and variant, mteb's own file wins). Writing and naming reuse the MTEB stage's functions
(`leafbench.evaluate.mteb.results.build_model_meta` / `write_task_result`), so an export and an MTEB-stage run
name the same model variant the same way. The result is read back with mteb's `ResultCache`, and every score
compared, before the command reports success.

Task names: a public BEIR dataset (`beir: scifact`, an official download) becomes its MTEB task (`SciFact`, with
that task's dataset revision: MTEB's copies are BEIR's data); a packaged task becomes leafbench's offline MTEB task
of the same subset (`bbc-news-titles` -> `BBCNewsTitleRetrieval`); any other task keeps its leafbench name, with a
dataset revision that hashes its spec and size and the language 'und-Zyyy' (undetermined): no registry knows it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from leafbench.config import TaskSpec, spec_hash
from leafbench.errors import UserError
from leafbench.resultset import ResultSet, load_results

# BEIR dataset name -> MTEB task name (MTEB(eng, v1)'s retrieval tasks are BEIR's datasets).
BEIR_TO_MTEB = {"arguana": "ArguAna", "climate-fever": "ClimateFEVER", "dbpedia-entity": "DBPedia", "fever": "FEVER",
                "fiqa": "FiQA2018", "hotpotqa": "HotpotQA", "msmarco": "MSMARCO", "nfcorpus": "NFCorpus", "nq": "NQ",
                "quora": "QuoraRetrieval", "scidocs": "SCIDOCS", "scifact": "SciFact", "trec-covid": "TRECCOVID",
                "webis-touche2020": "Touche2020"}
PACKAGED_TO_MTEB = {"bbc-news-titles": "BBCNewsTitleRetrieval", "wiki-sections": "WikiSectionsRetrieval"}
UNKNOWN_LANGUAGE = "und-Zyyy"  # ISO 639-3 'undetermined' + ISO 15924 'undetermined script': no registry knows it
_METRIC = re.compile(r"^(NDCG|MAP|Recall|P|MRR)@(\d+)$")
_MTEB_METRIC = {"NDCG": "ndcg_at", "MAP": "map_at", "Recall": "recall_at", "P": "precision_at", "MRR": "mrr_at"}


@dataclass(frozen=True)
class MtebTask:
    name: str
    revision: str
    split: str
    languages: list[str]


@dataclass
class ExportOutcome:
    out: Path  # the `results` folder (mteb.ResultCache(cache_path=out.parent) reads it)
    files: list[Path] = field(default_factory=list)
    copied: int = 0
    models: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def mteb_task(rec: dict[str, Any]) -> MtebTask:
    """The MTEB task a retrieval cell's task corresponds to (see the module docstring)."""
    import mteb

    spec = TaskSpec.model_validate(rec.get("task_spec") or {"path": rec["task"], "name": rec["task"]})
    if spec.beir in BEIR_TO_MTEB:  # an official download; a local `path:` folder may be a subset: not mapped
        meta = mteb.get_task(BEIR_TO_MTEB[spec.beir]).metadata
        return MtebTask(meta.name, meta.revision or "unknown", spec.qrels_split, list(meta.eval_langs))
    if spec.packaged in PACKAGED_TO_MTEB:
        from leafbench.datasets.mteb_tasks import offline_task

        try:
            meta = offline_task(PACKAGED_TO_MTEB[spec.packaged], spec.max_docs, spec.max_queries, spec.seed).metadata
            return MtebTask(meta.name, meta.revision or "unknown", spec.qrels_split, list(meta.eval_langs))
        except UserError:  # its text package is not installed here: keep the leafbench name
            pass
    revision = "leafbench-" + spec_hash({"task": spec.model_dump(exclude_none=True), "size": rec.get("task_size")})
    return MtebTask(rec["task"], revision, spec.split or "test", [UNKNOWN_LANGUAGE])


def mteb_scores(scores: dict[str, float]) -> dict[str, Any]:
    """leafbench's BEIR-style names (NDCG@10, P@5, MRR@10) in MTEB's (ndcg_at_10, precision_at_5, mrr_at_10)."""
    out: dict[str, Any] = {}
    for name, value in scores.items():
        m = _METRIC.match(name)
        if m:
            out[f"{_MTEB_METRIC[m.group(1)]}_{m.group(2)}"] = float(value)
    out["main_score"] = out["ndcg_at_10"]
    return out


def _model_folder(model_id: str) -> Path | None:
    from leafbench.assets import resolve_model

    path = Path(resolve_model(model_id)).expanduser()
    return path if path.is_dir() else None


def _count_parameters(model_id: str) -> int | None:
    """Parameters from the safetensors headers of a local/packaged model folder (shapes only, no weights loaded)."""
    folder = _model_folder(model_id)
    if folder is None:
        return None
    total = 0
    for f in sorted(folder.rglob("*.safetensors")):
        with open(f, "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for s in info["shape"]:
                    n *= int(s)
                total += n
    return total or None


def _max_seq_length(model: dict[str, Any]) -> int | None:
    if model.get("max_seq_length"):
        return int(model["max_seq_length"])
    folder = _model_folder(model["id"])
    config = folder / "sentence_bert_config.json" if folder else None
    if config and config.is_file():
        return json.loads(config.read_text()).get("max_seq_length")
    return None


def _local_card(model_id: str) -> dict[str, Any]:
    """license and base model from a local model folder's card (YAML front matter), and as release date the day
    its weights were written: no registry or hub history knows a folder, so this is all there is to say."""
    folder = Path(model_id).expanduser()  # hub and packaged ids are not folders: the registry speaks for them
    if not (folder / "modules.json").is_file():
        return {}
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    try:
        card = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else {}
    except yaml.YAMLError:
        card = {}
    card = card if isinstance(card, dict) else {}
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    released = dt.date.fromtimestamp(weights[0].stat().st_mtime).isoformat() if weights else None
    base = card.get("base_model")
    return {"license": card.get("license"), "release_date": released,
            "adapted_from": base if isinstance(base, str) else None}


class _Identities:
    """MTEB identity (name, revision, experiment kwargs, params) of each config variant, as the MTEB stage names it.

    When the run had an MTEB stage, its records say exactly how it named each (config, dim, precision); otherwise
    the stage's own rule (`leafbench.evaluate.mteb.naming.mteb_identity`) is applied to the retrieval record.
    """

    def __init__(self, rs: ResultSet, mteb_cells: list[dict[str, Any]]):
        self.rs = rs
        self.stage = {(c["config"], c["dim"], c["precision"]): c for c in mteb_cells}
        self.params: dict[str, int] = {}
        for rec in rs.throughput:
            model = rec.get("model") or {}
            if model.get("fingerprint") and rec.get("n_parameters"):
                self.params[model["fingerprint"]] = int(rec["n_parameters"])

    def n_parameters(self, model: dict[str, Any]) -> int | None:
        from mteb.models.model_implementations import MODEL_REGISTRY

        fp = model.get("fingerprint") or model["id"]
        if fp not in self.params:
            known = MODEL_REGISTRY.get(model["id"])
            counted = known.n_parameters if known is not None and known.n_parameters else _count_parameters(model["id"])
            if counted:
                self.params[fp] = int(counted)
        return self.params.get(fp)

    def meta(self, rec: dict[str, Any]) -> Any:
        from leafbench.evaluate.mteb.naming import mteb_identity, mteb_name
        from leafbench.evaluate.mteb.results import build_model_meta
        from leafbench.precisions import get as get_precision

        q, d, dim, precision = rec["query_model"], rec["document_model"], int(rec["dim"]), rec["precision"]
        stage = self.stage.get((rec["config"], dim, precision))
        if stage is not None:
            name, revision, kwargs = stage["model_name"], stage["revision"], stage.get("experiment_kwargs")
        else:
            side = ((rec.get("suite_resolved") or {}).get("mteb") or {}).get("symmetric_side", "query")
            name, revision, kwargs = mteb_identity(rec["config"], rec.get("mode", "standard"), q, d, dim,
                                                   int(rec.get("full_dim") or dim), precision, side)
        adapted = mteb_name(d["id"]) if rec.get("mode") == "asymmetric" else None
        meta = build_model_meta(name, revision, embed_dim=dim, max_tokens=_max_seq_length(q),
                                n_parameters=self.n_parameters(q), similarity=get_precision(precision).mteb_similarity,
                                experiment_kwargs=kwargs or None, output_dtype=(kwargs or {}).get("output_dtypes"),
                                adapted_from=adapted)
        local = _local_card(q["id"])  # what a local folder (a distilled student) says about itself
        missing = {k: v for k, v in local.items() if v and getattr(meta, k) is None}
        return meta.model_copy(update=missing) if missing else meta


def _task_result(rec: dict[str, Any], task: MtebTask) -> Any:
    from mteb import TaskResult

    from leafbench.evaluate.mteb.grid import mteb_version

    timings = rec.get("timings") or {}
    # this cell's whole retrieval (build, search, recall check), alignment search and metrics, plus the encoding it
    # shares with the other cells of its config (older cells record only search_s, which then held all of it)
    parts = ("retrieve_s", "alignment_search_s") if "retrieve_s" in timings else ("search_s",)
    seconds = sum(float(timings.get(k) or 0) for k in (*parts, "metrics_s", "encode_s_shared"))
    scores = {**mteb_scores(rec["scores"]), "hf_subset": "default", "languages": task.languages}
    return TaskResult(dataset_revision=task.revision, task_name=task.name, mteb_version=mteb_version(),
                      scores={task.split: [scores]}, evaluation_time=round(seconds, 3))


def _results_folder(out: Path) -> Path:
    """mteb reads `<cache>/results/<model>/...`: write into OUT itself when it is named `results`, else OUT/results."""
    return out if out.name == "results" else out / "results"


def export_mteb(results_dir: str | Path, out: str | Path) -> ExportOutcome:
    """Write the export, then load it back with mteb and check every score; returns what was written."""
    from leafbench.evaluate.mteb.results import task_result_path, write_task_result

    rs = load_results([results_dir])
    target = _results_folder(Path(out))
    outcome = ExportOutcome(target)
    mteb_cells = list(rs.mteb.values())
    native: set[tuple[str, str, int, str]] = set()
    expected: dict[Path, float] = {}  # every file written -> the main score mteb must read back from it
    for cell in mteb_cells:  # the MTEB stage's own files, copied as they are
        src = Path(cell["_path"]).parents[3] / cell["mteb_file"]
        if src.is_file():
            dest = target / Path(cell["mteb_file"]).relative_to("results")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            shutil.copyfile(src.parent / "model_meta.json", dest.parent / "model_meta.json")
            native.add((cell["task"], cell["config"], int(cell["dim"]), cell["precision"]))
            outcome.models.add(cell["model_name"])
            outcome.files.append(dest)
            outcome.copied += 1
            expected[dest] = float(cell["main_score"])
    identities = _Identities(rs, mteb_cells)
    for (_, _, dim, precision), rec in sorted(rs.cells.items()):
        task = mteb_task(rec)
        if (task.name, rec["config"], dim, precision) in native:
            continue
        meta = identities.meta(rec)
        path = task_result_path(target, meta, task.name)
        if path in expected:  # two leafbench tasks (e.g. two subsets) map to one MTEB task of one variant
            outcome.notes.append(f"{rec['task']} ({rec['config']}, dim {dim}, {precision}): not exported, "
                                 f"{path} already holds another subset of {task.name}")
            continue
        write_task_result(target, meta, _task_result(rec, task))
        expected[path] = float(rec["scores"]["NDCG@10"])
        outcome.files.append(path)
        outcome.models.add(meta.name)
    _verify(target, expected)
    return outcome


def _verify(target: Path, expected: dict[Path, float]) -> None:
    """Load the export with mteb's ResultCache and check every file's main score came back unchanged."""
    from mteb.models.model_meta import _serialize_experiment_kwargs_to_name

    from leafbench.evaluate.mteb.results import load_results as mteb_load

    loaded = mteb_load(target)
    found = {(m.model_name, m.model_revision, m.experiment_name, t.task_name): t.get_score()
             for m in loaded.model_results for t in m.task_results}
    for path, score in expected.items():
        meta = json.loads((path.parent / "model_meta.json").read_text())
        key = (meta["name"], meta["revision"], _serialize_experiment_kwargs_to_name(meta.get("experiment_kwargs")),
               path.stem)
        if not abs(found.get(key, float("nan")) - score) <= 1e-6:  # NaN (no language matched) fails too
            raise RuntimeError(f"{path}: mteb read main_score {found.get(key)} back instead of {score}")
