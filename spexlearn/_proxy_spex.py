"""ProxySPEX: fit a proxy regressor on random masks, read its spectrum, keep and refit terms."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._base import (
    BaseExplainer,
    FittedProxy,
    SpectrumFit,
    with_shared_docs,
)
from ._proxies import black_box_spectrum, fit_linear_proxy, is_linear_model, tree_model_spectrum
from ._renamed import RENAMED_PARAMETERS, refuses_renamed
from ._stages import MAX_PROXY_CANDIDATES, fit_default_lightgbm
from .masks import draw_paired_masks, draw_uniform_masks
from .spectral._peeling import is_every_mask

__all__ = ["ProxySPEXExplainer"]

SAMPLINGS = ("paired", "uniform")


@with_shared_docs
class ProxySPEXExplainer(BaseExplainer):
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
    [[components]]
    proxy : regressor or None, default=None
        Any scikit-learn regressor (cloned, never fitted in place). Tree ensembles
        (LightGBM, XGBoost, scikit-learn trees, forests and boosting) are read exactly;
        linear models from ``sklearn.linear_model`` are fitted on the Fourier basis of
        every subset up to ``max_order``; anything else is treated as a cheap black box
        whose spectrum the SPEX decoder recovers from its predictions on a coded design.
        None: LightGBM whose depth and number of trees are chosen by early stopping on a
        validation split.
    budget : int, default=1000
        Number of value-function queries when the explainer draws its own masks. At
        least 20 (or n + 1 where n is smaller); below n + 1 the fit warns that not every
        component's own effect can be determined, and keeps only what predicts masks it
        was not fitted on.
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
        missed: every subset up to the largest order whose complete screen is cheap
        (order 3 up to about 500 components), and every one-element extension of the
        terms found so far; add the significant ones, refit, repeat. An interaction
        with no lower-order trace (a parity of three components) is invisible to the
        proxy's trees and found only here. False: the plain ProxySPEX algorithm.
    blend : bool, default=True
        Where the function is not sparse (real models), dense surrogates predict better
        than any sparse refit: the proxy's own spectrum (boosting shrinks thousands of
        small coefficients) and a Walsh-kernel Gaussian process (one prior variance per
        order, its posterior written out as a spectrum), and a mix of these with the
        sparse surrogate better than any one. True: they are rungs of the ladder (see
        ``faithfulness_``), mixed with the non-negative weights that predict the folds'
        unseen masks best (``surrogate_weights_``). On sparse functions the sparse
        surrogate alone wins and stays sparse. False: sparse rungs only. Needs
        ``n_terms="auto"``.
    index : str, default="mobius"
        Interaction index of ``interactions_``.
    random_state : int, RandomState instance or None, default=None
    n_threads : int or None, default=None
        Threads for the default LightGBM proxy and for BLAS (None: 1).
    [[fit_cache]]
    [[verbose]]

    Attributes
    ----------
    [[surrogate attributes]]
    proxy_ : regressor
        The fitted proxy (on the values in units of a power of two where they exceed
        1e100 in magnitude).
    faithfulness_ : float
        How far to trust the fit: an estimate of the surrogate's R² on fresh uniformly
        random masks, from the queried samples alone. Every rung of the ladder (the
        constant, the additive surrogate, the sparse refit, the same grown by residual
        screens, the kernel, the proxy, their blend) is fitted again without each fold of
        the samples (10 folds up to 2,000 samples, 5 above; a mask and its complement in
        the same fold) and predicts the fold; the rung with the smallest out-of-fold error
        is the surrogate, and its out-of-fold R² is this. The all-ones and all-zeros masks
        are fitted but not judged where 2^n is well above the budget: fresh uniform masks
        almost never are one of them. The folds fit fewer samples, so it leans
        pessimistic. Below 0.5 the fit warns (:class:`LowFaithfulnessWarning`).
        When every mask is queried: the exact R² of the (order-truncated) transform.
    faithfulness_method_ : str
        How ``faithfulness_`` was computed.
    selected_surrogate_ : str
        The rung returned: "constant", "additive", "link", "sparse", "screened",
        "kernel", "proxy", "blend", or "exact" (every mask queried).
    surrogate_weights_ : dict
        Weight of each rung in ``spectrum_`` (one rung: weight 1).
    blend_weight_ : float
        Weight of the sparse rung in ``spectrum_`` (1: the sparse surrogate alone).
    [[query attributes]]

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

    @refuses_renamed(RENAMED_PARAMETERS)
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
        index="mobius",
        random_state=None,
        n_threads=None,
        fit_cache=None,
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
        self.n_threads = n_threads
        self.fit_cache = fit_cache
        self.verbose = verbose

    _parameter_constraints: ClassVar[dict] = {
        **BaseExplainer._parameter_constraints,
        "proxy": [HasMethods(["fit", "predict"]), None],
        "budget": [Interval(Integral, 1, None, closed="left")],
        "sampling": [StrOptions(set(SAMPLINGS))],
        "screen_residuals": ["boolean"],
        "blend": ["boolean"],
    }

    def _planned_queries(self, n: int) -> int:
        return self._check_budget(n, self.budget, warn=True)

    def _bytes_needed(self, n: int, m: int) -> int:
        # Masks (uint8, and float64 for the proxy), the candidate terms' basis, the refits.
        return m * n * 9 + m * MAX_PROXY_CANDIDATES * 8 * 2

    def _draw_masks(self, n: int, rng) -> np.ndarray:
        draw = draw_paired_masks if self.sampling == "paired" else draw_uniform_masks
        return draw(n, self._check_budget(n, self.budget), rng)

    # ------------------------------------------------------------ spectrum
    def _fit_spectrum(self, X: np.ndarray, y: np.ndarray, rng) -> SpectrumFit:
        if np.isin(X, (0, 1)).all() and is_every_mask(X):
            # Nothing is left to estimate: the transform of the table is exact.
            return self._exact(X, y)
        # Every rung is fitted again without each fold and judged on it: a step that adds
        # terms is kept only where it predicts masks it was not fitted on better.
        return self._fit_ladder(X, y, rng, np.arange(X.shape[0]))

    def _blends(self) -> bool:
        return bool(self.blend) and self.n_terms == "auto"

    def _screens(self) -> bool:
        return bool(self.screen_residuals)

    def _fitted_proxy(self, X, y, rng, search) -> FittedProxy:
        n = X.shape[1]
        if self.proxy is None:
            model, search = fit_default_lightgbm(X, y, rng, self.n_threads, search)
        elif is_linear_model(self.proxy):
            return FittedProxy(*fit_linear_proxy(clone(self.proxy), X, y, self.max_order),
                               None)
        else:
            model = clone(self.proxy).fit(X, y)
        spectrum = tree_model_spectrum(model, n, max_order=self.max_order)
        if spectrum is None:
            spectrum = black_box_spectrum(model, n, self.max_order, rng)
        return FittedProxy(model, spectrum, search)
