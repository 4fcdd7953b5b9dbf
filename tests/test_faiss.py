"""FAISS backends: flat equals the exact scan (tie rule included), ANN recall is recorded, indexes are cached,
and on a real packaged task every backend with rescoring lands within 0.002 nDCG@10 of the exact scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from leafbench.metrics import evaluate_run, run_from_topk
from leafbench.search import SearchSpec, build_index, retrieve
from leafbench.transforms import l2_normalize


PRECISIONS = ["float32", "int8", "int8-affine", "binary"]
ALL_BACKENDS = [SearchSpec(backend="flat"), SearchSpec(backend="hnsw", hnsw_m=16, ef_search=64),
                SearchSpec(backend="ivf", nlist=8, nprobe=4)]


def _dyadic(n: int, dim: int, seed: int) -> np.ndarray:
    """Multiples of 1/128 reaching 127/128 in every dim: all products are exact, so ties are exact ties."""
    emb = np.random.default_rng(seed).integers(-127, 128, (n, dim)).astype(np.float32)
    emb[0] = 127
    return emb / 128


@pytest.mark.parametrize("precision", PRECISIONS)
def test_flat_equals_the_exact_scan_ties_included(precision):
    docs = np.repeat(_dyadic(60, 24, 1), 4, axis=0)[np.random.default_rng(2).permutation(240)]  # many ties
    queries = _dyadic(11, 24, 3)
    exact = retrieve(queries, docs, precision, 25)
    flat = retrieve(queries, docs, precision, 25, backend=SearchSpec(backend="flat"))
    np.testing.assert_array_equal(flat.indices, exact.indices)
    np.testing.assert_allclose(flat.scores, exact.scores, rtol=1e-6, atol=1e-6)
    assert flat.variant == f"{exact.variant}; faiss flat" and "recall_vs_exact" not in flat.stats
    assert flat.stats["index_bytes"] > 0 and not flat.stats["index_loaded"]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("spec", ALL_BACKENDS[1:], ids=["hnsw", "ivf"])
def test_approximate_backends_record_recall_and_rescore(precision, spec):
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((10, 32))
    docs = l2_normalize((centers[rng.integers(0, 10, 800)] + 0.5 * rng.standard_normal((800, 32))).astype(np.float32))
    queries = l2_normalize((centers[rng.integers(0, 10, 20)] + 0.5 * rng.standard_normal((20, 32))).astype(np.float32))
    top = retrieve(queries, docs, precision, 10, rescore=30, backend=spec)
    depth = 10 if precision == "float32" else 30  # float32 is never rescored
    assert top.indices.shape == (20, 10) and (top.indices >= 0).all() and top.rescored == (
        0 if precision == "float32" else 10)
    recall = top.stats["recall_vs_exact"]
    assert set(recall) == {"10", str(depth)} and recall[str(depth)] >= 0.8
    exact = retrieve(queries, docs, precision, 10, rescore=30)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top.indices, exact.indices)])
    assert overlap >= 0.9


def test_ivf_fills_k_even_when_its_probed_cells_hold_fewer_docs():
    docs = l2_normalize(np.random.default_rng(5).standard_normal((400, 16)).astype(np.float32))
    top = retrieve(docs[:3], docs, "float32", 200, backend=SearchSpec(backend="ivf", nlist=10, nprobe=1))
    assert (top.indices >= 0).all() and all(len(set(row)) == 200 for row in top.indices.tolist())


def test_indexes_are_cached_by_what_built_them():
    docs, queries = _dyadic(300, 16, 6), _dyadic(4, 16, 7)
    spec = SearchSpec(backend="hnsw", hnsw_m=8)
    first = build_index(docs, "int8", spec)
    again = build_index(docs.copy(), "int8", spec)
    assert not first.stats["index_loaded"] and again.stats["index_loaded"]
    assert again.stats["index_key"] == first.stats["index_key"]
    np.testing.assert_array_equal(again.search(queries, 5)[1], first.search(queries, 5)[1])
    np.testing.assert_array_equal(again.params.scale, first.params.scale)
    other_rows = build_index(docs[:-1], "int8", spec)
    other_spec = build_index(docs, "int8", SearchSpec(backend="hnsw", hnsw_m=12))
    other_precision = build_index(docs, "int8-affine", spec)
    keys = {x.stats["index_key"] for x in (first, other_rows, other_spec, other_precision)}
    assert len(keys) == 4 and not any(x.stats["index_loaded"] for x in (other_rows, other_spec, other_precision))
    keyed = build_index(docs, "int8", spec, docs_key="namespace-a")
    assert not keyed.stats["index_loaded"] and build_index(docs, "int8", spec, docs_key="namespace-a").stats[
        "index_loaded"]


def test_search_spec_identity_and_validation():
    assert SearchSpec.model_validate("hnsw").identity() == {"backend": "hnsw", "hnsw_m": 32, "ef_construction": 200,
                                                           "ef_search": 128}
    assert SearchSpec(backend="hnsw", hnsw_m=32).identity() == SearchSpec(backend="hnsw").identity()
    assert SearchSpec().identity() == {"backend": "exact"}
    with pytest.raises(ValidationError, match="nprobe do not apply to backend 'hnsw'"):
        SearchSpec(backend="hnsw", nprobe=3)
    with pytest.raises(ValidationError):
        SearchSpec(backend="annoy")


@pytest.fixture(scope="module")
def bbc_embeddings() -> tuple[np.ndarray, np.ndarray, list[str], list[str], dict]:
    from sentence_transformers import SentenceTransformer

    from leafbench.assets import MINILM_ID, resolve_model
    from leafbench.datasets.beir import load_beir_folder
    from leafbench.datasets.packaged import build_packaged_task

    data = load_beir_folder(Path(build_packaged_task("bbc-news-titles", max_docs=250, max_queries=120)))
    model = SentenceTransformer(str(resolve_model(MINILM_ID)), device="cpu")
    model.max_seq_length = 96  # small: the test is about search, not the model
    qids, dids = sorted(data.queries), sorted(data.corpus)
    q = model.encode([data.queries[i] for i in qids], batch_size=64, normalize_embeddings=True)
    d = model.encode(data.doc_texts(dids), batch_size=32, normalize_embeddings=True)
    return q.astype(np.float32), d.astype(np.float32), qids, dids, data.qrels


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_every_faiss_backend_with_rescoring_is_within_0002_ndcg_of_exact(bbc_embeddings, precision):
    q, d, qids, dids, qrels = bbc_embeddings
    k_values = [1, 10, 100]

    def ndcg(**kwargs) -> float:
        top = retrieve(q, d, precision, 101, rescore=100, **kwargs)
        return evaluate_run(qrels, run_from_topk(top, qids, dids), k_values)[0]["NDCG@10"]

    exact = ndcg()
    for spec in (SearchSpec(backend="flat"), SearchSpec(backend="hnsw"), SearchSpec(backend="ivf")):
        assert abs(ndcg(backend=spec) - exact) <= 0.002, spec.backend


def test_suite_search_fields_resolve_per_config_and_precision(tmp_path):
    import yaml

    from leafbench.config import load_suite
    from leafbench.errors import UserError

    def suite(**fields) -> Path:
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump({"name": "s", "models": {"m": {"id": "x"}},
                                        "configs": {"a": {"standard": "m"},
                                                    "b": {"standard": "m", "search": {"binary": "ivf"}}},
                                        "tasks": [{"packaged": "bbc-news-titles"}],
                                        "precisions": ["float32", "binary"], **fields}))
        return path

    s = load_suite(suite(search={"backend": "hnsw", "ef_search": 256}))
    assert s.search_for("a", "float32") == SearchSpec(backend="hnsw", ef_search=256)
    assert s.search_for("b", "binary").backend == "ivf" and s.search_for("b", "float32").backend == "exact"
    assert load_suite(suite()).search_for("a", "binary") == SearchSpec()
    with pytest.raises(UserError, match="search"):
        load_suite(suite(search={"backend": "hnsw", "nprobe": 4}))


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_approximate_builds_are_seeded_or_their_nondeterminism_bounded(precision):
    """IVF: seeded k-means, identical rebuilds. HNSW: seeded levels, identical rebuilds on one thread; with the
    machine's threads (parallel insertion) rebuilds stay within 0.02 recall@10 of each other."""
    import faiss

    from leafbench.precisions import get
    from leafbench.search.exact import ExactScan
    from leafbench.search.faiss_index import IVF_SEED, build_faiss_index

    rng = np.random.default_rng(5)
    docs = l2_normalize(rng.standard_normal((3000, 32)).astype(np.float32))
    queries = l2_normalize(docs[:60] + 0.3 * rng.standard_normal((60, 32)).astype(np.float32))
    prec = get(precision)
    exact = ExactScan(docs, prec).search(queries, 10)[1]

    def build(spec: SearchSpec) -> tuple[np.ndarray, dict]:
        built = build_faiss_index(docs, prec, spec)
        return built.search(queries, 10)[1], built.stats

    ivf = SearchSpec(backend="ivf", nlist=30, nprobe=3)
    (a, stats), (b, _) = build(ivf), build(ivf)
    assert stats["train_seed"] == IVF_SEED and np.array_equal(a, b)
    hnsw = SearchSpec(backend="hnsw", hnsw_m=8, ef_construction=16, ef_search=16)
    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        (a, stats), (b, _) = build(hnsw), build(hnsw)
        assert stats["build_threads"] == 1 and np.array_equal(a, b)
    finally:
        faiss.omp_set_num_threads(threads)

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(np.intersect1d(x, y)) / 10 for x, y in zip(found, exact)]))

    recalls = [recall(build(hnsw)[0]) for _ in range(3)]
    assert max(recalls) - min(recalls) <= 0.02, recalls


def test_search_identity_names_the_faiss_version_and_a_cuda_exact_scan():
    """What changes an ANN or exact result is in the cell identity: FAISS's version for a FAISS backend, the device
    for an exact float32 scan on CUDA; a CPU exact scan's identity is unchanged (its cells keep their hashes)."""
    import faiss

    from leafbench.search import search_identity

    assert search_identity(SearchSpec(), "float32", "cpu") == {"backend": "exact"}
    assert search_identity(SearchSpec(), "float32", "cuda") == {"backend": "exact", "device": "cuda"}
    assert search_identity(SearchSpec(), "binary", "cuda") == {"backend": "exact"}  # quantized scans run on the CPU
    for spec in ALL_BACKENDS:
        ident = search_identity(spec, "int8", "cpu")
        assert ident == {**spec.identity(), "faiss": faiss.__version__}
