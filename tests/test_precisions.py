"""The precision registry: one entry per precision, and the search and MTEB views of it agree."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from leafbench.precisions import PRECISIONS, Precision, get, register
from leafbench.transforms import l2_normalize


def _emb(n: int, dim: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def test_registry_holds_the_four_precisions_and_names_them_on_a_typo():
    assert list(PRECISIONS) == ["float32", "int8", "int8-affine", "binary"]
    assert [get(n).rescorable for n in PRECISIONS] == [False, True, True, True]
    assert {n: get(n).mteb_similarity for n in PRECISIONS} == {"float32": "cosine", "int8": "dot",
                                                                "int8-affine": "dot", "binary": "euclidean"}
    assert get("binary").mteb_experiment_kwargs() == {"output_dtypes": "binary"}
    assert get("int8-affine").mteb_experiment_kwargs() == {"output_dtypes": "int8", "int8_scheme": "affine"}
    assert get("float32").mteb_experiment_kwargs() == {}
    with pytest.raises(ValueError, match="unknown precision 'int4'; expected one of float32, int8"):
        get("int4")
    with pytest.raises(ValueError, match="already registered"):
        register(get("int8"))


@pytest.mark.parametrize("name", list(PRECISIONS))
def test_calibration_in_chunks_equals_one_pass(name):
    docs = _emb(301, 24, 0)
    one, chunked = get(name).calibrate(docs), get(name).calibrate(docs, chunk=7)
    if one is None:
        assert chunked is None
    else:
        for field in ("scale", "ranges"):
            a, b = getattr(one, field), getattr(chunked, field)
            assert (a is None and b is None) or np.array_equal(a, b)


def _scan_scores(p: Precision, queries: np.ndarray, docs: np.ndarray, params: object) -> np.ndarray:
    """[nq, n] scores of every document as the exact scan ranks them (its search at k = n, put back in row order)."""
    from leafbench.search.exact import ExactScan

    scores, idx = ExactScan(docs, p, params=params).search(queries, len(docs))
    out = np.empty_like(scores)
    np.put_along_axis(out, idx, scores, axis=1)
    return out


@pytest.mark.parametrize("name", list(PRECISIONS))
def test_mteb_vectors_rank_as_the_search_scores(name):
    """What the MTEB bridge hands mteb, under mteb's similarity for the precision, orders docs as the search does."""
    p: Precision = get(name)
    queries, docs = _emb(6, 40, 1), _emb(200, 40, 2)
    params = p.calibrate(docs)
    search = _scan_scores(p, queries, docs, params)
    qv, dv = p.mteb_vectors(queries, params).astype(np.float64), p.mteb_vectors(docs, params).astype(np.float64)
    if p.mteb_similarity == "cosine":
        mteb = (qv / np.linalg.norm(qv, axis=1, keepdims=True)) @ (dv / np.linalg.norm(dv, axis=1, keepdims=True)).T
    elif p.mteb_similarity == "dot":
        mteb = qv @ dv.T
    else:
        mteb = -np.sqrt(((qv[:, None, :] - dv[None, :, :]) ** 2).sum(axis=2))
    for row in range(len(queries)):  # in the search's order, mteb's scores never rise (except within search ties)
        order = np.argsort(-search[row], kind="stable")
        rises = np.diff(mteb[row][order]) > 1e-6
        assert not (rises & (np.diff(search[row][order]) != 0)).any()


def test_registry_search_and_spec_import_without_torch():
    code = ("import sys, leafbench.precisions, leafbench.search, leafbench.search.spec, leafbench.transforms; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
