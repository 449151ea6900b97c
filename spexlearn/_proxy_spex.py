"""ProxySPEX: fit a proxy regressor on random masks, read its spectrum, keep and refit terms."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import clone

from ._base import _BaseExplainer, draw_paired_masks, draw_uniform_masks
from ._proxies import black_box_spectrum, fit_linear_proxy, is_linear_model, tree_model_spectrum
from .spectral import SparseSpectrum
from .spectral._support import grow_support, keep_best_prefix, max_terms, refit

__all__ = ["ProxySPEXExplainer"]

# LightGBM search: depths tried, the learning rate, and early-stopping patience.
_SEARCH_DEPTHS = (3, 5)
_SEARCH_LEARNING_RATE = 0.1
_SEARCH_MAX_TREES = 500
_SEARCH_PATIENCE = 30
_MIN_CHILD_SAMPLES = 20
_VALIDATION_SHARE = 0.2
# A sparse surrogate refitted on the training rows alone that errs this many times more on
# the held-out rows than the full surrogate's terms refitted there has crossed a sample-size
# threshold of recovery: its error says nothing about the surrogate fitted on every row.
_RECOVERY_JUMP = 5.0
# Blend weights of the sparse surrogate above this keep it alone (and sparse).
_PURE_SPARSE = 0.98
# A blend drops its smallest terms holding this share of its energy: thousands of the
# proxy's tiniest terms, worth nothing measurable in faithfulness.
_NEGLIGIBLE_ENERGY = 1e-4
# The proxy's strongest terms considered before the residual screens add the rest.
_MAX_PROXY_CANDIDATES = 500
SAMPLINGS = ("paired", "uniform")


class ProxySPEXExplainer(_BaseExplainer):
    """Explain a value function by the exact spectrum of a fitted proxy regressor.

    ProxySPEX (Butler et al., NeurIPS 2025): query ``budget`` distinct uniformly random
    masks, fit a proxy regressor to the values, read the proxy's Fourier spectrum (exactly
    for tree ensembles and linear models), keep the strongest terms and refit their
    coefficients on the queried samples. The result is a sparse surrogate of the whole
    ablation landscape.

    Parameters
    ----------
    value_function : callable or None, default=None
        ``masks (m, n) uint8 -> values (m,)``: the model output when only the components
        with mask 1 are kept. Not needed when values are passed to ``fit(X, y)``.
    components : int, list of str or None, default=None
        The number of components or their names. None: taken from the value function
        (``component_names`` / ``n_components``) or from the masks.
    proxy : regressor or None, default=None
        Any scikit-learn regressor (cloned, never fitted in place). Tree ensembles
        (LightGBM, XGBoost, scikit-learn trees, forests and boosting) are read exactly;
        linear models from ``sklearn.linear_model`` are fitted on the Fourier basis of
        every subset up to ``max_order``; anything else is treated as a cheap black box
        whose spectrum the SPEX decoder recovers from its predictions on a coded design.
        None: LightGBM whose depth and number of trees are chosen by early stopping on a
        validation split.
    budget : int, default=1000
        Number of value-function queries when the explainer draws its own masks.
    sampling : {"paired", "uniform"}, default="paired"
        How it draws them. "uniform": distinct uniformly random masks. "paired": random
        masks each followed by its complement, which makes odd- and even-order Fourier
        terms orthogonal over the sample, so terms of one parity are estimated without
        noise from unexplained terms of the other. It helps where many small terms go
        unexplained (real models); on exactly sparse functions both samplings do equally
        well (``benchmarks/figures.py``).
    max_order : int, default=5
        Largest interaction order kept.
    n_terms : "auto" or int, default="auto"
        How many of the proxy's strongest terms to keep. "auto": chosen by 5-fold
        cross-validation of the refit on the queried samples.
    screen_residuals : bool, default=True
        After refitting the proxy's terms, screen the residual for terms the proxy
        missed: every subset up to the largest order that is cheap to screen
        exhaustively, and every one-element extension of the terms found so far; add the
        significant ones, refit, repeat. False: the plain ProxySPEX algorithm.
    blend : bool, default=True
        Where the function is not sparse (real models), the proxy's own spectrum, whose
        many small coefficients boosting has shrunk, can predict better than any sparse
        refit, and a mix of both better than either. True: compare the sparse surrogate
        and the proxy on a held-out fifth of the samples (each fitted again on the other
        four fifths) and return ``w * sparse + (1 - w) * proxy`` with the weight ``w``
        that predicts the held-out values best (``blend_weight_``). On sparse functions
        ``w`` is 1 and the surrogate stays sparse. Needs a tree-ensemble proxy (the
        default) and ``n_terms="auto"``; otherwise nothing is blended.
    index : str, default="fourier"
        Interaction index of ``interactions_``.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
        Threads for the default LightGBM proxy (None: 1).
    verbose : int, default=0
        Above 0, report each stage of the fit on stderr.

    Attributes
    ----------
    spectrum_ : SparseSpectrum
        The refitted sparse Fourier spectrum (the surrogate).
    interactions_ : Interactions
        ``spectrum_`` in the requested ``index``.
    proxy_ : regressor
        The fitted proxy.
    blend_weight_ : float
        Weight ``w`` of the sparse surrogate in ``spectrum_`` (1: the sparse surrogate
        alone; see ``blend``).
    n_queries_ : int
        Number of distinct masks queried (or of the samples passed to ``fit(X, y)``).
    query_seconds_ : float
        Time spent inside the value function.
    noise_std_ : float
        Estimated noise level of the values: the residual standard deviation of the
        surrogate on the fitted samples, corrected for the number of terms. It also holds
        whatever the surrogate misses, so it bounds the noise from above.
    component_names_ : list of str
    n_features_in_ : int

    Examples
    --------
    >>> from spexlearn import ProxySPEXExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, truth = make_sparse_function(20, n_terms=8, max_order=2, random_state=0)
    >>> explainer = ProxySPEXExplainer(f, budget=400, random_state=0).fit()
    >>> top = explainer.interactions_.top(3)
    >>> set(top.subsets) <= set(truth.subsets)
    True
    """

    def __init__(
        self,
        value_function=None,
        components=None,
        *,
        proxy=None,
        budget=1000,
        sampling="paired",
        max_order=5,
        n_terms="auto",
        screen_residuals=True,
        blend=True,
        index="fourier",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.value_function = value_function
        self.components = components
        self.proxy = proxy
        self.budget = budget
        self.sampling = sampling
        self.max_order = max_order
        self.n_terms = n_terms
        self.screen_residuals = screen_residuals
        self.blend = blend
        self.index = index
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _planned_queries(self, n: int) -> int:
        return self._check_budget(n, self.budget)

    def _bytes_needed(self, n: int, m: int) -> int:
        # Masks (uint8, and float64 for the proxy), the candidate terms' basis, the refits.
        return m * n * 9 + m * _MAX_PROXY_CANDIDATES * 8 * 2

    def _draw_masks(self, n: int, rng) -> np.ndarray:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={self.sampling!r} is unknown; choose one of {SAMPLINGS}.")
        draw = draw_paired_masks if self.sampling == "paired" else draw_uniform_masks
        return draw(n, self._check_budget(n, self.budget), rng)

    # ------------------------------------------------------------ spectrum
    def _fit_spectrum(self, X: np.ndarray, y: np.ndarray, rng) -> SparseSpectrum:
        candidates, holdout = self._proxy_spectrum(X, y, rng)
        self._log(f"proxy {type(self.proxy_).__name__}: {len(candidates)} spectral terms")
        sparse = self._sparse_surrogate(candidates, X, y, rng)
        self._log(f"sparse surrogate: {len(sparse) - 1} terms")
        self._sparse_terms = len(sparse)
        self.blend_weight_ = 1.0
        if holdout is not None:
            self.blend_weight_ = self._blend_weight(sparse, holdout, X, y, rng)
        spectrum = sparse
        if self.blend_weight_ < 1.0:
            w = self.blend_weight_
            spectrum = _without_tail(
                sparse.with_coef(w * sparse.coef).add(candidates, scale=1.0 - w)
            )
        self._log(f"final surrogate: {len(spectrum) - 1} terms")
        return spectrum

    def _blends(self) -> bool:
        return bool(self.blend) and self.n_terms == "auto"

    def _n_fitted_terms(self) -> int:
        # A blend adds the proxy's shrunken terms, fitted by boosting rather than one
        # coefficient each; the sparse refit's terms stand for the freedom used.
        return self._sparse_terms

    def _sparse_surrogate(self, candidates, X, y, rng) -> SparseSpectrum:
        """The proxy's strongest terms, grown by residual screens, the best prefix refit."""
        first = min(max_terms(X), _MAX_PROXY_CANDIDATES)
        support = keep_best_prefix(candidates, X, y, rng, "auto", limit=first)
        self._log(f"kept {len(support) - 1} of the proxy's terms after cross-validation")
        if self.screen_residuals:
            support = grow_support(support, X, y, self.max_order)
            self._log(f"{len(support) - 1} terms after screening the residual")
        return keep_best_prefix(support, X, y, rng, self.n_terms)

    def _blend_weight(self, sparse, holdout, X, y, rng) -> float:
        """Least-squares weight of the sparse surrogate against the proxy, held out.

        Both are fitted again on the training rows only (the proxy there is ``holdout``'s
        model, the one the depth search kept), so neither has seen the held-out rows.
        """
        train, val, model = holdout
        n = X.shape[1]
        proxy = tree_model_spectrum(model, n, max_order=self.max_order)
        on_train = self._sparse_surrogate(proxy, X[train], y[train], rng)
        honest = on_train.evaluate(X[val])
        # Same terms, coefficients from the training rows: blind to a recovery threshold.
        same_terms = refit(sparse, X[train], y[train]).evaluate(X[val])
        if _mse(y[val], honest) > _RECOVERY_JUMP * _mse(y[val], same_terms):
            honest = same_terms
        from_proxy = proxy.evaluate(X[val])
        step, gap = honest - from_proxy, y[val] - from_proxy
        weight = float(np.clip(step @ gap / max(step @ step, 1e-300), 0.0, 1.0))
        self._log(f"held-out blend weight of the sparse surrogate: {weight:.2f}")
        return 1.0 if weight > _PURE_SPARSE else weight

    def _proxy_spectrum(self, X, y, rng) -> tuple[SparseSpectrum, tuple | None]:
        """The fitted proxy's spectrum, and (train rows, held-out rows, proxy fitted on
        the train rows) where the proxy can be blended, else None."""
        n = X.shape[1]
        holdout = None
        if self.proxy is None:
            self.proxy_, holdout = _fit_default_lightgbm(X, y, rng, self.n_jobs)
            holdout = holdout if self._blends() else None
        elif is_linear_model(self.proxy):
            self.proxy_, spectrum = fit_linear_proxy(clone(self.proxy), X, y, self.max_order)
            return spectrum, None
        else:
            self.proxy_ = clone(self.proxy).fit(X, y)
        spectrum = tree_model_spectrum(self.proxy_, n, max_order=self.max_order)
        if spectrum is None:
            return black_box_spectrum(self.proxy_, n, self.max_order, rng), None
        if holdout is None and self._blends():
            train, val = _split(X.shape[0], rng)
            holdout = (train, val, clone(self.proxy).fit(X[train], y[train]))
        return spectrum, holdout


def _without_tail(spectrum: SparseSpectrum) -> SparseSpectrum:
    """The spectrum less its weakest non-constant terms holding ``_NEGLIGIBLE_ENERGY``."""
    varying = np.flatnonzero(spectrum.orders > 0)
    energy = spectrum.coef[varying] ** 2
    order = np.argsort(energy)
    dropped = varying[order[np.cumsum(energy[order]) <= _NEGLIGIBLE_ENERGY * energy.sum()]]
    keep = np.ones(len(spectrum), bool)
    keep[dropped] = False
    return spectrum.select(keep)


def _mse(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.mean((y - prediction) ** 2))


def _split(m: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and held-out rows (a fifth, at least one)."""
    perm = rng.permutation(m)
    n_val = max(1, round(_VALIDATION_SHARE * m))
    return perm[n_val:], perm[:n_val]


def _fit_default_lightgbm(X, y, rng, n_jobs):
    """LightGBM with depth and tree count chosen by early stopping on a validation split.

    Returns the model fitted on every row, and (train rows, validation rows, the search's
    model fitted on the train rows, which predicts with its best iteration).
    """
    import lightgbm as lgb

    train, val = _split(X.shape[0], rng)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    best = None
    for depth in _SEARCH_DEPTHS:
        model = _lightgbm(depth, _SEARCH_MAX_TREES, seed, n_jobs)
        model.fit(
            X[train], y[train], **_validation_kwargs(X[val], y[val]),
            callbacks=[lgb.early_stopping(_SEARCH_PATIENCE, verbose=False)],
        )
        score = model.best_score_["valid_0"]["l2"]
        if best is None or score < best[0]:
            best = (score, depth, max(1, model.best_iteration_ or _SEARCH_MAX_TREES), model)
    _, depth, n_trees, model = best
    return _lightgbm(depth, n_trees, seed, n_jobs).fit(X, y), (train, val, model)


def _validation_kwargs(X_val, y_val) -> dict:
    """LightGBM >= 4.7 names the validation data eval_X / eval_y; older ones eval_set."""
    import lightgbm as lgb

    if "eval_X" in inspect.signature(lgb.LGBMRegressor.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,)}
    return {"eval_set": [(X_val, y_val)]}


def _lightgbm(depth: int, n_trees: int, seed: int, n_jobs):
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=n_trees,
        learning_rate=_SEARCH_LEARNING_RATE,
        max_depth=depth,
        num_leaves=2**depth,
        min_child_samples=_MIN_CHILD_SAMPLES,
        max_bin=2,
        random_state=seed,
        n_jobs=1 if n_jobs is None else n_jobs,
        verbose=-1,
    )
