"""MTEB bridge: any mteb task or benchmark, scored by mteb itself, for every config x dim x precision of a suite.

How a task's grid is run (`grid.MtebGrid`, on the shared grid core `leafbench.evaluate.grid`):

1. Plan: every cell's identity from cached fingerprints and the task's data stamp, so a finished task is reused
   without loading its data or any model.
2. Discovery: `mteb.evaluate` runs once with `encoders.DiscoveryEncoder`, which records every text the task asks to
   encode (per split, subset and prompt type) and answers with cheap 8-d placeholders. What a task encodes does not
   depend on the embeddings, so this is the full list, known before anything is embedded.
3. Encoding: each config routes prompt types to (model, role): `query` -> its query model, `document` -> its
   document model, none (STS, classification, clustering, ...) -> the model of the suite's `symmetric_side`, in the
   role whose prompt is empty where it has one (mteb embeds those tasks without a prompt). All texts of one
   (model, role) go to the shared EmbeddingService in one call: one encoding pass per distinct (model, role),
   content-addressed, so texts the retrieval grid (or another config) already embedded are not embedded again.
4. Cells: for every dim and precision, `mteb.evaluate` runs with `encoders.LeafbenchEncoder`, which reads the stored
   embeddings and transforms them (MRL truncation + renormalisation; int8/binary quantization). int8 is calibrated
   per task subset on the document side when the task has one (retrieval, reranking), else on all the subset's texts;
   never per encode call (a query batch calibrated on itself collapses; `calibration`). The record says which.

Results go to `<results>/<suite>/mteb/results/` in MTEB's own layout (`results`), one `MtebCell` record per cell
under `mteb/cells/`, and the leaderboard aggregates (`naming`) of every config/dim/precision to
`mteb/leaderboard.json`. Task lookup lives in `tasks`. Importing this package imports neither mteb nor torch.
"""
