"""ProxySPEX side by side: spexlearn against shapiq and spectralexplain on the same queries.

Run::

    python benchmarks/bench_proxyspex.py [--n 100] [--budget 2000] [--seed 0] [--test 1000]
                                         [--form fourier|mobius] [--shapiq-sampling cache|own]
                                         [--skip-spectralexplain]

What it does:

1. builds a synthetic sparse Boolean function with a known Fourier spectrum
   (``f(x) = sum_S F(S) (-1)^{|S ∩ x|}``, 40 terms of order <= 3 plus a constant, no noise),
   from ``spexlearn.datasets.make_sparse_function`` or a local fallback of the same recipe.
   Random-sign Fourier terms are XOR-like: a greedy tree proxy barely sees order-3 parities.
   ``--form mobius`` reads the same subsets and coefficients as Möbius terms
   (``f(x) = sum_{S ⊆ x} a(S)``, AND-like), the regime trees handle well;
2. draws ONE cache of ``budget`` distinct uniform random masks (1 = component kept; the
   all-ones and all-zeros masks included) with their values, and ``test`` held-out uniform
   random masks;
3. fits every method on exactly that cache and reports, per method:

   - R² of its surrogate on the held-out masks (faithfulness);
   - fit overhead in seconds: wall-clock time of the whole fit minus the time spent inside
     the value function (a cache lookup here, so it costs next to nothing);
   - the ratio of that overhead to shapiq's;
   - whether its 10 largest non-empty Fourier terms (by |coefficient|) are the true top 10.

Methods:

- ``shapiq``: ``shapiq.ProxySPEX(...).approximate(budget, game)``. Its sampler (a private
  ``_uniform_sampler`` attribute) is swapped for a stub that hands back our cached masks, and
  ``game`` looks values up in the cache. With ``--shapiq-sampling own`` shapiq draws its own
  masks instead and the game computes the true function on them (the query count is printed).
  shapiq returns FBII with ``max_order = n``, which equals the Möbius coefficients of its
  surrogate; the surrogate is evaluated as ``sum_{S ⊆ x} a(S)``.
- ``spectralexplain``: ``spectralexplain.utils.proxy_spex((X, y), max_order=5)``, the function
  its ``Explainer`` calls after drawing masks, given our cached arrays directly. It returns
  Fourier coefficients keyed by 0/1 tuples.
- ``spexlearn``: ``ProxySPEXExplainer(budget=budget, random_state=seed).fit(X, y)`` (values
  given, so no value function); prints "spexlearn: not available" until it exists.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import r2_score

N_TERMS = 40
MAX_ORDER = 3
INTERCEPT = 1.0
TOP_K = 10


# ----------------------------------------------------------------------------- spectra
def fourier_eval(coefs: dict, masks: np.ndarray) -> np.ndarray:
    """Evaluate ``sum_S F(S) (-1)^{|S ∩ x|}`` for a dict {subset tuple: coefficient}."""
    masks = np.asarray(masks, dtype=np.int64)
    out = np.zeros(masks.shape[0])
    for subset, coef in coefs.items():
        parity = masks[:, list(subset)].sum(axis=1) % 2
        out += coef * (1.0 - 2.0 * parity)
    return out


def mobius_eval(coefs: dict, masks: np.ndarray) -> np.ndarray:
    """Evaluate ``sum_{S ⊆ x} a(S)`` for a dict {subset tuple: coefficient}."""
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros(masks.shape[0])
    for subset, coef in coefs.items():
        out += coef * masks[:, list(subset)].all(axis=1)
    return out


def mobius_to_fourier(mobius: dict) -> dict:
    """``F(T) = (-1)^{|T|} sum_{S ⊇ T} 2^{-|S|} a(S)`` by enumerating subsets of each S."""
    from itertools import combinations

    fourier: dict = {}
    for subset, coef in mobius.items():
        for size in range(len(subset) + 1):
            for sub in combinations(subset, size):
                fourier[sub] = fourier.get(sub, 0.0) + (-1.0) ** size * 2.0 ** -len(subset) * coef
    return fourier


def top_terms(fourier: dict, k: int = TOP_K) -> set:
    """The k non-empty subsets with the largest |Fourier coefficient|."""
    items = [(tuple(sorted(s)), c) for s, c in fourier.items() if len(s) > 0]
    items.sort(key=lambda item: -abs(item[1]))
    return {s for s, _ in items[:k]}


# ---------------------------------------------------------------------------- problem
def make_problem(n: int, seed: int, form: str = "fourier"):
    """(value_function, true Fourier dict) for a Fourier- or Möbius-sparse function."""
    f, truth = _fourier_problem(n, seed)
    if form == "fourier":
        return f, truth
    # Same subsets and coefficients read as Möbius terms: AND-like, not XOR-like, interactions.
    return (lambda masks: mobius_eval(truth, masks)), mobius_to_fourier(truth)


def _fourier_problem(n: int, seed: int):
    """(value_function, true Fourier dict), from spexlearn if it has the dataset."""
    try:
        from spexlearn.datasets import make_sparse_function
    except ImportError:
        return _fallback_problem(n, seed)
    try:
        f, truth = make_sparse_function(
            n, N_TERMS, MAX_ORDER, noise=0, random_state=seed, intercept=INTERCEPT
        )
    except TypeError:  # no intercept keyword
        f, truth = make_sparse_function(n, N_TERMS, MAX_ORDER, noise=0, random_state=seed)
    return f, dict(truth.terms())


def _fallback_problem(n: int, seed: int):
    rng = np.random.default_rng(seed)
    subsets: set = set()
    while len(subsets) < N_TERMS:
        order = int(rng.integers(1, MAX_ORDER + 1))
        subsets.add(tuple(sorted(rng.choice(n, size=order, replace=False).tolist())))
    coefs = rng.choice([-1.0, 1.0], size=N_TERMS) * rng.uniform(0.5, 1.0, size=N_TERMS)
    truth = dict(zip(sorted(subsets), coefs.tolist()))
    truth[()] = INTERCEPT
    return (lambda masks: fourier_eval(truth, masks)), truth


def draw_masks(n: int, budget: int, rng: np.random.Generator) -> np.ndarray:
    """``budget`` distinct uniform random masks, the all-zeros and all-ones first."""
    masks = np.vstack([np.zeros(n, np.uint8), np.ones(n, np.uint8)])
    while len(masks) < budget:
        extra = rng.integers(0, 2, size=(budget - len(masks), n), dtype=np.uint8)
        stacked = np.vstack([masks, extra])
        _, first = np.unique(stacked, axis=0, return_index=True)
        masks = stacked[np.sort(first)]
    return masks[:budget]


# ------------------------------------------------------------------- value function
class LookupGame:
    """Value function backed by the cache; a miss computes the true function and is counted."""

    def __init__(self, X: np.ndarray, y: np.ndarray, value_function):
        self.cache = {row.tobytes(): v for row, v in zip(X.astype(np.uint8), y)}
        self.value_function = value_function
        self.seconds = 0.0
        self.n_lookups = 0
        self.n_queries = 0

    def __call__(self, masks) -> np.ndarray:
        start = time.perf_counter()
        masks = np.asarray(masks).astype(np.uint8)
        values = np.array([self.cache.get(row.tobytes(), np.nan) for row in masks])
        missing = np.isnan(values)
        if missing.any():
            values[missing] = self.value_function(masks[missing])
        self.n_lookups += len(masks)
        self.n_queries += int(missing.sum())
        self.seconds += time.perf_counter() - start
        return values


class FixedSampler:
    """Stands in for shapiq's coalition sampler: always 'samples' the cached masks."""

    def __init__(self, masks: np.ndarray):
        self.coalitions_matrix = masks.astype(bool)

    def sample(self, budget: int) -> None:
        if budget != len(self.coalitions_matrix):
            raise ValueError("budget must equal the number of cached masks")


# ----------------------------------------------------------------------------- methods
@dataclass
class Result:
    name: str
    r2: float
    overhead: float
    fourier: dict
    notes: list = field(default_factory=list)


def run_shapiq(X, y, X_test, y_test, value_function, seed, sampling):
    from shapiq import ProxySPEX

    n = X.shape[1]
    approx = ProxySPEX(n=n, index="FBII", max_order=n, random_state=seed)
    if sampling == "cache":
        approx._uniform_sampler = FixedSampler(X)
    game = LookupGame(X, y, value_function)
    start = time.perf_counter()
    values = approx.approximate(len(X), game)
    overhead = time.perf_counter() - start - game.seconds
    # FBII of order n is the Möbius transform of the surrogate (baseline under ()).
    mobius = {s: float(values.values[i]) for s, i in values.interaction_lookup.items()}
    r2 = r2_score(y_test, mobius_eval(mobius, X_test))
    notes = [
        f"masks: {sampling}",
        f"value-function rows {game.n_lookups}, true queries {game.n_queries}",
        f"{sum(1 for s in mobius if s)} Möbius terms",
    ]
    return Result("shapiq ProxySPEX", r2, overhead, mobius_to_fourier(mobius), notes)


def run_spectralexplain(X, y, X_test, y_test):
    from spectralexplain.utils import proxy_spex

    start = time.perf_counter()
    coefs = proxy_spex((X.astype(np.int64), np.asarray(y)), max_order=5)
    overhead = time.perf_counter() - start
    fourier = {tuple(np.flatnonzero(key).tolist()): float(c) for key, c in coefs.items()}
    r2 = r2_score(y_test, fourier_eval(fourier, X_test))
    notes = [f"{sum(1 for s in fourier if s)} Fourier terms"]
    return Result("spectralexplain proxy_spex", r2, overhead, fourier, notes)


def run_ours(X, y, X_test, y_test, seed):
    try:
        from spexlearn import ProxySPEXExplainer
    except ImportError:
        print("spexlearn: not available")
        return None
    est = ProxySPEXExplainer(budget=len(X), random_state=seed)
    start = time.perf_counter()
    est.fit(X, y)
    overhead = time.perf_counter() - start
    r2 = est.score(X_test, y_test)
    fourier = {tuple(s): float(c) for s, c in est.spectrum_.terms().items()}
    notes = [f"{sum(1 for s in fourier if s)} Fourier terms"]
    return Result("spexlearn ProxySPEXExplainer", r2, overhead, fourier, notes)


# ----------------------------------------------------------------------------- report
def print_table(results: list, truth: dict) -> None:
    base = next((r.overhead for r in results if r.name.startswith("shapiq")), None)
    true_top = top_terms(truth)
    print("| method | R² (test) | fit overhead (s) | overhead / shapiq | top-10 = truth | notes |")
    print("|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r.overhead / base:.3f}" if base else "n/a"
        same = "yes" if top_terms(r.fourier) == true_top else "no"
        notes = "; ".join(r.notes)
        print(f"| {r.name} | {r.r2:.4f} | {r.overhead:.2f} | {ratio} | {same} | {notes} |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--shapiq-sampling", choices=["cache", "own"], default="cache")
    parser.add_argument("--form", choices=["fourier", "mobius"], default="fourier")
    parser.add_argument("--skip-spectralexplain", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    value_function, truth = make_problem(args.n, args.seed, args.form)
    rng = np.random.default_rng(args.seed + 1)
    X = draw_masks(args.n, args.budget, rng)
    y = np.asarray(value_function(X), dtype=np.float64)
    X_test = rng.integers(0, 2, size=(args.test, args.n), dtype=np.uint8)
    y_test = np.asarray(value_function(X_test), dtype=np.float64)
    print(
        f"n={args.n} budget={args.budget} seed={args.seed} test={args.test} form={args.form} "
        f"true Fourier terms={sum(1 for s in truth if s)} (+ constant {truth.get((), 0):.3g})"
    )

    results = [run_shapiq(X, y, X_test, y_test, value_function, args.seed, args.shapiq_sampling)]
    if not args.skip_spectralexplain:
        results.append(run_spectralexplain(X, y, X_test, y_test))
    ours = run_ours(X, y, X_test, y_test, args.seed)
    if ours is not None:
        results.append(ours)
    print_table(results, truth)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
