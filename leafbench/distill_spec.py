"""The `distill:` section of a suite: which teacher, which student init, which texts, how long to train.

Kept apart from `leafbench.config` (which imports it) and free of torch, so validating a suite stays instant. The
models the stage produces get names (`outputs`), and the suite injects them into its `models` as ordinary model
entries pointing at the exported folders, so configs evaluate a distilled student like any other model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from leafbench.strict import Strict

# News and Wikipedia text, plus broad short texts: the student's WordPiece vocabulary (whole words), an English word
# list (GCIDE, from `english-words`) and the docstrings of Python's standard library (technical reference text).
PackagedText = Literal["wikipedia", "lee-background", "bbc-news", "newsgroups", "vocabulary", "english-words",
                       "docstrings"]
# The packaged retrieval tasks whose text each packaged training source reads (the others read no task's text):
# an off-domain yardstick built from the same text would be trained on.
SOURCE_TASK_TEXT: dict[str, set[str]] = {"wikipedia": {"wiki-sections"}, "bbc-news": {"bbc-news-titles"}}
TextRole = Literal["auto", "query", "document"]
# Settings that do not change the trained weights: editing them must not start a new run (the distill stage
# re-exports or re-scores a finished run instead: leafbench.distill.inputs).
OPERATIONAL_FIELDS = {"checkpoint_every", "validate_every"}  # of `training`
NOT_WEIGHTS = {"curve_tasks", "off_domain_tasks", "outputs"}  # of the distill section
MODEL_OPERATIONAL = {"batch_size"}  # of the teacher's and student's model entries


# Bumped when the training loop's meaning changes for the same settings (2: mse is the squared L2 distance per text,
# the ranking bank holds each row once); part of every distill run's identity.
TRAINING_VERSION = 2
# Bumped when the static family's token vectors change meaning for the same settings (leafbench.distill.static);
# part of a static run's identity.
STATIC_VERSION = 1
StudentFamily = Literal["transformer", "static"]


class TextSource(Strict):
    """One origin of training texts; exactly one of packaged / file / beir_folder / task / hf.

    `role`: `auto` keeps a source's own split (titles, headings, subjects and BEIR queries are queries; bodies and
    passages are documents; plain-text lines of at most QUERY_MAX_WORDS words count as queries); `query` or
    `document` keeps (or, for files and HF datasets, labels) only that kind.
    """

    packaged: PackagedText | None = None  # offline text from installed packages
    file: str | None = None  # .txt (one text per line) or .jsonl (`field` of each record)
    beir_folder: str | None = None  # a BEIR folder's corpus and queries
    task: str | None = None  # corpus documents of a suite task (its queries never: they are evaluation queries)
    hf: str | None = None  # a Hugging Face dataset id (online users)
    hf_config: str | None = None
    split: str = "train"  # hf only
    field: str = "text"  # jsonl / hf column holding the text
    role: TextRole = "auto"
    embeddings: str | None = None  # file only: teacher embeddings aligned with its rows (.npy / .parquet)
    max_texts: int | None = Field(default=None, gt=0)  # deterministic sample of this source
    # Pseudo-queries: the first N sentences of each document also become query-like training texts. Short texts are
    # cheap for both models (~20x a 256-token passage), and query alignment is what asymmetric retrieval needs.
    sentences: int = Field(default=0, ge=0)
    # More pseudo-queries: N seeded spans of SPAN_WORDS words from each document (keyword-like fragments).
    spans: int = Field(default=0, ge=0)
    # Query shapes the source lacks: each query text is put into one of these `{}` templates (seeded choice), e.g.
    # "how does {} work?" turns headwords into questions, a shape no packaged source has.
    templates: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_origin(self) -> "TextSource":
        given = [k for k in ("packaged", "file", "beir_folder", "task", "hf") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'packaged:', 'file:', 'beir_folder:', 'task:' or 'hf:'")
        if self.embeddings is not None and self.file is None:
            raise ValueError("'embeddings:' (precomputed teacher embeddings) goes with a 'file:' source only")
        if (self.sentences or self.spans) and (self.role == "query" or self.embeddings is not None):
            raise ValueError("'sentences:'/'spans:' take pieces of the source's documents, which need a teacher to "
                             "embed them: not with 'role: query' or 'embeddings:'")
        if self.task is not None and self.role == "query":
            raise ValueError("a 'task:' source gives corpus documents only: evaluation queries are never "
                             "training text")
        if self.templates and (self.role != "query" or self.embeddings is not None):
            raise ValueError("'templates:' rewrite query texts, which the teacher then embeds: give 'role: query' "
                             "and no 'embeddings:'")
        if any(t.count("{}") != 1 for t in self.templates):
            raise ValueError("each of 'templates:' holds exactly one '{}' (where the text goes)")
        return self

    @property
    def label(self) -> str:
        kind = next(k for k in ("packaged", "file", "beir_folder", "task", "hf") if getattr(self, k) is not None)
        plural = {"query": " (queries)", "document": " (documents)", "auto": ""}[self.role]
        return f"{kind}:{getattr(self, kind)}{plural}"


class DistillData(Strict):
    """How the sources become a training set: passages, dedupe, exclusions, a held-out validation slice."""

    sources: list[TextSource] = Field(min_length=1)
    max_texts: int | None = Field(default=None, gt=0)  # deterministic sample of the pooled texts
    max_words: int = Field(default=200, gt=0)  # longer documents are split into passages of this many words
    max_passages: int = Field(default=4, gt=0)  # per document (the first ones)
    min_words: int = Field(default=5, gt=0)  # shorter documents (and trailing passages) are dropped
    validation: int = Field(default=200, gt=0)  # held-out texts: validation MSE / cosine to the teacher
    # drop every text equal to a query of the suite's tasks, off-domain tasks and offline MTEB retrieval tasks
    exclude_eval_queries: bool = True
    seed: int = 0


class DistillTraining(Strict):
    """The LEAF loop: MSE to the teacher, AdamW with warmup then linear decay, small batches, several epochs."""

    epochs: int = Field(default=3, gt=0)
    max_steps: int | None = Field(default=None, gt=0)  # optimizer steps; caps the epochs
    batch_size: int = Field(default=32, gt=0)
    grad_accum: int = Field(default=1, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    projection_lr: float | None = Field(default=None, gt=0)  # the Dense projection's lr (default: lr)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    grad_clip: float | None = Field(default=1.0, gt=0)
    # autocast the student's forward/backward (weights and optimizer stay fp32); auto: where the device has native
    # bf16 (on CPUs without it, autocast is several times slower than fp32)
    bf16: bool | Literal["auto"] = False
    # Off by default: the targets are exact, and dropout noise both dominates the loss of an already aligned student
    # and makes the early steps undo the ridge fit (held-out MSE rose in the first epoch with it, fell without).
    dropout: bool = False
    max_seq_length: int | None = Field(default=None, gt=0)  # token cap while training (default: the student's)
    query_max_seq_length: int | None = Field(default=None, gt=0)  # a tighter cap for query batches (default: same)
    # The loss: `mse`, the squared L2 distance to the teacher's embedding (LEAF), or `cosine` (1 - cosine), plus, with
    # rank_weight > 0, a ranking term for asymmetric retrieval: KL(softmax(teacher query . D / T) || softmax(student
    # query . D / T)) over D = the batch's teacher targets plus `rank_bank` cached teacher document embeddings sampled
    # each step. With matryoshka_dims, both are averaged over the full dimension and each listed prefix.
    loss: Literal["mse", "cosine"] = "mse"
    rank_weight: float = Field(default=0.0, ge=0)
    rank_bank: int = Field(default=1024, ge=0)
    rank_temperature: float = Field(default=0.05, gt=0)
    # Mined documents for the ranking term: each text's K nearest training documents by the teacher's own scores join
    # the step's bank, so the term sees the documents a query is confused between, not only random ones.
    rank_mined: int = Field(default=0, ge=0)
    matryoshka_dims: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)
    freeze_embeddings: bool = False  # freeze the word embeddings (half of MiniLM-L6's weights and AdamW state)
    # `leaf`: transformer -> mean pooling -> linear -> normalise (the paper); `init-normalize`: the init's own
    # modules (MiniLM's Normalize included) -> linear -> normalise
    architecture: Literal["leaf", "init-normalize"] = "init-normalize"
    seed: int = 0
    checkpoint_every: int = Field(default=100, gt=0)  # optimizer steps between resumable checkpoints
    validate_every: int | None = Field(default=None, gt=0)  # steps between validations (default: each epoch)
    ridge_alpha: float = Field(default=0.01, ge=0)  # projection init: ridge with alpha = ridge_alpha * N / dim
    ridge_texts: int = Field(default=4000, gt=0)  # training texts used for the ridge fit (a seeded sample)


class StaticVectors(Strict):
    """The static family's token vectors: model2vec's distillation of the `student` model (usually the teacher).

    Each kept vocabulary token goes through the model alone (`[CLS] token [SEP]`, mean-pooled), then PCA to
    `pca_dims` and SIF weighting `sif / (sif + p(rank))` with Zipf frequencies by vocabulary rank, as model2vec does.
    `vocabulary`: keep the model's first N multi-character tokens by id (WordPiece vocabularies are
    frequency-ordered), plus every one-character ASCII token so any word still tokenizes; None keeps the whole vocabulary (~30k: a minute of
    teacher forward passes in bf16 here, three in fp32 on an AVX2 CPU; cached by the model's fingerprint).
    """

    vocabulary: int | None = Field(default=8000, gt=0)
    pca_dims: int | None = Field(default=256, gt=0)  # None: the model's own dimension, no PCA
    sif_coefficient: float | None = Field(default=1e-4, gt=0)  # None: no SIF weighting


class DistillOutputs(Strict):
    """Names under which the produced students join the suite's models (configs reference them like any model)."""

    projection: str | None = "leaf-proj"  # init + ridge projection, before any training step
    finetuned: str = "leaf"


class DistillSpec(Strict):
    """`teacher` and `student` name entries of the suite's `models`; the student entry is the init."""

    teacher: str | None = None  # None: a black-box teacher, every source must give `embeddings:`
    student: str
    # Keep only this many of the init's transformer layers, evenly spaced (first and last kept), or the listed layer
    # indices (0-based, as sentence-transformers' distillation example's layers_to_keep), as that example cuts a
    # student from its teacher: with `student: teacher` the leaf starts in the teacher's own space (None: the init
    # as it is). For the static family, the model whose token vectors are taken is cut (fewer layers per token).
    student_layers: int | list[int] | None = None
    # `transformer`: the student is the `student` model (+ projection); `static`: the student is `student`'s own
    # token vectors (see StaticVectors) -> projection, trained with the same objective on the same teacher targets
    # (`training.lr` is the token vectors' learning rate, `training.projection_lr` the projection's).
    student_family: StudentFamily = "transformer"
    static: StaticVectors = Field(default_factory=StaticVectors)
    outputs: DistillOutputs = Field(default_factory=DistillOutputs)
    data: DistillData
    training: DistillTraining = Field(default_factory=DistillTraining)
    curve_tasks: list[str] = Field(default_factory=list)  # suite tasks scored (student queries vs teacher docs)
    # Suite tasks kept out of every training mix (no source may read them): the off-domain yardstick, scored in the
    # learning curve beside the in-domain curve tasks.
    off_domain_tasks: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _teacher_given(self) -> "DistillSpec":
        if self.teacher is None and any(s.embeddings is None for s in self.data.sources):
            raise ValueError("teacher: required unless every source gives precomputed 'embeddings:'")
        if self.teacher is None and (self.curve_tasks or self.off_domain_tasks):
            raise ValueError("curve_tasks/off_domain_tasks: need a 'teacher:' model to embed the task documents")
        overlap = sorted(set(self.curve_tasks) & set(self.off_domain_tasks))
        if overlap:
            raise ValueError(f"off_domain_tasks: {', '.join(overlap)} also in curve_tasks (a task is either)")
        trained = {s.task for s in self.data.sources if s.task is not None}
        for name in self.off_domain_tasks:
            if name in trained:
                raise ValueError(f"off_domain_tasks: '{name}' is also a training source (data.sources); an "
                                 f"off-domain task must stay out of training")
        layers = self.student_layers
        if isinstance(layers, int) and layers <= 0:
            raise ValueError(f"student_layers: {layers} layers; expected a positive count or a list of layer indices")
        if isinstance(layers, list) and (not layers or min(layers) < 0 or len(set(layers)) != len(layers)):
            raise ValueError(f"student_layers: {layers}; expected distinct layer indices >= 0, at least one")
        if self.outputs.projection == self.outputs.finetuned:
            raise ValueError("outputs: 'projection' and 'finetuned' need different names")
        return self

    def output_names(self) -> list[str]:
        return [n for n in (self.outputs.projection, self.outputs.finetuned) if n]

    def check_against(self, models: dict[str, Any], task_names: list[str],
                      packaged: dict[str, str] | None = None) -> None:
        """Cross-field checks against the suite (ValueError with the dotted field path, as pydantic reports).

        `packaged` maps each packaged suite task to its registered task: an off-domain task stays out of training
        only if no source reads its text under any name (another split or subset of it, or a packaged source)."""
        for field in ("teacher", "student"):
            ref = getattr(self, field)
            if ref is not None and ref not in models:
                raise ValueError(f"distill.{field}: unknown model '{ref}' (defined in models: "
                                 f"{', '.join(sorted(models))})")
        known = set(task_names)
        for i, source in enumerate(self.data.sources):
            if source.task is not None and source.task not in known:
                raise ValueError(f"distill.data.sources.{i}.task: no task named '{source.task}' in this suite "
                                 f"(tasks: {', '.join(sorted(known)) or 'none'})")
        for field, names in (("curve_tasks", self.curve_tasks), ("off_domain_tasks", self.off_domain_tasks)):
            for name in names:
                if name not in known:
                    raise ValueError(f"distill.{field}: no task named '{name}' in this suite "
                                     f"(tasks: {', '.join(sorted(known)) or 'none'})")
        packaged = packaged or {}
        for name in self.off_domain_tasks:
            text = packaged.get(name)
            for i, source in enumerate(self.data.sources if text else []):
                reads = ({packaged.get(source.task, "")} if source.task is not None
                         else SOURCE_TASK_TEXT.get(source.packaged or "", set()))
                if text in reads:
                    raise ValueError(f"distill.data.sources.{i}: reads the text of the packaged task '{text}', which "
                                     f"off_domain_tasks keeps out of training (as '{name}'); drop the source or the "
                                     f"off-domain task")

    def identity(self, models: dict[str, Any], tasks: list[Any]) -> dict[str, Any]:
        """Everything that determines the trained weights: its hash names the run folder.

        The suite's tasks are part of it when eval queries are excluded, since they decide which texts are removed;
        TRAINING_VERSION stands for the training code itself, so a changed objective never reuses an older run.
        Settings that cannot change the weights are left out; the models' and sources' *content* (fingerprints,
        file digests) is checked by the stage against the finished run (leafbench.distill.inputs).
        """
        spec = self.model_dump(mode="json", exclude=NOT_WEIGHTS)
        for key in OPERATIONAL_FIELDS:
            spec["training"].pop(key, None)
        if self.student_family == "static":
            spec["static_version"] = STATIC_VERSION
        else:
            # the family's fields stay out of a transformer run's identity: its folder is the one it had before them
            spec.pop("static")
            spec.pop("student_family")
        for src in spec["data"]["sources"]:
            if not src["templates"]:
                del src["templates"]  # a source without templates keeps the run folder it had before they existed

        def model(name: str) -> dict[str, Any]:
            return models[name].model_dump(mode="json", exclude=MODEL_OPERATIONAL)

        return {"distill": spec, "training_version": TRAINING_VERSION,
                "teacher": model(self.teacher) if self.teacher else None, "student": model(self.student),
                "eval_tasks": [t.model_dump(mode="json") for t in tasks] if self.data.exclude_eval_queries else []}
