"""BEIR folders: loading matches BEIR's own loader, every broken folder gives a one-line UserError, and downloads
resume, verify and land atomically (against a local HTTP server; nothing here touches the internet)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import random
import threading
import zipfile
from pathlib import Path

import pytest

from leafbench.datasets import RetrievalData
from leafbench.datasets.beir import DOWNLOAD_MARKER, download_beir, load_beir_folder, write_beir_folder
from leafbench.errors import UserError

CORPUS = [{"_id": "d1", "title": "Cats", "text": "Cats purr."}, {"_id": "d2", "title": "", "text": "Dogs bark."},
          {"_id": "d3", "text": "Birds sing."}, {"_id": 4, "title": "Numbers", "text": "An integer id."}]
QUERIES = [{"_id": "q1", "text": "what purrs"}, {"_id": "q2", "text": "who barks"}, {"_id": "q3", "text": "unjudged"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\t4\t0\n"


def _write(folder: Path, corpus=CORPUS, queries=QUERIES, qrels=QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _write(tmp_path / "tiny")


def test_load_keeps_judged_queries_like_beir(folder: Path):
    from beir.datasets.data_loader import GenericDataLoader

    data = load_beir_folder(folder)
    assert data.name == "tiny"
    assert data.queries == {"q1": "what purrs", "q2": "who barks"}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "4": 0}}
    assert data.corpus["d3"] == {"title": "", "text": "Birds sing."}
    assert data.corpus["4"]["title"] == "Numbers"
    corpus, queries, qrels = GenericDataLoader(str(folder)).load("test")
    assert (data.queries, data.qrels) == (queries, qrels)
    assert {k: v["text"] for k, v in data.corpus.items()} == {str(k): v["text"] for k, v in corpus.items()}


def test_headerless_qrels_lose_no_judgment(tmp_path: Path):
    data = load_beir_folder(_write(tmp_path / "f", qrels="q1\td1\t1\n\nq2\td2\t1\n"))
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_write_then_load_round_trips(tmp_path: Path):
    data = RetrievalData("x", {"a": {"title": "T", "text": "café"}}, {"q": "ünï"}, {"q": {"a": 3}})
    write_beir_folder(data, tmp_path / "x")
    back = load_beir_folder(tmp_path / "x")
    assert (back.corpus, back.queries, back.qrels) == (data.corpus, data.queries, data.qrels)


def _error(folder: Path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load_beir_folder(folder, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_folder(tmp_path: Path):
    message = _error(tmp_path / "nope")
    assert "nope" in message and "BEIR folder" in message


@pytest.mark.parametrize("rel", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_missing_file(folder: Path, rel: str):
    (folder / rel).unlink()
    message = _error(folder)
    assert rel in message and "BEIR folder" in message


def test_missing_split_names_it(folder: Path):
    assert "qrels/dev.tsv" in _error(folder, split="dev")


def test_malformed_json_line(folder: Path):
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write('{"_id": "d5", "text": \n')
    message = _error(folder)
    assert "corpus.jsonl:5" in message and "JSON" in message


@pytest.mark.parametrize("rel", ["queries.jsonl", "qrels/test.tsv"])
def test_not_utf8(folder: Path, rel: str):
    with open(folder / rel, "ab") as f:
        f.write(b"q1\td\xe91\t1\n" if rel.endswith("tsv") else b'{"_id": "q\xe9", "text": "x"}\n')
    message = _error(folder)
    assert f"{rel.split('/')[-1]}:{5 if rel.endswith('tsv') else 4}" in message and "UTF-8" in message


def test_missing_id(folder: Path):
    _write(folder, queries=QUERIES + [{"text": "no id"}])
    message = _error(folder)
    assert "queries.jsonl:4" in message and "_id" in message


@pytest.mark.parametrize("line, expected", [("q1\td1\n", "2 tab-separated column(s)"),
                                            ("q1\td1\t1\textra\n", "4 tab-separated column(s)"),
                                            ("q1\td1\thigh\n", "'high' is not an integer")])
def test_bad_qrels_line(folder: Path, line: str, expected: str):
    _write(folder, qrels=QRELS + line)
    message = _error(folder)
    assert "test.tsv:5" in message and expected in message


def test_qrels_doc_missing_from_corpus(folder: Path):
    _write(folder, qrels=QRELS + "q1\tghost\t1\n")
    message = _error(folder)
    assert "test.tsv:5" in message and "'ghost'" in message and "corpus.jsonl" in message


def test_qrels_query_without_text(folder: Path):
    _write(folder, qrels=QRELS + "q9\td1\t1\n")
    message = _error(folder)
    assert "test.tsv:5" in message and "'q9'" in message and "queries.jsonl" in message


@pytest.mark.parametrize("rel, content, expected", [("corpus.jsonl", "\n", "no documents"),
                                                    ("qrels/test.tsv", "query-id\tcorpus-id\tscore\n", "no judgments")])
def test_empty_files(folder: Path, rel: str, content: str, expected: str):
    (folder / rel).write_text(content, encoding="utf-8")
    message = _error(folder)
    assert rel.split("/")[-1] in message and expected in message


def test_lenient_keeps_dangling_judgments_and_drops_textless_queries(folder: Path):
    _write(folder, qrels=QRELS + "q1\tghost\t1\nq9\td1\t1\n")
    data = load_beir_folder(folder, strict=False)
    assert data.qrels["q1"] == {"d1": 1, "ghost": 1}  # a miss for every model, as in BEIR's own scores
    assert "q9" not in data.qrels and "q9" not in data.queries
    assert (data.meta["dangling_judgments"], data.meta["queries_without_text"]) == (1, 1)


# ---------------------------------------------------------------------------------------------- downloads


def _zip_bytes(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/corpus.jsonl", "".join(json.dumps(d) + "\n" for d in CORPUS))
        zf.writestr(f"{name}/queries.jsonl", "".join(json.dumps(q) + "\n" for q in QUERIES))
        zf.writestr(f"{name}/qrels/test.tsv", QRELS)
        zf.writestr(f"{name}/padding.bin", random.Random(0).randbytes(8000))  # incompressible: room to cut mid-way
    return buf.getvalue()


class _Server:
    """A threaded HTTP server on 127.0.0.1 serving one payload, honouring Range unless told not to."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.requests: list[str | None] = []  # the Range header of each request
        self.honour_range = True
        self.cut_after: int | None = None  # close the connection after this many body bytes (once)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(rng)
                if not self.path.endswith(".zip"):
                    self.send_error(404)
                    return
                start = int(rng[6:-1]) if rng and server.honour_range else 0
                if start >= len(server.payload) and rng:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(server.payload)}")
                    self.end_headers()
                    return
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[:server.cut_after], None
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server(_zip_bytes("tinyset"))
    yield srv
    srv.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_verifies_md5_and_unzips_atomically(server: _Server, tmp_path: Path):
    path = download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path, md5=_md5(server.payload))
    assert path == tmp_path / "tinyset" and (path / DOWNLOAD_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tinyset"]  # no .part, no temp folder left
    assert load_beir_folder(path).queries == {"q1": "what purrs", "q2": "who barks"}


def test_second_call_does_not_download(server: _Server, tmp_path: Path):
    url = f"{server.url}/tinyset.zip"
    download_beir("tinyset", url=url, dest=tmp_path)
    server.close()
    assert download_beir("tinyset", url=url, dest=tmp_path) == tmp_path / "tinyset"
    assert len(server.requests) == 1


def test_bad_md5_leaves_nothing_behind(server: _Server, tmp_path: Path):
    with pytest.raises(UserError, match="expected 0{32}") as info:
        download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path, md5="0" * 32)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_resume_partial_download(server: _Server, tmp_path: Path):
    half = len(server.payload) // 2
    (tmp_path / "tinyset.zip.part").write_bytes(server.payload[:half])
    download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path, md5=_md5(server.payload))
    assert server.requests == [f"bytes={half}-"]
    assert (tmp_path / "tinyset" / "corpus.jsonl").is_file()


def test_server_ignoring_range_restarts(server: _Server, tmp_path: Path):
    server.honour_range = False
    (tmp_path / "tinyset.zip.part").write_bytes(b"garbage that must not be kept")
    download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path, md5=_md5(server.payload))
    assert (tmp_path / "tinyset" / "corpus.jsonl").is_file()


def test_complete_part_file_is_used(server: _Server, tmp_path: Path):
    (tmp_path / "tinyset.zip.part").write_bytes(server.payload)
    download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path, md5=_md5(server.payload))
    assert (tmp_path / "tinyset" / "corpus.jsonl").is_file()


def test_dropped_connection_keeps_part_and_resumes(server: _Server, tmp_path: Path):
    url = f"{server.url}/tinyset.zip"
    server.cut_after = 1000
    with pytest.raises(UserError, match="kept and resumed") as info:
        download_beir("tinyset", url=url, dest=tmp_path, md5=_md5(server.payload))
    assert url in str(info.value) and (tmp_path / "tinyset.zip.part").stat().st_size == 1000
    download_beir("tinyset", url=url, dest=tmp_path, md5=_md5(server.payload))
    assert server.requests[-1] == "bytes=1000-" and (tmp_path / "tinyset" / "corpus.jsonl").is_file()


def test_network_errors_name_url_and_offline_route(server: _Server, tmp_path: Path):
    missing = f"{server.url}/nothing-here"
    with pytest.raises(UserError, match="HTTP 404") as info:
        download_beir("tinyset", url=missing, dest=tmp_path)
    assert missing in str(info.value) and "path:" in str(info.value)
    server.close()
    with pytest.raises(UserError, match="internet") as info:
        download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path)
    assert "\n" not in str(info.value) and not (tmp_path / "tinyset").exists()


def test_not_a_zip(server: _Server, tmp_path: Path):
    server.payload = b"<html>maintenance</html>"
    with pytest.raises(UserError, match="not a zip"):
        download_beir("tinyset", url=f"{server.url}/tinyset.zip", dest=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_name(tmp_path: Path):
    with pytest.raises(UserError, match="not a dataset name"):
        download_beir("../etc", dest=tmp_path)
