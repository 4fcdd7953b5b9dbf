"""Benchmark: LEAF training throughput (samples/s), leafbench's trainer vs sentence-transformers' own trainer with
MSELoss, on the same texts, the same student (MiniLM-L6 + Dense 384 -> 768 + Normalize), batch size, sequence cap,
precision, for one epoch over the same texts (so both see the same mix of short and long texts).

Throughput does not depend on the target values, so the targets are fixed random unit vectors: no teacher has to
encode anything. The texts are a seeded mix of packaged headlines (queries) and article passages (documents).
leafbench's edge comes from length bucketing (batches of one role and similar length: little padding); both
trainers autocast to bf16 when --bf16 is given.

Both are run `--repeats` times, alternating, and the best rate of each is reported: the first run in a process pays
one-time costs (thread pools, kernel selection), and on a shared machine the best run is the least disturbed.

    python benchmarks/distill.py [--texts 512] [--batch-size 32] [--max-seq-length 128] [--bf16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def mixed_texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(text, role): half BBC headlines, half the first 120 words of BBC bodies, seeded."""
    from leafbench.datasets.bbc import read_bbc_articles

    arts = read_bbc_articles()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(arts), n, replace=False)
    return [(arts[i]["title"], "query") if j % 2 else (" ".join(arts[i]["body"].split()[:120]), "document")
            for j, i in enumerate(pick)]


def student(max_seq_length: int):
    from sentence_transformers import SentenceTransformer

    from leafbench.assets import resolve_model
    from leafbench.distill.model import build_student

    torch.manual_seed(0)
    init = SentenceTransformer(resolve_model("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
    init.max_seq_length = max_seq_length
    return build_student(init, 768, normalize=True, device="cpu")


def leafbench_rate(texts, targets, args) -> float:
    from leafbench.distill.data import TrainText
    from leafbench.distill_spec import DistillTraining
    from leafbench.distill.trainer import LeafTrainer

    items = [TrainText(t, r, 0) for t, r in texts]
    cfg = DistillTraining(epochs=1, batch_size=args.batch_size, bf16=args.bf16, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = LeafTrainer(student(args.max_seq_length), items, targets, items[:4], targets[:4], {}, cfg,
                              Path(tmp), "cpu")
        state = trainer.train()
    return state.samples / state.train_seconds


def sentence_transformers_rate(texts, targets, args) -> float:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MSELoss

    model = student(args.max_seq_length)
    data = Dataset.from_dict({"text": [t for t, _ in texts], "label": targets.tolist()})
    with tempfile.TemporaryDirectory() as tmp:
        training_args = SentenceTransformerTrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, num_train_epochs=1, learning_rate=1e-4,
            bf16=args.bf16, use_cpu=True, save_strategy="no", report_to="none",
            logging_strategy="no", dataloader_drop_last=False, seed=0)
        trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=data,
                                             loss=MSELoss(model))
        output = trainer.train()
    return float(output.metrics["train_samples_per_second"])  # their own figure: the training loop's runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    try:
        import accelerate  # noqa: F401 - sentence-transformers' trainer (the comparison) needs it
    except ImportError:
        parser.error("the comparison trains with sentence-transformers' trainer, which needs accelerate: "
                     "pip install 'accelerate>=1.1'")
    texts = mixed_texts(args.texts)
    rng = np.random.default_rng(1)
    targets = rng.normal(size=(len(texts), 768)).astype(np.float32)
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    print(f"{len(texts)} texts (one epoch), batch {args.batch_size}, max_seq_length {args.max_seq_length}, "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    ours = theirs = 0.0
    for i in range(args.repeats):
        a, b = leafbench_rate(texts, targets, args), sentence_transformers_rate(texts, targets, args)
        print(f"run {i + 1}: leafbench {a:.1f}, sentence-transformers {b:.1f} samples/s", flush=True)
        ours, theirs = max(ours, a), max(theirs, b)
    print(f"leafbench LeafTrainer          {ours:7.1f} samples/s")
    print(f"sentence-transformers MSELoss  {theirs:7.1f} samples/s")
    print(f"ratio                          {ours / theirs:7.2f}x")


if __name__ == "__main__":
    main()
