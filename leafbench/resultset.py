"""Read result folders (any number of runs, suites and machines) into one `ResultSet` that every table and figure
reads from, so they all agree on config labels, ordering, which config is the teacher, and what is missing.

A config is named by its suite's config key. When two suites use the same key for different models (different
weight fingerprints) or run them differently (prompts, max_seq_length, dtype), both become `suite/config`, so
merging folders never silently mixes two setups in one row. The same
cell read twice (the same suite run on two machines) keeps the newest record and says so in `notes`.

Only the latest run of each results folder is read by default: a folder's `run.json` lists the cells (and their
`cell_hash`) its latest `leafbench run` produced, so cells of dims, configs or tasks the suite has since dropped, or
whose identity has changed, never reach a table. `all_runs=True` (`report --all`) reads every record. Records are
parsed with their typed models (leafbench.records); files of another schema or version are skipped, with a note.

Throughput is measured per model, quality per config, so `config_models` joins the two: a standard config costs its
model on both sides; an asymmetric config encodes documents with its document model (offline, once) and queries
with its query model (online, per request). The deploy analysis and the report's tables both read that one join.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafbench.config import TaskSpec
from leafbench.distill.record import SCHEMA as DISTILL_SCHEMA  # one record per finished distill run
from leafbench.distill.record import parse_record as parse_distill_record
from leafbench.errors import UserError
from leafbench.records import MTEB_SCHEMA, RETRIEVAL_SCHEMA, RUN_MANIFEST, MtebCell, RetrievalCell, RunManifest, \
    parse_record
from leafbench.results import read_json
from leafbench.throughput.record import SCHEMA as THROUGHPUT_SCHEMA
from leafbench.throughput.record import ThroughputRecord

HEADLINE_METRIC = "NDCG@10"
PRECISION_ORDER = ("float32", "int8", "int8-affine", "binary")

CellKey = tuple[str, str, int, str]  # task, config label, dim, precision


@dataclass(frozen=True)
class ConfigInfo:
    """What a config label stands for: its mode and the models on each side."""

    label: str
    name: str
    suite: str
    mode: str
    query_model: str  # model id as the suite gave it
    document_model: str
    query_fingerprint: str | None
    document_fingerprint: str | None
    full_dim: int
    settings: str  # prompts, max_seq_length, dtype of both sides: the same weights run differently are not the same

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.mode, self.query_fingerprint or self.query_model, self.document_fingerprint or self.document_model,
                self.settings)


@dataclass
class ResultSet:
    """All retrieval, MTEB-stage and throughput records found, with the labels and orderings tables share."""

    sources: list[Path]
    cells: dict[CellKey, dict[str, Any]]
    configs: dict[str, ConfigInfo]  # label -> info, in display order (teacher first, then suite order)
    tasks: list[str]
    precisions: list[str]
    teacher: str | None
    teacher_reason: str
    suites: list[str]
    throughput: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mteb: dict[CellKey, dict[str, Any]] = field(default_factory=dict)  # MTEB-stage cells, keyed like `cells`
    distill: list[dict[str, Any]] = field(default_factory=list)  # finished distill runs (learning curves)

    def cell(self, task: str, config: str, dim: int, precision: str) -> dict[str, Any] | None:
        return self.cells.get((task, config, dim, precision))

    def headline(self, task: str, config: str) -> dict[str, Any] | None:
        """The cell a paper's main table shows: the config's full dimension at float32."""
        return self.cell(task, config, self.configs[config].full_dim, "float32")

    def dims(self, config: str) -> list[int]:
        """Every dim evaluated for a config, largest first (the reading order of an MRL table)."""
        return sorted({k[2] for k in self.cells if k[1] == config}, reverse=True)

    @property
    def mteb_tasks(self) -> dict[str, str]:
        """MTEB task -> task type, grouped by type then name (the leaderboard's column order)."""
        found = {k[0]: rec["task_type"] for k, rec in self.mteb.items()}
        return dict(sorted(found.items(), key=lambda kv: (kv[1], kv[0])))

    def score(self, task: str, config: str, dim: int, precision: str, metric: str = HEADLINE_METRIC) -> float | None:
        rec = self.cell(task, config, dim, precision)
        value = rec.get("scores", {}).get(metric) if rec else None
        return float(value) if value is not None else None

    def mean_score(self, config: str, dim: int, precision: str, metric: str = HEADLINE_METRIC) -> float | None:
        """Mean over all tasks, or None when any task lacks the cell: a partial mean would not compare."""
        values = [self.score(t, config, dim, precision, metric) for t in self.tasks]
        return None if not values or any(v is None for v in values) else sum(values) / len(values)  # type: ignore


_NOT_SETTINGS = {"name", "id", "fingerprint", "batch_size", "prompts"}  # labels, or no effect on the embeddings


def _info(rec: dict[str, Any], label: str) -> ConfigInfo:
    q, d = rec.get("query_model") or {}, rec.get("document_model") or {}
    settings = json.dumps([{k: v for k, v in side.items() if k not in _NOT_SETTINGS} for side in (q, d)],
                          sort_keys=True, default=str)
    return ConfigInfo(label=label, name=rec["config"], suite=rec.get("suite") or "?", mode=rec.get("mode", "standard"),
                      query_model=q.get("id") or q.get("name") or "?",
                      document_model=d.get("id") or d.get("name") or "?",
                      query_fingerprint=q.get("fingerprint"), document_fingerprint=d.get("fingerprint"),
                      full_dim=int(rec.get("full_dim") or rec["dim"]), settings=settings)


def _valid_distill(rec: dict[str, Any]) -> bool:
    return parse_distill_record(rec) is not None


def _labels(records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(suite, config) -> label: the bare config name unless that name means different models in different suites."""
    identities: dict[str, set[tuple[str, Any, Any]]] = defaultdict(set)
    for rec in records:
        identities[rec["config"]].add(_info(rec, rec["config"]).identity)
    return {(rec.get("suite") or "?", rec["config"]):
            rec["config"] if len(identities[rec["config"]]) == 1 else f"{rec.get('suite') or '?'}/{rec['config']}"
            for rec in records}


def _suite_order(records: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Config and task positions as the suites list them, so tables read in the order the user wrote."""
    configs: dict[str, int] = {}
    tasks: dict[str, int] = {}
    seen: set[str] = set()
    for rec in records:
        resolved = rec.get("suite_resolved") or {}
        if (rec.get("suite") or "?") in seen:
            continue
        seen.add(rec.get("suite") or "?")
        for name in resolved.get("configs") or {}:
            configs.setdefault(name, len(configs))
        for spec in resolved.get("tasks") or []:
            try:
                tasks.setdefault(TaskSpec.model_validate(spec).task_name, len(tasks))
            except ValueError:  # a record from another leafbench version: fall back to alphabetical order
                continue
    return configs, tasks


def _find_teacher(configs: dict[str, ConfigInfo], requested: str | None) -> tuple[str | None, str]:
    if requested is not None:
        if requested not in configs:
            raise UserError(f"--teacher {requested}: no such config in these results "
                            f"(configs: {', '.join(configs) or 'none'})")
        return requested, "given by --teacher"
    standard = [c for c in configs.values() if c.mode == "standard"]
    asym_docs = {(c.document_fingerprint or c.document_model) for c in configs.values() if c.mode == "asymmetric"}
    serving = [c.label for c in standard if (c.document_fingerprint or c.document_model) in asym_docs]
    if serving:
        pick = next((s for s in serving if configs[s].name == "teacher"), serving[0])
        return pick, "the document model of the asymmetric config(s)"
    named = [c.label for c in standard if c.name == "teacher"]
    if named:
        return named[0], "the config named 'teacher'"
    return None, "none found (no asymmetric config, no config named 'teacher'; use --teacher CONFIG)"


def _read_all(folders: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Every record below the folders by schema, each file parsed once even when folders nest (results/ and
    results/x): a results folder holds hundreds of cells, and the report needs several schemas of them."""
    seen: set[Path] = set()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.json")):
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            rec = read_json(path)
            if isinstance(rec, dict) and isinstance(rec.get("schema"), str):
                rec["_path"] = str(path)
                out[rec["schema"]].append(rec)
    return out


@dataclass
class _Runs:
    """The latest run of every results folder below the given ones: manifest root -> {cell path: cell_hash}."""

    cells: dict[Path, dict[Path, str]]
    files: dict[Path, set[Path]]

    @classmethod
    def find(cls, folders: list[Path]) -> "_Runs":
        cells: dict[Path, dict[Path, str]] = {}
        files: dict[Path, set[Path]] = {}
        for folder in folders:
            for path in folder.rglob(RUN_MANIFEST):
                manifest = parse_record(read_json(path), RunManifest)
                if manifest is not None:
                    root = path.parent.resolve()
                    cells[root] = {(root / c.path).resolve(): c.cell_hash for c in manifest.cells}
                    files[root] = {(root / f).resolve() for f in manifest.files}
        return cls(cells, files)

    def root(self, path: Path) -> Path | None:
        return next((r for r in self.cells if path.is_relative_to(r)), None)

    def latest_cell(self, rec: dict[str, Any]) -> bool | None:
        """True/False: the cell is/is not in its folder's latest run; None: no manifest covers its folder."""
        path = Path(rec["_path"]).resolve()
        root = self.root(path)
        return None if root is None else self.cells[root].get(path) == rec.get("cell_hash")

    def latest_file(self, rec: dict[str, Any]) -> bool:
        """A non-cell record (distill) of a run: kept unless its folder's latest run lists other such files."""
        path = Path(rec["_path"]).resolve()
        root = self.root(path)
        return root is None or not self.files[root] or path in self.files[root]


def _typed(records: list[dict[str, Any]], model: type) -> tuple[list[dict[str, Any]], int]:
    """Records validated by their model (as plain dicts, which tables index), and how many failed."""
    out = []
    for rec in records:
        parsed = parse_record({k: v for k, v in rec.items() if k != "_path"}, model)
        if parsed is not None:
            out.append({**parsed.to_json(), "_path": rec["_path"]})
    return out, len(records) - len(out)


def _latest(records: list[dict[str, Any]], runs: _Runs, all_runs: bool) -> tuple[list[dict[str, Any]], int, int]:
    """The records of each folder's latest run (all of them with `all_runs`); counts of dropped and uncovered."""
    if all_runs:
        return records, 0, 0
    flags = [runs.latest_cell(r) for r in records]
    return [r for r, f in zip(records, flags) if f is not False], flags.count(False), flags.count(None)


def _index(records: list[dict[str, Any]], labels: dict[tuple[str, str], str],
           infos: dict[str, ConfigInfo]) -> tuple[dict[CellKey, dict[str, Any]], int]:
    """(task, label, dim, precision) -> the newest record of that cell; also counts cells seen more than once."""
    cells: dict[CellKey, dict[str, Any]] = {}
    duplicates = 0
    for rec in records:
        label = labels[(rec.get("suite") or "?", rec["config"])]
        key = (rec["task"], label, int(rec["dim"]), rec["precision"])
        if key in cells:
            duplicates += 1
            rec = max(cells[key], rec, key=lambda r: str(r.get("created", "")))
        cells[key] = rec
        infos.setdefault(label, _info(rec, label))
    return cells, duplicates


def load_results(folders: list[str | Path], teacher: str | None = None, all_runs: bool = False) -> ResultSet:
    """The retrieval and MTEB-stage cells of the latest run of each folder below `folders` (every cell with
    `all_runs`), plus throughput and distill records; a missing, empty or foreign folder is a UserError."""
    paths = [Path(f) for f in folders]
    if not paths:
        raise UserError("no results folder given (e.g. `leafbench report results/quickstart`)")
    for p in paths:
        if not p.is_dir():
            raise UserError(f"{p}: results folder not found (expected a folder written by `leafbench run`, "
                            f"e.g. results/quickstart)")
    runs = _Runs.find(paths)
    by_schema = _read_all(paths)
    raw, bad = _typed(by_schema[RETRIEVAL_SCHEMA], RetrievalCell)
    mteb_raw, mteb_bad = _typed(by_schema[MTEB_SCHEMA], MtebCell)
    older = sum(len(by_schema[old]) for old in ("leafbench.retrieval/1", "leafbench.mteb/1"))
    raw, dropped, uncovered = _latest(raw, runs, all_runs)
    mteb_raw, mteb_dropped, mteb_uncovered = _latest(mteb_raw, runs, all_runs)
    throughput = by_schema[THROUGHPUT_SCHEMA]
    distill = [r for r in by_schema[DISTILL_SCHEMA] if _valid_distill(r) and (all_runs or runs.latest_file(r))]
    if not raw and not mteb_raw:
        where = ", ".join(map(str, paths))
        found = f"only {len(throughput)} throughput record(s), which rate models, not configs; " if throughput else ""
        stale = f"{older} record(s) of an older leafbench, re-run the suite to refresh them; " if older else ""
        raise UserError(f"{where}: no leafbench results found ({found}{stale}expected {RETRIEVAL_SCHEMA} or "
                        f"{MTEB_SCHEMA} JSON records written by `leafbench run`, e.g. results/quickstart)")
    notes = []
    if dropped + mteb_dropped:
        notes.append(f"{dropped + mteb_dropped} cell(s) not in the latest run of their results folder are left out "
                     f"(`leafbench report --all` shows every record)")
    if uncovered + mteb_uncovered:
        notes.append(f"{uncovered + mteb_uncovered} cell(s) come from folders without a run manifest (run.json) "
                     f"and are shown as found")
    if bad + mteb_bad + older:
        notes.append(f"{bad + mteb_bad + older} record file(s) of another leafbench version or malformed were "
                     f"skipped")
    labels = _labels(raw + mteb_raw)
    infos: dict[str, ConfigInfo] = {}
    cells, duplicates = _index(raw, labels, infos)
    mteb_cells, mteb_duplicates = _index(mteb_raw, labels, infos)
    if duplicates + mteb_duplicates:
        notes.append(f"{duplicates + mteb_duplicates} cell(s) appear in more than one results folder; the newest "
                     f"record of each is shown")

    config_pos, task_pos = _suite_order(raw + mteb_raw)
    teacher_label, reason = _find_teacher(infos, teacher)
    order = sorted(infos, key=lambda c: (c != teacher_label, config_pos.get(infos[c].name, len(config_pos)), c))
    tasks = sorted({k[0] for k in cells}, key=lambda t: (task_pos.get(t, len(task_pos)), t))
    found = {k[3] for k in cells} | {k[3] for k in mteb_cells}
    precisions = [p for p in PRECISION_ORDER if p in found] + sorted(found - set(PRECISION_ORDER))
    suites = sorted({r.get("suite") or "?" for r in raw + mteb_raw})
    return ResultSet(sources=paths, cells=cells, configs={c: infos[c] for c in order}, tasks=tasks,
                     precisions=precisions, teacher=teacher_label, teacher_reason=reason, suites=suites,
                     throughput=throughput, notes=notes, mteb=mteb_cells, distill=distill)


def throughput_records(rs: ResultSet) -> list[ThroughputRecord]:
    """The result set's throughput records as typed records; one that does not validate is left out with a note
    (a record of another leafbench version must not become a wrong number in a table)."""
    out = []
    for raw in rs.throughput:
        try:
            out.append(ThroughputRecord.model_validate(raw))
        except ValueError as e:
            note = f"{raw.get('_path', 'a throughput record')}: not a valid {THROUGHPUT_SCHEMA} record, left out " \
                   f"({str(e).splitlines()[0]})"
            if note not in rs.notes:
                rs.notes.append(note)
    return out


def setup_label(rec: ThroughputRecord) -> tuple[str, str]:
    """(device name, "backend dtype"): the setups whose speeds compare."""
    return rec.device_name or rec.device, rec.backend + (f" {rec.dtype}" if rec.dtype else "")


def measured_models(rs: ResultSet) -> dict[tuple[str, str, str], ThroughputRecord]:
    """(model fingerprint, id or name; device; backend) -> record; the newest wins when a model was measured twice.

    A model measured in one dtype only on a device and backend (the suite runs it in its own dtype: a static model
    in fp32 beside a bf16 teacher) also stands for itself under that backend's other dtypes, so the configs that use
    it are compared "as the suite runs them"; a dtype sweep (every model in each dtype) pairs like with like."""
    records = sorted(throughput_records(rs), key=lambda r: r.created or "")
    out: dict[tuple[str, str, str], ThroughputRecord] = {}
    for rec in records:
        device, backend = setup_label(rec)
        for ident in (rec.model.fingerprint, rec.model.id, rec.model.name):
            if ident:
                out[(ident, device, backend)] = rec
    dtypes: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (device, backend, ident) -> its labels
    for (ident, device, label), rec in out.items():
        dtypes[(device, rec.backend, ident)].add(label)
    labels: dict[tuple[str, str], set[str]] = defaultdict(set)  # (device, backend) -> every label measured on it
    for rec in records:
        device, label = setup_label(rec)
        labels[(device, rec.backend)].add(label)
    for (device, backend, ident), own in list(dtypes.items()):
        if len(own) == 1:
            (label,) = own
            for other in labels[(device, backend)] - own:
                out.setdefault((ident, device, other), out[(ident, device, label)])
    return out


def config_models(rs: ResultSet, config: str, measured: dict[tuple[str, str, str], ThroughputRecord], device: str,
                  backend: str) -> tuple[ThroughputRecord | None, ThroughputRecord | None]:
    """The (query-side, document-side) records of a config on one setup, matched by fingerprint, else by id."""
    info = rs.configs[config]
    q = measured.get((info.query_fingerprint or "", device, backend)) or \
        measured.get((info.query_model, device, backend))
    d = measured.get((info.document_fingerprint or "", device, backend)) or \
        measured.get((info.document_model, device, backend))
    return q, d
