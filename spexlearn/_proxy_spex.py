"""ProxySPEX: fit a proxy regressor on random masks, read its spectrum, keep and refit terms."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import clone

from ._base import _BaseExplainer, draw_paired_masks, draw_uniform_masks
from ._proxies import black_box_spectrum, fit_linear_proxy, is_linear_model, tree_model_spectrum
from .spectral import SparseSpectrum
from .spectral._support import grow_support, keep_best_prefix, max_terms

__all__ = ["ProxySPEXExplainer"]

# LightGBM search: depths tried, the learning rate, and early-stopping patience.
_SEARCH_DEPTHS = (3, 5)
_SEARCH_LEARNING_RATE = 0.1
_SEARCH_MAX_TREES = 1000
_SEARCH_PATIENCE = 50
_VALIDATION_SHARE = 0.2
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
        candidates = self._proxy_spectrum(X, y, rng)
        self._log(f"proxy {type(self.proxy_).__name__}: {len(candidates)} spectral terms")
        first = min(max_terms(X), _MAX_PROXY_CANDIDATES)
        support = keep_best_prefix(candidates, X, y, rng, "auto", limit=first)
        self._log(f"kept {len(support) - 1} of the proxy's terms after cross-validation")
        if self.screen_residuals:
            support = grow_support(support, X, y, self.max_order)
            self._log(f"{len(support) - 1} terms after screening the residual")
        spectrum = keep_best_prefix(support, X, y, rng, self.n_terms)
        self._log(f"final surrogate: {len(spectrum) - 1} terms")
        return spectrum

    def _proxy_spectrum(self, X, y, rng) -> SparseSpectrum:
        n = X.shape[1]
        if self.proxy is None:
            self.proxy_ = _fit_default_lightgbm(X, y, rng, self.n_jobs)
        elif is_linear_model(self.proxy):
            self.proxy_, spectrum = fit_linear_proxy(clone(self.proxy), X, y, self.max_order)
            return spectrum
        else:
            self.proxy_ = clone(self.proxy).fit(X, y)
        spectrum = tree_model_spectrum(self.proxy_, n, max_order=self.max_order)
        if spectrum is None:
            spectrum = black_box_spectrum(self.proxy_, n, self.max_order, rng)
        return spectrum


def _fit_default_lightgbm(X, y, rng, n_jobs):
    """LightGBM with depth and tree count chosen by early stopping on a validation split."""
    import lightgbm as lgb

    m = X.shape[0]
    perm = rng.permutation(m)
    n_val = max(1, round(_VALIDATION_SHARE * m))
    val, train = perm[:n_val], perm[n_val:]
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
            best = (score, depth, max(1, model.best_iteration_ or _SEARCH_MAX_TREES))
    _, depth, n_trees = best
    return _lightgbm(depth, n_trees, seed, n_jobs).fit(X, y)


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
        min_child_samples=5,
        max_bin=2,
        random_state=seed,
        n_jobs=1 if n_jobs is None else n_jobs,
        verbose=-1,
    )
