"""The LEAF training loop: the squared L2 distance (or 1 - cosine) between the student's and the teacher's embedding
of the same text, optionally plus a ranking term aimed at asymmetric retrieval (see `rank_loss`), both optionally
also on Matryoshka prefixes of the embeddings (see `objective`).

Plain PyTorch, because resuming *exactly* needs control over everything that carries state: the batch plan is a
pure function of (seed, epoch), and a checkpoint holds the weights, optimizer, scheduler, torch RNG (dropout) and
the running statistics, so a run killed at any point and resumed from its last checkpoint ends with the same
weights and loss as one that never stopped. Batches hold one role (queries and documents take different prompts)
and texts of similar token length (length bucketing: little padding, which is most of the CPU speed-up).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leafbench.distill.data import TrainText
from leafbench.distill.model import autocast, capped, embed, projection, token_cap, token_lengths
from leafbench.distill_spec import DistillTraining
from leafbench.roles import Role
from leafbench.errors import UserError
from leafbench.hardware import native_bf16, resolve_dtype
from leafbench.progress import progress_bar, stderr
from leafbench.timing import timed

MEGA_BATCHES = 32  # length bucketing window: sort this many batches' worth of texts by length, then cut
LOG_LINES = 10  # progress log lines per run (loss, lr, throughput)

EncodeFn = Callable[[list[str], Role], np.ndarray]
CurveFn = Callable[[EncodeFn], dict[str, dict[str, Any]]]  # task -> its figures (leafbench.distill.curve)
StepHook = Callable[[int], None]


@dataclass
class TrainState:
    """Everything besides tensors that a checkpoint must restore."""

    step: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    loss_sum: float = 0.0  # since the last validation
    loss_count: int = 0
    last_loss: float = float("nan")
    texts_digest: str = ""  # the training texts this state belongs to: a checkpoint of other texts is not resumed
    history: list[dict[str, Any]] = field(default_factory=list)


def plan_steps(lengths: np.ndarray, roles: list[Role], cfg: DistillTraining) -> list[tuple[int, list[np.ndarray]]]:
    """(epoch, micro-batches) per optimizer step, for the whole run; deterministic in (seed, epoch)."""
    role_arr = np.array(roles)
    steps: list[tuple[int, list[np.ndarray]]] = []
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        batches: list[np.ndarray] = []
        for role in ("query", "document"):
            idx = np.flatnonzero(role_arr == role)
            rng.shuffle(idx)
            window = cfg.batch_size * MEGA_BATCHES
            for start in range(0, len(idx), window):
                chunk = idx[start:start + window]
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                batches += [chunk[i:i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        for i in range(0, len(batches), cfg.grad_accum):
            steps.append((epoch, batches[i:i + cfg.grad_accum]))
    return steps[:cfg.max_steps] if cfg.max_steps else steps


def _lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def _param_groups(model: torch.nn.Module, cfg: DistillTraining) -> list[dict[str, Any]]:
    """No weight decay on biases and LayerNorm; the projection may take its own learning rate."""
    proj = {id(p) for p in projection(model).parameters()}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim > 1 and "LayerNorm" not in name and "layer_norm" not in name
        groups.setdefault((id(p) in proj, decay), []).append(p)
    return [{"params": ps, "lr": (cfg.projection_lr or cfg.lr) if is_proj else cfg.lr,
             "weight_decay": cfg.weight_decay if decay else 0.0} for (is_proj, decay), ps in groups.items()]


def rank_loss(student: torch.Tensor, teacher: torch.Tensor, docs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher . docs / T) || softmax(student . docs / T)), mean over the batch.

    `docs` are teacher document embeddings (the batch's targets plus a bank of cached ones): the student's text
    should rank them as the teacher's embedding of the same text does, which is exactly what asymmetric retrieval
    (student queries against teacher-embedded documents) asks of it. MSE alone spends its effort on directions no
    ranking ever reads.
    """
    log_p_student = torch.log_softmax(student @ docs.T / temperature, dim=1)
    p_teacher = torch.softmax(teacher @ docs.T / temperature, dim=1)
    return torch.nn.functional.kl_div(log_p_student, p_teacher, reduction="batchmean")


def embedding_loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """`mse`: LEAF's squared L2 distance per text (summed over dimensions, mean over the batch), so it keeps its
    weight beside the ranking term at any dimension (a per-element mean is dim times smaller: at 768-d the ranking
    term alone steered training and query cosine to the teacher stalled); `cosine`: 1 - cosine."""
    if kind == "cosine":
        return (1 - torch.nn.functional.cosine_similarity(out, target, dim=1)).mean()
    return (out - target).pow(2).sum(dim=1).mean()


def prefix(emb: torch.Tensor, dim: int) -> torch.Tensor:
    """The first `dim` coordinates, renormalised: how the grid evaluates a Matryoshka dimension."""
    return torch.nn.functional.normalize(emb[:, :dim], dim=1)


def objective(out: torch.Tensor, target: torch.Tensor, bank: torch.Tensor | None, cfg: DistillTraining) -> torch.Tensor:
    """The embedding loss plus `rank_weight` x the ranking term over [targets; bank], at the full dimension and,
    averaged with it, at each of `matryoshka_dims` (prefixes renormalised), as sentence-transformers' MatryoshkaLoss
    wraps a loss: the leaf is then asked for what the grid scores at 256-d, not only at full size."""
    full = out.shape[1]
    dims = [full] + [d for d in cfg.matryoshka_dims if d < full]
    docs = torch.cat([target, bank]) if cfg.rank_weight and bank is not None else None
    total = out.new_zeros(())
    for dim in dims:
        o, t = (out, target) if dim == full else (prefix(out, dim), prefix(target, dim))
        loss = embedding_loss(o, t, cfg.loss)
        if docs is not None:
            d = docs if dim == full else prefix(docs, dim)
            loss = loss + cfg.rank_weight * rank_loss(o, t, d, cfg.rank_temperature)
        total = total + loss
    return total / len(dims)


def mine_neighbours(targets: torch.Tensor, doc_rows: np.ndarray, k: int, chunk: int = 4096) -> np.ndarray:
    """[len(targets), k] rows of `doc_rows`: each text's k highest-scoring documents by teacher dot product (itself
    excluded), computed once from the cached targets in chunks (memory stays at chunk x documents)."""
    k = min(k, max(len(doc_rows) - 1, 0))
    if k == 0:
        return np.zeros((len(targets), 0), dtype=np.int64)
    docs = targets[doc_rows]
    doc_index = torch.from_numpy(np.asarray(doc_rows, dtype=np.int64))
    out = np.empty((len(targets), k), dtype=np.int64)
    for start in range(0, len(targets), chunk):
        scores = targets[start:start + chunk] @ docs.T
        rows = torch.arange(start, min(start + chunk, len(targets)))
        scores[doc_index[None, :] == rows[:, None]] = -torch.inf  # a document is not its own neighbour
        out[start:start + chunk] = doc_index[scores.topk(k, dim=1).indices].numpy()
    return out


def freeze_word_embeddings(model) -> int:
    """Stop training the transformer's word-embedding table, or a static model's token vectors (no gradients, no
    AdamW state); returns the weights frozen. Position and token-type embeddings stay trainable: they are tiny."""
    frozen = 0
    for module in model.modules():
        emb = getattr(module, "word_embeddings", None)
        if isinstance(module, torch.nn.EmbeddingBag):  # StaticEmbedding's table: only the projection trains
            emb = module
        if isinstance(emb, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            emb.weight.requires_grad_(False)
            frozen += emb.weight.numel()
    return frozen


class LeafTrainer:
    """Trains `model` toward `targets` (teacher embeddings, row-aligned with `train`) and checkpoints into `folder`."""

    def __init__(self, model, train: list[TrainText], targets: np.ndarray, validation: list[TrainText],
                 val_targets: np.ndarray, prompts: dict[str, str], cfg: DistillTraining, folder: Path,
                 device: str, curve: CurveFn | None = None, on_step: StepHook | None = None):
        self.model, self.cfg, self.folder, self.device = model, cfg, Path(folder), device
        self.bf16 = resolve_dtype("auto" if cfg.bf16 == "auto" else "bf16" if cfg.bf16 else "fp32", device) == "bf16"
        if cfg.bf16 is True and not native_bf16(device):
            stderr.log(f"distill.training.bf16: true on a {device} without native bf16 runs several times slower "
                       f"than fp32 here; 'bf16: auto' picks the fast one")
        self.train_texts, self.validation = train, validation
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self.val_targets = val_targets
        self.prompts, self.curve, self.on_step = prompts, curve, on_step
        own = token_cap(model)  # None: a static model, which reads every token
        self.caps: dict[str, int | None] = {
            "document": own, "query": None if own is None else min(cfg.query_max_seq_length or own, own)}
        self.frozen = freeze_word_embeddings(model) if cfg.freeze_embeddings else 0
        lengths = token_lengths(model, [(prompts.get(t.role) or "") + t.text for t in train])
        self.lengths = np.array([min(n, self.caps[t.role] or n) for n, t in zip(lengths, train)])
        # The ranking term's bank: teacher embeddings of the training documents (cached targets, no extra encoding)
        docs = np.flatnonzero(np.array([t.role == "document" for t in train], dtype=bool))
        self.bank_rows = docs if len(docs) else np.arange(len(train))
        self.mined = mine_neighbours(self.targets, self.bank_rows, cfg.rank_mined) if cfg.rank_weight else None
        self.steps = plan_steps(self.lengths, [t.role for t in train], cfg)
        warmup = int(cfg.warmup_ratio * len(self.steps))
        self.optimizer = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(len(self.steps), warmup))
        self.state = TrainState()

    # ------------------------------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / "checkpoints"

    def latest_checkpoint(self) -> Path | None:
        done = sorted(p for p in self.checkpoint_dir.glob("step-*") if (p / "state.json").is_file())
        return done[-1] if done else None

    def save_checkpoint(self) -> Path:
        """Write into a temp folder and rename: a kill mid-write leaves the previous checkpoint intact."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        final = self.checkpoint_dir / f"step-{self.state.step:07d}"
        tmp = self.checkpoint_dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        torch.save(self.model.state_dict(), tmp / "model.pt")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "rng": torch.get_rng_state()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(self.state.__dict__, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in self.checkpoint_dir.iterdir():
            if old != final:
                shutil.rmtree(old, ignore_errors=True)  # older checkpoints and stale temp folders
        return final

    @staticmethod
    def checkpoint_digest(path: Path) -> str:
        return json.loads((path / "state.json").read_text()).get("texts_digest", "")

    def load_checkpoint(self, path: Path) -> None:
        self.model.load_state_dict(torch.load(path / "model.pt", map_location=self.device))
        extra = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(extra["optimizer"])
        self.scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["rng"])
        self.state = TrainState(**json.loads((path / "state.json").read_text()))

    # ---------------------------------------------------------------------------------------------- metrics

    def encode(self, texts: list[str], role: Role) -> np.ndarray:
        return embed(self.model, texts, [role] * len(texts), self.prompts, self.cfg.batch_size, self.bf16)

    @timed("validation")
    def validate(self, epoch: float) -> dict[str, Any]:
        """Held-out MSE and mean cosine to the teacher (+ the learning-curve tasks); appended to the history."""
        emb = embed(self.model, [t.text for t in self.validation], [t.role for t in self.validation],
                    self.prompts, self.cfg.batch_size, self.bf16)
        tgt = self.val_targets
        cos = np.sum(emb * tgt, axis=1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(tgt, axis=1) + 1e-12)
        roles = np.array([t.role for t in self.validation])
        event: dict[str, Any] = {
            "step": self.state.step, "samples_seen": self.state.samples, "epoch": round(epoch, 3),
            "val_mse": float(np.mean((emb - tgt) ** 2)), "val_cosine": float(cos.mean()),
            "val_cosine_queries": float(cos[roles == "query"].mean()) if (roles == "query").any() else None,
            "val_cosine_documents": float(cos[roles == "document"].mean()) if (roles == "document").any() else None,
            "train_loss": self.state.loss_sum / self.state.loss_count if self.state.loss_count else None,
            "lr": self.scheduler.get_last_lr()[0]}
        if self.curve is not None:
            event["curve"] = self.curve(self.encode)
        self.state.loss_sum, self.state.loss_count = 0.0, 0
        self.state.history.append(event)
        curve = " ".join(f"{k} {v['ndcg10']:.4f} ({100 * v['ndcg10'] / max(v['teacher_ndcg10'], 1e-9):.0f}%, "
                         f"q-cos {v['query_cosine']:.3f})" for k, v in (event.get("curve") or {}).items())
        stderr.log(f"validation step {self.state.step}: cosine {event['val_cosine']:.4f} mse {event['val_mse']:.3e}"
                   f"{' | asym nDCG@10 ' + curve if curve else ''}")
        return event

    # ------------------------------------------------------------------------------------------------- loop

    def _bank(self, step: int, batch: np.ndarray) -> torch.Tensor:
        """Cached teacher document embeddings for the ranking term: a seeded sample per step (resumes exactly) plus
        the batch's mined neighbours, each row once."""
        rng = np.random.default_rng([self.cfg.seed, 7, step])
        rows = rng.choice(self.bank_rows, min(self.cfg.rank_bank, len(self.bank_rows)), replace=False)
        if self.mined is not None:
            rows = np.concatenate([rows, self.mined[batch].ravel()])
        rows = np.setdiff1d(rows, batch)  # the batch's own targets are already the first rows of the bank
        return self.targets[rows]

    def _micro_step(self, batch: np.ndarray, scale: float) -> float:
        items = [self.train_texts[i] for i in batch]
        role = items[0].role
        with capped(self.model, self.caps[role]):
            # "" is no prompt (None would mean the model's default prompt); task= picks a Router's route
            features = self.model.preprocess([t.text for t in items], prompt=self.prompts.get(role, ""), task=role)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        with autocast(self.device, self.bf16):
            out = self.model(features)["sentence_embedding"]
        target = self.targets[batch].to(self.device)
        bank = self._bank(self.state.step, batch).to(self.device) if self.cfg.rank_weight else None
        loss = objective(out.float(), target, bank, self.cfg)
        if not torch.isfinite(loss):  # before any step: the weights and checkpoints stay those of the last good step
            raise UserError(f"distill.training: the training loss became {float(loss.detach())} at step "
                            f"{self.state.step + 1} (diverged); lower training.lr (now {self.cfg.lr}) or keep "
                            f"training.grad_clip on")
        (loss * scale).backward()
        return float(loss.detach())

    def _due_validation(self, index: int) -> bool:
        if index + 1 == len(self.steps):
            return True
        if self.cfg.validate_every:
            return self.state.step % self.cfg.validate_every == 0
        return self.steps[index + 1][0] != self.steps[index][0]  # end of an epoch

    @timed("training")
    def train(self, resume_from: Path | None = None) -> TrainState:
        """Run (or continue) the planned steps; validates at step 0, per schedule, and at the end."""
        if resume_from is not None:
            self.load_checkpoint(resume_from)
            stderr.log(f"resumed from {resume_from} (step {self.state.step}/{len(self.steps)})")
        else:
            torch.manual_seed(self.cfg.seed)
            self.validate(epoch=0.0)
            self.save_checkpoint()
        self.model.train(self.cfg.dropout)  # eval mode = no dropout; gradients flow either way
        total = sum(len(b) for _, micro in self.steps for b in micro)
        log_every = max(1, len(self.steps) // LOG_LINES)
        with progress_bar("distill: train", total, unit="samples") as advance:
            advance(self.state.samples)
            for index in range(self.state.step, len(self.steps)):
                epoch, micro = self.steps[index]
                t0 = time.perf_counter()
                n = sum(len(b) for b in micro)
                losses = [self._micro_step(b, len(b) / n) for b in micro]
                if self.cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                loss = sum(l_ * len(b) for l_, b in zip(losses, micro)) / n
                st = self.state
                st.step, st.samples = st.step + 1, st.samples + n
                st.train_seconds += time.perf_counter() - t0
                st.loss_sum, st.loss_count, st.last_loss = st.loss_sum + loss, st.loss_count + 1, loss
                advance(n)
                if st.step % log_every == 0:
                    stderr.log(f"step {st.step}/{len(self.steps)} epoch {epoch + 1} loss {loss:.4e} "
                               f"lr {self.scheduler.get_last_lr()[0]:.2e} "
                               f"{st.samples / max(st.train_seconds, 1e-9):.1f} samples/s")
                if self._due_validation(index):
                    self.validate(epoch=epoch + (index + 1 - self._epoch_start(epoch)) / self._epoch_len(epoch))
                    self.model.train(self.cfg.dropout)
                if st.step % self.cfg.checkpoint_every == 0 or index + 1 == len(self.steps):
                    self.save_checkpoint()
                if self.on_step is not None:
                    self.on_step(st.step)
        return self.state

    def _epoch_start(self, epoch: int) -> int:
        return next(i for i, (e, _) in enumerate(self.steps) if e == epoch)

    def _epoch_len(self, epoch: int) -> int:
        return sum(1 for e, _ in self.steps if e == epoch)

    def discard_checkpoints(self) -> None:
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
