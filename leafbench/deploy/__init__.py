"""Deploy: which model, dim, precision and index to ship, and what it costs at the user's corpus size.

leafbench measures each ingredient separately (nDCG per cell, encode throughput and batch-1 latency per model,
search time vs corpus size per precision); this package puts them together. One job per module:

    numbers      parse `--docs 8.8M` / `--max-bytes 1Ki` style numbers (a bad one is a one-line UserError)
    storage      bytes per document as stored (float32 4d, int8 d + its scales over the corpus, binary d/8, index)
    calibration  timed single-query exact scans on synthetic embeddings at a few corpus sizes, cached per machine
    projection   search time vs N per backend and precision: fitted on small sizes, checked on a larger one
    pareto       the quality/cost frontier (no dominated point on it, every non-dominated point on it)
    budgets      the best configuration under a bytes/doc and/or latency budget
    analysis     one `Point` per (config, dim, precision[, backend]) with every cost at N, each marked
                 measured or projected

Nothing here imports torch, mteb or matplotlib: `leafbench deploy` answers in well under two seconds.
"""
