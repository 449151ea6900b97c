"""Surrogates of growing complexity, each checked on masks it was not fitted on.

One fit of an explainer builds a ladder of surrogates on the same samples: the constant,
the additive (first-order) surrogate, the sparse refit of the proxy's (and, for SPEX, the
decoder's) strongest terms, the same grown by residual screens, the Walsh-kernel
posterior, the proxy itself, and a blend of the sparse surrogate with the dense ones.
Every step up the ladder adds terms fitted on the samples, and a step that fits the
samples better can predict fresh masks worse: a residual screen over thousands of
candidates picks up chance correlations, and a design whose masks are not independent
lets many terms fit it exactly.

So the whole ladder is fitted again once per fold (10 folds up to 2,000 samples, 5 above),
each time without one fold of the *evaluation rows* (masks drawn uniformly at random), and
every rung predicts the fold it did not see. The rung with the smallest out-of-fold error
wins (the blend weight is also chosen on the out-of-fold predictions), and its out-of-fold
R² is the fit's ``faithfulness_``: an estimate of the R² on fresh uniformly random masks
that costs no model query. The folds' surrogates are fitted on fewer samples, so the
estimate leans to the pessimistic side.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb, log

import numpy as np
from scipy.optimize import nnls

from ._additive import AdditiveSearch, fit_additive, fit_link
from .masks import pair_groups
from .spectral import SparseSpectrum
from .spectral._support import grow_support, keep_best_prefix, max_terms, refit

__all__ = [
    "Ladder",
    "LadderChoice",
    "ProxySearch",
    "affords_recovery",
    "choose_rung",
    "chosen_surrogate",
    "fit_default_lightgbm",
    "fold_splits",
    "grow_ladder",
    "out_of_fold",
    "proxy_is_hopeless",
]

# Folds of the evaluation rows. A fold's ladder is fitted on the other rows, so the check
# judges a fit on fewer samples than the real one and leans pessimistic; on a dense
# function at a few hundred samples that was 0.05-0.17 of R² with 5 folds and 0.01-0.10
# with 10. Ten folds where fits are cheap (few samples), five above.
N_FOLDS_SMALL, N_FOLDS_LARGE = 10, 5
FEW_SAMPLES = 2000
# The proxy's strongest terms considered before the residual screens add the rest.
MAX_PROXY_CANDIDATES = 500
# A blend drops its smallest terms holding this share of its energy: thousands of the
# proxy's tiniest terms, worth nothing measurable in faithfulness.
NEGLIGIBLE_ENERGY = 1e-4
# Blend weights of the sparse surrogate above this keep it alone (and sparse).
PURE_SPARSE = 0.98
# Exact recovery of a sparse function needs a number of samples that the folds' fits (on
# 4/5 of them) can fall short of while the fit on every row clears it. The terms found on
# every row, refitted without each fold, then predict the folds this many times better than
# the folds' own surrogates, and nearly exactly (R² at least RECOVERED_R2): that is taken as
# the recovered support, whose selection on every row then leaks little into the check.
RECOVERY_JUMP = 5.0
RECOVERED_R2 = 0.9
# ... and only for a support of at most one term per this many samples: a support chosen
# among thousands of candidates with many terms per sample fits the folds it was chosen
# on (78 terms on 250 samples: R² 0.99 on the folds, 0.87 on fresh masks).
RECOVERY_SAMPLES_PER_TERM = 5
# ... and of at most k terms where the samples hold k ln(N / k), N the subsets up to the
# support's order: what compressed sensing needs to find k of N terms. 170 terms chosen
# among the 2 million pairs of 2,000 components on 1,000 samples predicted the folds they
# were chosen on with R² 0.98 and fresh masks with 0.43.
# A proxy whose validation error is this many times the sparse surrogate's residual
# variance cannot earn a blend weight; the folds then skip it.
HOPELESS_PROXY = 20.0
# The rungs, simplest first; ties go to the simpler one.
RUNGS = ("constant", "additive", "link", "sparse", "screened", "kernel", "proxy", "blend")
# What a blend mixes: the better additive rung, the better sparse rung, the Walsh-kernel
# posterior and the proxy.
ADDITIVE_RUNGS = ("additive", "link")
SPARSE_RUNGS = ("sparse", "screened")
DENSE_RUNGS = ("kernel", "proxy")
# The additive rung's Lasso needs a few rows per inner fold.
_MIN_ADDITIVE_ROWS = 20

# LightGBM search: depths tried, the learning rate, and early-stopping patience.
_SEARCH_DEPTHS = (3, 5)
_SEARCH_LEARNING_RATE = 0.1
_SEARCH_MAX_TREES = 500
_SEARCH_PATIENCE = 30
_MIN_CHILD_SAMPLES = 20
_VALIDATION_SHARE = 0.2


@dataclass
class Ladder:
    """The surrogates of one fit, simplest first; a rung the fit could not build is None."""

    constant: SparseSpectrum
    additive: SparseSpectrum | None = None
    link: SparseSpectrum | None = None
    sparse: SparseSpectrum | None = None
    screened: SparseSpectrum | None = None
    kernel: SparseSpectrum | None = None
    proxy: SparseSpectrum | None = None
    additive_search: AdditiveSearch | None = None  # reused by the folds' ladders

    def rungs(self) -> dict[str, SparseSpectrum]:
        return {name: getattr(self, name) for name in RUNGS[:-1]
                if getattr(self, name) is not None}

    def predictions(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return {name: spectrum.evaluate(X) for name, spectrum in self.rungs().items()}


@dataclass
class LadderChoice:
    """The rung chosen on out-of-fold predictions, and how well it predicted."""

    rung: str
    sparse_rung: str | None
    weights: dict  # rung -> its weight in the chosen surrogate
    faithfulness: float
    errors: dict = field(default_factory=dict)  # rung -> out-of-fold mean squared error

    @property
    def blend_weight(self) -> float:
        """The sparse rung's weight: 1 for a sparse surrogate alone, 0 for none of it."""
        return float(self.weights.get(self.sparse_rung, 0.0))


def grow_ladder(
    X: np.ndarray,
    y: np.ndarray,
    rng,
    *,
    proxy: SparseSpectrum | None,
    max_order: int,
    n_terms="auto",
    screen: bool = True,
    extra: SparseSpectrum | None = None,
    kernel: SparseSpectrum | None = None,
    additive_search: AdditiveSearch | None = None,
    link: bool = True,
) -> Ladder:
    """Fit every rung on the samples ``(X, y)``.

    ``proxy`` and ``kernel``: the proxy's spectrum and the Walsh-kernel posterior fitted
    on the same samples; ``extra``: further candidate terms (the SPEX decoder's), ranked
    with the proxy's by magnitude; ``additive_search``: the additive rung's sign and
    penalty, chosen on every sample (None: choose them here); ``link``: build the link
    rung (only a fit that may return a dense rung can return it).
    """
    n = X.shape[1]
    ladder = Ladder(constant=SparseSpectrum([()], [float(np.mean(y))], n), proxy=proxy,
                    kernel=kernel)
    if X.shape[0] >= _MIN_ADDITIVE_ROWS:
        # The folds reuse the search made on every sample: no inner folds to group.
        groups = pair_groups(X) if additive_search is None else None
        ladder.additive, ladder.additive_search = fit_additive(X, y, groups,
                                                               additive_search)
        if link and max_order >= 2:
            ladder.link = fit_link(ladder.additive, X, y)
    candidates = _union(extra, proxy, n)
    first = min(max_terms(X), MAX_PROXY_CANDIDATES)
    sparse = keep_best_prefix(candidates, X, y, rng, "auto", limit=first)
    if screen:
        # Built even where the screens find nothing new on these samples: the rung is
        # judged as a procedure, and a fold's screens may find what this fit's proxy
        # already had (a rung missing here would drop the folds' judgement of it).
        grown = grow_support(sparse, X, y, max_order)
        ladder.screened = keep_best_prefix(grown, X, y, rng, n_terms)
    if n_terms != "auto":
        sparse = keep_best_prefix(sparse, X, y, rng, n_terms)
    ladder.sparse = sparse
    return ladder


def _union(first: SparseSpectrum | None, second: SparseSpectrum | None, n: int):
    """The terms of both; a subset in both keeps ``first``'s coefficient."""
    if first is None and second is None:
        return SparseSpectrum([()], [0.0], n)
    if first is None or second is None:
        return first if second is None else second
    known = set(first.subsets)
    fresh = np.array([s not in known for s in second.subsets], dtype=bool)
    return first.add(second.select(fresh))


def fold_splits(X: np.ndarray, eval_rows: np.ndarray, rng):
    """``(train rows, held-out rows)`` per fold: the evaluation rows are split into folds
    and every other row is always trained on.

    A mask and its complement always share a fold. Paired sampling draws them together,
    and a fit that saw one knows the other's value up to the sign of every odd-order term
    (a Walsh kernel reads it off exactly): split across folds, they would make the check
    look far better than the fit does on fresh masks (R² 0.95 against 0.68 measured).
    """
    eval_rows = np.asarray(eval_rows, dtype=np.int64)
    m = X.shape[0]
    n_folds = N_FOLDS_SMALL if m <= FEW_SAMPLES else N_FOLDS_LARGE
    group = pair_groups(np.asarray(X[eval_rows]))
    n_groups = int(group.max()) + 1
    n_folds = int(min(n_folds, n_groups))
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[rng.permutation(n_groups)] = np.arange(n_groups) % n_folds
    folds = [eval_rows[fold_of_group[group] == f] for f in range(n_folds)]
    everything = np.arange(m)
    return [(np.setdiff1d(everything, held), held) for held in folds]


def out_of_fold(
    fit: Callable[[np.ndarray], Ladder],
    X: np.ndarray,
    y: np.ndarray,
    splits,
    support: SparseSpectrum | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each rung's predictions on every held-out row, from ladders fitted without it.

    Returns the held-out rows (in fold order) and, per rung, the predictions on them. A
    rung missing from one fold's ladder (too few rows to build it) is left out.
    ``support``: the sparse surrogate fitted on every row; its terms refitted on each
    fold's training rows become the "support" predictions (see ``choose_rung``).
    """
    rows, predictions = [], []
    for train, held in splits:
        rows.append(held)
        predicted = fit(train).predictions(X[held])
        if support is not None and affords_recovery(support, len(X)):
            predicted["support"] = refit(support, X[train], y[train]).evaluate(X[held])
        predictions.append(predicted)
    common = set.intersection(*(set(p) for p in predictions))
    return np.concatenate(rows), {
        name: np.concatenate([p[name] for p in predictions])
        for name in (*RUNGS, "support") if name in common
    }


def choose_rung(
    y_held: np.ndarray,
    predictions: dict[str, np.ndarray],
    *,
    blend: bool,
    fixed_terms: bool = False,
    support_rung: str = "screened",
) -> LadderChoice:
    """The rung with the smallest out-of-fold error (the simpler one on a tie).

    The sparse surrogate is the better of "sparse" and "screened"; with ``blend`` its
    mix with the proxy takes the least-squares weight on the out-of-fold predictions.
    ``fixed_terms``: the user fixed the number of terms, so only a sparse rung is chosen.
    ``support_rung``: the rung whose every-sample fit the "support" predictions refit.
    """
    predictions = dict(predictions)
    support = predictions.pop("support", None)
    errors = {name: _mse(y_held, p) for name, p in predictions.items()}
    sparse_rung = _better(SPARSE_RUNGS, errors)
    additive_rung = _better(ADDITIVE_RUNGS, errors)
    if support is not None and _recovered_on_every_row(y_held, support, errors, sparse_rung):
        # The folds' own fits fell below a sample size at which recovery succeeds, which
        # the fit on every row cleared: its terms, refitted without each fold, predict the
        # fold almost exactly where the folds' own surrogates fail.
        sparse_rung = support_rung
        predictions[sparse_rung] = support
        errors[sparse_rung] = _mse(y_held, support)
    mixed = [r for r in (additive_rung, sparse_rung, *DENSE_RUNGS) if r in predictions]
    blend_weights = {}
    if blend and len(mixed) > 1:
        blend_weights = _blend_weights(y_held, {r: predictions[r] for r in mixed})
        # The weights are fitted to the same out-of-fold values they are judged on: their
        # error there is low by about 2k/m for k weights (as a least-squares fit's
        # training error is), so it is raised by as much before any comparison.
        optimism = 1.0 + 2.0 * len(mixed) / len(y_held)
        errors["blend"] = optimism * _mse(y_held, sum(w * predictions[r]
                                                      for r, w in blend_weights.items()))
    allowed = [r for r in RUNGS if r in errors and (r not in SPARSE_RUNGS
                                                     or r == sparse_rung)]
    if not blend:  # sparse rungs only: the link's pairs are as many as a dense rung's
        allowed = [r for r in allowed if r not in (*DENSE_RUNGS, "link", "blend")]
    if fixed_terms and sparse_rung is not None:
        allowed = [sparse_rung]
    rung = min(allowed, key=lambda r: (errors[r], RUNGS.index(r)))
    weights = blend_weights if rung == "blend" else {rung: 1.0}
    total = float(((y_held - y_held.mean()) ** 2).sum())
    faithfulness = 1.0 - errors[rung] * len(y_held) / total if total > 0 else 0.0
    return LadderChoice(rung, sparse_rung, weights, faithfulness, errors)


def _better(rungs: tuple[str, ...], errors: dict) -> str | None:
    """The rung of ``rungs`` with the smaller out-of-fold error (None if neither)."""
    return min((r for r in rungs if r in errors), key=lambda r: errors[r], default=None)


def affords_recovery(support: SparseSpectrum, m: int) -> bool:
    """Whether ``m`` samples can have recovered ``support`` rather than fitted noise with
    it: at least ``RECOVERY_SAMPLES_PER_TERM`` per term, and ``k ln(N / k)`` in all."""
    k = len(support)
    if k * RECOVERY_SAMPLES_PER_TERM > m:
        return False
    order = max(int(support.orders.max()), 1) if k else 1
    n = support.n_components
    candidates = sum(comb(n, j) for j in range(1, min(order, n) + 1))
    return k * log(max(candidates / max(k, 1), 1.0)) <= m


def _recovered_on_every_row(y_held, support, errors, sparse_rung) -> bool:
    if sparse_rung is None:
        return False
    error = _mse(y_held, support)
    variance = float(np.var(y_held))
    return (error * RECOVERY_JUMP < errors[sparse_rung]
            and error <= (1.0 - RECOVERED_R2) * variance)


def _blend_weights(y: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, float]:
    """Non-negative least-squares weights of the rungs on the out-of-fold predictions.

    A weight above ``PURE_SPARSE`` keeps that rung alone (a sparse surrogate stays sparse).
    """
    names = list(predictions)
    weights, _ = nnls(np.column_stack([predictions[r] for r in names]), y)
    if weights.max() > PURE_SPARSE and np.sort(weights)[-2:-1].sum() < 1 - PURE_SPARSE:
        return {names[int(np.argmax(weights))]: 1.0}
    return {r: float(w) for r, w in zip(names, weights) if w > 0}


def chosen_surrogate(ladder: Ladder, choice: LadderChoice) -> SparseSpectrum:
    """The chosen rung of the ladder fitted on every sample (a blend: its mix)."""
    if len(choice.weights) == 1 and next(iter(choice.weights.values())) == 1.0:
        return getattr(ladder, next(iter(choice.weights)))
    parts = [(getattr(ladder, r), w) for r, w in choice.weights.items()]
    first, weight = parts[0]
    mixed = first.with_coef(weight * first.coef)
    for spectrum, weight in parts[1:]:
        mixed = mixed.add(spectrum, scale=weight)
    return _without_tail(mixed)


def _without_tail(spectrum: SparseSpectrum) -> SparseSpectrum:
    """The spectrum less its weakest non-constant terms holding ``NEGLIGIBLE_ENERGY``."""
    varying = np.flatnonzero(spectrum.orders > 0)
    energy = spectrum.coef[varying] ** 2
    order = np.argsort(energy)
    dropped = varying[order[np.cumsum(energy[order]) <= NEGLIGIBLE_ENERGY * energy.sum()]]
    keep = np.ones(len(spectrum), bool)
    keep[dropped] = False
    return spectrum.select(keep)


def _mse(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.mean((y - prediction) ** 2))


# ------------------------------------------------------------------ the default proxy
@dataclass
class ProxySearch:
    """The default proxy's hyper-parameters found on one fit, and its validation error."""

    depth: int
    n_trees: int
    validation_mse: float


def fit_default_lightgbm(X: np.ndarray, y: np.ndarray, rng, n_threads=None,
                         search: ProxySearch | None = None):
    """LightGBM with depth and tree count chosen by early stopping on a validation split,
    then fitted on every row. Returns the model and the search.

    ``search``: hyper-parameters found before (on every row, reused by each fold's fit:
    two numbers chosen on rows that include the fold leak next to nothing).
    """
    seed = int(rng.randint(np.iinfo(np.int32).max))
    if search is None:
        search = _search_lightgbm(X, y, rng, seed, n_threads)
    model = _lightgbm(search.depth, search.n_trees, seed, n_threads).fit(X, y)
    return model, search


def _search_lightgbm(X, y, rng, seed: int, n_threads) -> ProxySearch:
    import lightgbm as lgb

    perm = rng.permutation(X.shape[0])
    n_val = max(1, round(_VALIDATION_SHARE * X.shape[0]))
    train, val = perm[n_val:], perm[:n_val]
    best = None
    for depth in _SEARCH_DEPTHS:
        model = _lightgbm(depth, _SEARCH_MAX_TREES, seed, n_threads)
        model.fit(
            X[train], y[train], **_validation_kwargs(X[val], y[val]),
            callbacks=[lgb.early_stopping(_SEARCH_PATIENCE, verbose=False)],
        )
        score = float(model.best_score_["valid_0"]["l2"])
        if best is None or score < best.validation_mse:
            n_trees = max(1, model.best_iteration_ or _SEARCH_MAX_TREES)
            best = ProxySearch(depth, n_trees, score)
    return best


def proxy_is_hopeless(search: ProxySearch, sparse: SparseSpectrum, X, y) -> bool:
    """Whether the proxy's validation error dwarfs the sparse surrogate's residual.

    Then no blend would give the proxy weight, and fitting it again on every fold (the
    dearest part of a fit at large n) is skipped.
    """
    m = X.shape[0]
    residual = y - sparse.evaluate(X)
    freedom = max(m - len(sparse), 1)
    return search.validation_mse > HOPELESS_PROXY * float(residual @ residual) / freedom


def _validation_kwargs(X_val, y_val) -> dict:
    """LightGBM >= 4.7 names the validation data eval_X / eval_y; older ones eval_set."""
    import lightgbm as lgb

    if "eval_X" in inspect.signature(lgb.LGBMRegressor.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,)}
    return {"eval_set": [(X_val, y_val)]}


def _lightgbm(depth: int, n_trees: int, seed: int, n_threads):
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=n_trees,
        learning_rate=_SEARCH_LEARNING_RATE,
        max_depth=depth,
        num_leaves=2**depth,
        min_child_samples=_MIN_CHILD_SAMPLES,
        max_bin=2,
        random_state=seed,
        n_jobs=1 if n_threads is None else n_threads,
        verbose=-1,
    )
