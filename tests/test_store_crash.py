"""kill -9 during a real encoding pass (tiny model, subprocess): the re-run encodes only what was not committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from leafbench.config import ModelSpec
from leafbench.embed import EmbeddingService

REPO = Path(__file__).resolve().parents[1]
TEXTS = [f"document {i} about {' '.join(['topic'] * (i % 7))} number {i * 7919 % 1000}" for i in range(400)]
SCRIPT = """
import json, sys
from leafbench.config import ModelSpec
from leafbench.embed import EmbeddingService
model, root, texts = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
EmbeddingService({"tiny": ModelSpec(id=model)}, device="cpu", store_root=root).embed("tiny", "document", texts)
"""


def _committed_rows(root: Path) -> int:
    return sum(json.loads(p.read_text())["rows"] for p in root.rglob("*.manifest.json"))


def test_kill_9_mid_encoding_then_rerun_encodes_only_the_rest(tmp_path: Path, tiny_model: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("LEAFBENCH_SHARD_ROWS", "16")
    root = tmp_path / "store"
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(TEXTS))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEAFBENCH_SHARD_ROWS": "16"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tiny_model), str(root), str(texts_file)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(root.rglob("*.manifest.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    committed = _committed_rows(root)
    assert 0 < committed < len(TEXTS)

    service = EmbeddingService({"tiny": ModelSpec(id=str(tiny_model))}, device="cpu", store_root=root)
    resumed = service.embed("tiny", "document", TEXTS)
    assert service.store.encoded_texts == len(TEXTS) - committed
    fresh = EmbeddingService({"tiny": ModelSpec(id=str(tiny_model))}, device="cpu", store_root=tmp_path / "fresh")
    np.testing.assert_allclose(resumed, fresh.embed("tiny", "document", TEXTS), atol=1e-6)
    assert fresh.store.encoded_texts == len(TEXTS)
