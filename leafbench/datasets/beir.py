"""BEIR folders: load and validate the on-disk layout, and download the public datasets once.

The layout is BEIR's own (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), read the way BEIR's
`GenericDataLoader` reads it, so scores computed here match BEIR's. Every mistake in a folder becomes a one-line
`UserError` naming the file (and line) at fault, instead of a KeyError deep inside an evaluation.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from leafbench.assets import cache_dir
from leafbench.datasets import RetrievalData
from leafbench.datasets.beir_issues import FolderIssues
from leafbench.errors import UserError

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"

# md5 of each public zip, as published in BEIR's README ("Available Datasets" table).
BEIR_MD5 = {
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "cqadupstack": "4e41456d7df8ee7760a7f866133bda78",
    "quora": "18fb154900ba42a600f84b839c173167",
    "dbpedia-entity": "c2a39eb420a3164af735795df012ac2c",
    "scidocs": "38121350fc3a4d2f48850f6aff52e4a9",
    "fever": "5a818580227bfb4b35bb6fa46d9b6c03",
    "climate-fever": "8b66f0a9126c521bae2bde127b4dc99d",
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
}

# Written by download_beir into each folder it fetched: marks an official download, which is loaded leniently.
DOWNLOAD_MARKER = ".leafbench-download.json"
_CHUNK = 1 << 20
_TIMEOUT_S = 60

# --------------------------------------------------------------------------------------------------- loading


def load_beir_folder(path: Path, split: str = "test", strict: bool | None = None) -> RetrievalData:
    """Read a BEIR folder's `split` into RetrievalData, keeping only queries that have judgments (as BEIR does).

    `strict` decides what happens to judgments BEIR itself tolerates: a qrels doc id absent from the corpus and a
    qrels query id without query text. Strict raises a UserError; lenient keeps dangling doc judgments (they count as
    misses, exactly as in BEIR's scores) and drops text-less queries, recording both counts in `meta`. The default
    (None) is lenient for official datasets fetched by `download_beir` (BEIR's ArguAna zip has a judgment for a
    missing document) and strict for every other folder, where such a line is almost always a mistake.

    Format problems that BEIR reads silently into other data (a duplicate corpus or query `_id` with other content,
    a qrels pair repeated with another score, a judgment with a non-integer score on the first qrels line, a line
    without `text`: leafbench.datasets.beir_issues) are errors unless `strict` is False, downloads included; lenient,
    each kind is one counted warning and the folder reads as BEIR reads it (counts in `meta["format_issues"]`).
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such folder; expected a BEIR folder with corpus.jsonl, queries.jsonl and "
                        f"qrels/{split}.tsv")
    corpus_file, queries_file, qrels_file = (_required(path, rel, split)
                                             for rel in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"))
    issues = FolderIssues()
    corpus = _read_corpus(corpus_file, issues)
    all_queries = _read_queries(queries_file, issues)
    qrels, lines = _read_qrels(qrels_file, issues, all_queries, corpus)
    format_issues = issues.resolve(strict=strict is not False)
    if not corpus:
        raise UserError(f"{corpus_file}: no documents; expected one JSON object per line with _id, title and text")
    if not qrels:
        raise UserError(f"{qrels_file}: no judgments; expected lines `query-id<TAB>corpus-id<TAB>score` after the "
                        f"header")

    if strict is None:
        strict = not (path / DOWNLOAD_MARKER).exists()
    dangling = [(qid, did) for qid, docs in qrels.items() for did in docs if did not in corpus]
    textless = [qid for qid in qrels if qid not in all_queries]
    if strict and dangling:
        qid, did = min(dangling, key=lines.__getitem__)
        raise UserError(f"{qrels_file}:{lines[(qid, did)]}: corpus-id {did!r} is not an _id in {corpus_file.name} "
                        f"({len(dangling)} such judgment(s)); fix the folder, or load it with strict=False to score "
                        f"them as misses, as BEIR does")
    if strict and textless:
        qid, did = min(((q, d) for q in textless for d in qrels[q]), key=lines.__getitem__)
        raise UserError(f"{qrels_file}:{lines[(qid, did)]}: query-id {qid!r} has no text in {queries_file.name} "
                        f"({len(textless)} such query id(s)); fix the folder, or load it with strict=False to drop "
                        f"those queries")
    for qid in textless:
        del qrels[qid]
    queries = {qid: all_queries[qid] for qid in qrels}
    meta: dict[str, object] = {"path": str(path), "split": split, "dangling_judgments": len(dangling),
                               "queries_without_text": len(textless), "format_issues": format_issues}
    return RetrievalData(name=path.name, corpus=corpus, queries=queries, qrels=qrels, meta=meta)


def _required(folder: Path, rel: str, split: str) -> Path:
    """The file at `rel`, or a UserError that says which file is missing and what a BEIR folder holds."""
    file = folder / rel
    if not file.is_file():
        raise UserError(f"{file}: file missing; expected a BEIR folder with corpus.jsonl, queries.jsonl and "
                        f"qrels/{split}.tsv")
    return file


def _jsonl(file: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line, streamed so a multi-GB corpus never sits in memory as text.

    Lines are read as bytes and handed to json.loads (which decodes UTF-8 itself): faster than a text stream, and a
    bad byte is reported on its own line rather than somewhere in an 8 KB decoding chunk.
    """
    with open(file, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                obj = json.loads(line)
            except UnicodeDecodeError as e:
                raise UserError(f"{file}:{lineno}: not UTF-8 ({e.reason}); expected UTF-8 JSON lines") from None
            except json.JSONDecodeError as e:
                if not line.strip():  # checked only on failure: stripping every long line costs a copy
                    continue
                raise UserError(f"{file}:{lineno}: not a JSON line ({e.msg}); expected one JSON object per "
                                f"line") from None
            if not isinstance(obj, dict) or obj.get("_id") is None:
                raise UserError(f"{file}:{lineno}: missing \"_id\"; expected an object like "
                                f"{{\"_id\": ..., \"text\": ...}}")
            yield lineno, obj


def _no_text(obj: dict, file: Path, lineno: int, issues: FolderIssues) -> None:
    if obj.get("text") is None:
        issues.add("line without a \"text\" field", file, lineno, f"_id {str(obj['_id'])!r}")


def _read_corpus(file: Path, issues: FolderIssues) -> dict[str, dict[str, str]]:
    """doc_id -> {"title", "text"}; ids are strings even when a file stores numbers (pytrec_eval needs strings).

    A repeated `_id` is reported only when its content differs (an identical repeat changes nothing); no line
    number is kept per document, since a multi-million-document corpus would pay for it on every load."""
    corpus: dict[str, dict[str, str]] = {}
    for lineno, obj in _jsonl(file):
        _no_text(obj, file, lineno, issues)
        did, doc = str(obj["_id"]), {"title": obj.get("title") or "", "text": obj.get("text") or ""}
        if corpus.get(did, doc) != doc:
            issues.add("duplicate corpus _id", file, lineno, f"_id {did!r} is on an earlier line with other "
                                                             f"title or text")
        corpus[did] = doc
    return corpus


def _read_queries(file: Path, issues: FolderIssues) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, obj in _jsonl(file):
        _no_text(obj, file, lineno, issues)
        qid, text = str(obj["_id"]), obj.get("text") or ""
        if queries.get(qid, text) != text:
            issues.add("duplicate query _id", file, lineno, f"_id {qid!r} is on an earlier line with other text")
        queries[qid] = text
    return queries


def _read_qrels(file: Path, issues: FolderIssues, queries: dict[str, str], corpus: dict[str, dict[str, str]]
                ) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], int]]:
    """qrels, and the line each judgment came from (for error messages).

    BEIR skips the first line unconditionally; here it is skipped only when it is a header: its score is not an
    integer and it does not name a known query and document (a header-less file whose first judgment has a bad
    score is reported, not dropped). Zero grades are kept, as BEIR keeps them; a pair repeated with another score
    is reported (BEIR keeps the last).
    """
    qrels: dict[str, dict[str, int]] = {}
    lines: dict[tuple[str, str], int] = {}
    with open(file, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UserError(f"{file}:{lineno}: not UTF-8 ({e.reason}); expected UTF-8 text") from None
            if not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != 3:
                raise UserError(f"{file}:{lineno}: {len(cols)} tab-separated column(s); expected 3 "
                                f"(query-id, corpus-id, score)")
            qid, did, score = cols
            try:
                grade = int(score)
            except ValueError:
                if lineno == 1:
                    if qid in queries and did in corpus:
                        issues.add("first qrels line is a judgment with a non-integer score", file, lineno,
                                   f"score {score!r} for query-id {qid!r}, corpus-id {did!r}; expected an integer")
                    continue  # the `query-id corpus-id score` header
                raise UserError(f"{file}:{lineno}: score {score!r} is not an integer; expected an integer "
                                f"relevance grade") from None
            judged = qrels.setdefault(qid, {})
            if judged.get(did, grade) != grade:
                issues.add("qrels pair repeated with another score", file, lineno,
                           f"query-id {qid!r}, corpus-id {did!r}: score {grade} here, {judged[did]} at line "
                           f"{lines[(qid, did)]}")
            judged[did] = grade
            lines[(qid, did)] = lineno
    return qrels, lines


def write_beir_folder(data: RetrievalData, folder: Path, split: str = "test") -> None:
    """Write `data` in BEIR's layout (UTF-8, one JSON object per line, qrels with BEIR's header).

    Output is byte-for-byte a function of `data`'s contents and insertion order, so callers that build
    deterministically get identical files.
    """
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for did, doc in data.corpus.items():
            f.write(json.dumps({"_id": did, "title": doc.get("title", ""), "text": doc["text"]},
                               ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for qid, text in data.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in data.qrels.items():
            for did, grade in docs.items():
                f.write(f"{qid}\t{did}\t{grade}\n")


# ------------------------------------------------------------------------------------------------ downloading


def download_beir(name: str, url: str | None = None, dest: Path | None = None, md5: str | None = None) -> Path:
    """Fetch a public BEIR dataset once and return its folder `<dest>/<name>/` (default dest: cache_dir()/beir).

    An existing folder is returned untouched, without any network access. Otherwise the zip streams into a `.part`
    file that a later call resumes (so a dropped connection on MS MARCO's 1 GB loses nothing), its md5 is checked
    (BEIR's published checksum when the default URL is used, else `md5` when given), and it is unzipped into a
    temporary folder that is renamed into place only when complete: a folder at `<dest>/<name>/` is always whole.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UserError(f"beir: {name!r} is not a dataset name; expected a BEIR name like 'scifact' (letters, digits, "
                        f"'.', '_', '-')")
    dest = Path(dest) if dest is not None else cache_dir() / "beir"
    target = dest / name
    if target.is_dir():
        return target
    if url is None:
        url = BEIR_URL.format(name=name)
        md5 = md5 or BEIR_MD5.get(name)
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f"{name}.zip.part"
    _fetch(url, part)
    if md5 is not None:
        _check_md5(part, md5.lower(), url)
    _unzip_into_place(part, target, name, url, marker={"url": url, "md5": md5})
    part.unlink()
    return target


def _fetch(url: str, part: Path) -> None:
    """Stream `url` into `part`, resuming from its current size with an HTTP Range request.

    A server that ignores Range answers 200 with the whole file: the partial file is then overwritten from the
    start. A 416 answer means the partial file already holds every byte (the md5 check confirms it). Only network
    failures become UserErrors; a full disk stays an OSError with its own message.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "leafbench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            resumed = response.status == 206
            length = response.headers.get("Content-Length")
            start = have if resumed else 0
            total = start + int(length) if length else None
            with open(part, "ab" if resumed else "wb") as out:
                _copy_with_progress(response, out, url, done=start, total=total)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return
        raise _network_error(url, f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        raise _network_error(url, f"{getattr(e, 'reason', None) or e!r}{_kept(part)}") from None
    if total is not None and part.stat().st_size < total:
        raise _network_error(url, f"connection closed after {part.stat().st_size:,} of {total:,} bytes{_kept(part)}")


def _kept(part: Path) -> str:
    size = part.stat().st_size if part.exists() else 0
    return f"; the {size:,} bytes fetched so far are kept and resumed next time" if size else ""


def _copy_with_progress(response, out, url: str, done: int, total: int | None) -> None:
    """Copy the response body in 1 MB chunks under a rich progress bar on stderr."""
    columns = [TextColumn("[bold]download"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(url.rsplit("/", 1)[-1], total=total, completed=done)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            progress.advance(task, len(chunk))


def _network_error(url: str, reason: object) -> UserError:
    return UserError(f"cannot download {url} ({reason}): this needs internet access; offline, fetch the zip on "
                     f"another machine, unzip it and point the task at the folder with `path:`")


def _check_md5(file: Path, expected: str, url: str) -> None:
    """Compare the file's md5 with `expected`; a mismatch deletes the file so the next call starts clean."""
    digest = hashlib.md5()
    with open(file, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        file.unlink()
        raise UserError(f"md5: {url} downloaded with md5 {digest.hexdigest()}, expected {expected}; the file was "
                        f"deleted, run again to re-download (or fix `md5:`)")


def _unzip_into_place(zip_file: Path, target: Path, name: str, url: str, marker: dict) -> None:
    """Extract into a temp folder next to `target`, then rename the dataset folder into place in one step.

    BEIR zips hold a top folder `<name>/`; a zip whose files sit at its root is accepted too. zipfile sanitises
    member paths ('..' and absolute paths), so nothing lands outside the temp folder. The download marker is written
    before the rename, so a visible folder always carries it.
    """
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        extracted = Path(tmp) / "x"
        try:
            with zipfile.ZipFile(zip_file) as zf:
                zf.extractall(extracted)
        except zipfile.BadZipFile:
            zip_file.unlink()
            raise UserError(f"{url}: the download is not a zip file (deleted); expected a BEIR dataset zip") from None
        staged = _dataset_root(extracted, name)
        if staged is None:
            raise UserError(f"{url}: the zip holds no corpus.jsonl (neither at its root nor in '{name}/'); expected "
                            f"a BEIR dataset zip")
        (staged / DOWNLOAD_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        try:
            os.replace(staged, target)
        except OSError:
            if not target.is_dir():  # else a concurrent download won the race: its complete folder is as good
                raise


def _dataset_root(extracted: Path, name: str) -> Path | None:
    """The folder holding corpus.jsonl: `<name>/`, the only top-level folder, or the extraction root itself."""
    tops = [p for p in extracted.iterdir() if p.is_dir() and not p.name.startswith("__MACOSX")]
    for candidate in [extracted / name] + (tops if len(tops) == 1 else []) + [extracted]:
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    return None
