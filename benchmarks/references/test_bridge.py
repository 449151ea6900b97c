"""The reference bridge on small known functions (n = 10: every mask can be checked).

Run with our venv::

    .venv/bin/python -m pytest benchmarks/references/test_bridge.py

Skipped when the reference venv is missing (``bash benchmarks/references/setup_env.sh``).
spectralexplain's ``proxy_spex`` (60 LightGBM fits of up to 5,000 trees: minutes per call)
runs only with ``SPEXLEARN_SLOW_REFERENCES=1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge import (
    REFERENCE_METHODS,
    WITHIN_BUDGET,
    ReferenceError,
    available,
    run_reference,
)

pytestmark = pytest.mark.skipif(
    not available(), reason="no reference venv: run bash benchmarks/references/setup_env.sh"
)

N, BUDGET, SEED = 10, 600, 0  # budget below 2^10: the references sample, not enumerate

# Möbius (AND-like) terms of order <= 2, additive terms, Fourier (XOR-like) terms.
MOBIUS = {(): 1.0, (0,): 2.0, (1, 2): -1.5, (3, 4): 1.2, (5,): 0.8, (2, 6): 0.9}
ADDITIVE = {(): 0.5, **{(i,): (-1) ** i * (1 + 0.25 * i) for i in range(N)}}
FOURIER = {(): 0.3, (1,): 1.0, (2, 7): -0.8, (0, 5): 0.6, (3,): -0.7, (4, 8): 0.9}

# method -> (function, smallest R² on all masks accepted, measured value in the comment)
CASES = {
    "shapiq-proxyspex": ("fourier", 0.999),  # 1.000 (0.960 on MOBIUS: 95 % energy cut)
    "shapiq-spex": ("fourier", 0.999),  # 1.000
    "spectralexplain-spex": ("fourier", 0.999),  # 1.000
    "shapiq-proxyshap": ("mobius", 0.99),  # 0.9995
    "shapiq-polyshap": ("mobius", 0.9999),  # 1.000
    "shapiq-kernelshapiq": ("mobius", 0.99),  # 0.9995
    "shapiq-regressionfsii": ("mobius", 0.9999),  # 1.000
    "shapiq-regressionfbii": ("mobius", 0.9999),  # 1.000
    "shapiq-kernelshap": ("additive", 0.9999),  # 1.000
    "shapiq-leverageshap": ("additive", 0.9999),  # 1.000
    "shapiq-oddshap": ("additive", 0.9999),  # 1.000
    "contextcite": ("additive", 0.99),  # 0.9999 (LASSO shrinkage)
    "contextcite-budget": ("additive", 0.99),  # 0.9999
}
SLOW = {"spectralexplain": ("mobius", 0.85)}  # 0.931 at n = 8, budget 256


def _function(name: str, n: int = N):
    from spexlearn import SparseSpectrum

    terms = {"mobius": MOBIUS, "additive": ADDITIVE, "fourier": FOURIER}[name]
    kind = "fourier" if name == "fourier" else "mobius"
    terms = {s: c for s, c in terms.items() if all(i < n for i in s)}
    return SparseSpectrum(list(terms), list(terms.values()), n, kind=kind)


def _r2(spectrum, truth, n: int) -> float:
    from spexlearn.masks import every_mask

    X = every_mask(n)
    y = truth.evaluate(X)
    return 1.0 - float(((y - spectrum.evaluate(X)) ** 2).sum() / ((y - y.mean()) ** 2).sum())


class Recorder:
    """A value function that keeps every batch it was asked for."""

    def __init__(self, truth):
        self.truth, self.batches = truth, []

    def __call__(self, masks):
        self.batches.append(np.array(masks))
        return self.truth.evaluate(masks)


def test_every_method_has_a_case():
    assert set(CASES) | set(SLOW) == set(REFERENCE_METHODS)


@pytest.mark.parametrize("method", sorted(CASES))
def test_surrogate_is_faithful(method):
    function, least_r2 = CASES[method]
    truth = _function(function)
    values = Recorder(truth)
    result = run_reference(method, values, N, BUDGET, seed=SEED, max_order=5, threads=1,
                           timeout=300)
    assert result.spectrum.kind == "fourier"
    assert result.spectrum.n_components == N
    r2 = _r2(result.spectrum, truth, N)
    assert r2 >= least_r2, (method, r2, result.notes)
    # The masks served: uint8 0/1 rows, each one once, as many as it reports.
    served = np.concatenate(values.batches)
    assert served.dtype == np.uint8 and set(np.unique(served)) <= {0, 1}
    assert len(np.unique(served, axis=0)) == len(served) == result.n_queries
    assert result.n_requested >= result.n_queries > 0
    if method in WITHIN_BUDGET:
        assert result.n_queries <= BUDGET
    if method == "contextcite":
        assert result.n_queries <= 64
    assert result.overhead_seconds >= 0.0
    assert result.version and result.notes


@pytest.mark.skipif(os.environ.get("SPEXLEARN_SLOW_REFERENCES") != "1",
                    reason="minutes per call; set SPEXLEARN_SLOW_REFERENCES=1")
@pytest.mark.parametrize("method", sorted(SLOW))
def test_slow_surrogate_is_faithful(method):
    function, least_r2 = SLOW[method]
    n, budget = 8, 256
    truth = _function(function, n)
    result = run_reference(method, truth.evaluate, n, budget, seed=SEED, threads=1,
                           timeout=3600)
    assert _r2(result.spectrum, truth, n) >= least_r2
    assert result.n_queries <= budget


def test_same_seed_same_surrogate():
    truth = _function("mobius")
    first = run_reference("shapiq-regressionfbii", truth.evaluate, N, 300, seed=3, threads=1)
    again = run_reference("shapiq-regressionfbii", truth.evaluate, N, 300, seed=3, threads=1)
    assert first.spectrum.allclose(again.spectrum, atol=1e-10)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown reference method"):
        run_reference("shapiq-nothing", np.sum, 4, 16)


def test_method_that_cannot_run_the_task():
    # shapiq's ProxySPEX builds its size weights as floats of C(n, k): too large at n = 2000.
    def never(masks):
        raise AssertionError("no value should be asked for")

    with pytest.raises(ReferenceError, match="OverflowError") as info:
        run_reference("shapiq-proxyspex", never, 2000, 1000, threads=1, timeout=120)
    assert info.value.method == "shapiq-proxyspex"
    assert "Traceback" in str(info.value)


def test_budget_below_the_design():
    truth = _function("fourier")
    with pytest.raises(ReferenceError, match="Insufficient budget"):
        run_reference("shapiq-spex", truth.evaluate, N, 100, threads=1, timeout=120)


def test_value_function_error_reaches_the_caller():
    def broken(masks):
        raise KeyError("no such mask in the cache")

    with pytest.raises(KeyError, match="no such mask"):
        run_reference("shapiq-kernelshap", broken, N, 100, threads=1, timeout=120)


def test_timeout_kills_the_worker():
    truth = _function("mobius")
    with pytest.raises(ReferenceError, match="timed out"):
        run_reference("shapiq-proxyspex", truth.evaluate, N, BUDGET, threads=1, timeout=0.5)
