"""SPEX: the sparse Fourier transform with BCH-coded queries."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._base import _BaseExplainer, _names_from
from .spectral import SparseSpectrum
from .spectral._design import (
    MIN_BITS,
    QueryDesign,
    design_size,
    largest_bins,
    make_design,
    parse_design,
)
from .spectral._peeling import (
    MAX_EXHAUSTIVE_N,
    bin_transforms,
    every_mask,
    exhaustive_spectrum,
    is_every_mask,
    peel,
)
from .spectral._screen import exhaustive_orders
from .spectral._sparse import _pad
from .spectral._support import grow_support, keep_best_prefix, max_terms

__all__ = ["SPEXExplainer"]

# Bins per group (as bits) when no budget is given: 64 bins, enough for a few dozen terms.
_DEFAULT_BITS = 6
_DECODERS = ("soft", "hard")
# Residual energy, as a share of the values' variance, that is only rounding.
_NEGLIGIBLE_RESIDUAL = 1e-12


class SPEXExplainer(_BaseExplainer):
    """Explain a value function by a sparse Fourier transform of designed ablations.

    SPEX (Kang et al., ICML 2025): query masks ``x = M_c l XOR d`` for C random
    subsampling matrices ``M_c`` (n x b), every ``l`` in F_2^b and every delay ``d`` (zero,
    then the parity rows of a binary BCH code correcting ``max_order`` errors). A
    Walsh-Hadamard transform per (group, delay) hashes the Fourier coefficients into
    ``2^b`` bins; a bin holding one coefficient spells its subset in BCH parity across the
    delays and is decoded (hard decision, then Chase soft decoding), verified and peeled
    from the other groups until nothing changes. The subsets found are refitted on all
    samples. Cost: ``C (p + 1) 2^b`` queries, independent of n except through the code's
    ``p`` parity rows (about ``max_order * log2(n)``).

    Parameters
    ----------
    value_function : callable or None, default=None
        ``masks (m, n) uint8 -> values (m,)``. Not needed when values are passed to
        ``fit(X, y)``.
    components : int, list of str or None, default=None
        The number of components or their names. None: taken from the value function
        (``component_names`` / ``n_components``) or from the masks.
    budget : int or None, default=None
        Most queries to spend: the design with the most bins that fits. None: 64 bins
        per group. A budget that holds all ``2**n`` masks (or a design at least that
        large) queries every mask and gives the exact spectrum.
    max_order : int, default=5
        Largest interaction order recovered: the BCH code corrects this many errors.
    n_groups : int, default=3
        Number of subsampling groups C: more groups resolve more collisions by peeling.
    decoder : {"soft", "hard"}, default="soft"
        "soft" re-decodes bins that fail the hard decision with Chase decoding (every flip
        of the three least reliable signs), which tolerates noisy values.
    n_terms : "auto" or int, default="auto"
        Terms kept after peeling: "auto" chooses by 5-fold cross-validation.
    index : str, default="fourier"
        Interaction index of ``interactions_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling matrices. Use an int so that ``query_design()`` and a later
        ``fit`` agree.
    n_jobs : int or None, default=None
        BLAS threads for the refit (None: 1).
    verbose : int, default=0
        Above 0, report each stage of the fit on stderr.

    Attributes
    ----------
    spectrum_ : SparseSpectrum
        The refitted sparse Fourier spectrum (the surrogate).
    interactions_ : Interactions
        ``spectrum_`` in the requested ``index``.
    design_ : QueryDesign or None
        The design that was decoded; None when the fit enumerated every mask or, for
        masks that are no design, regressed on screened terms.
    fit_mode_ : {"design", "exhaustive", "regression"}
        How the spectrum was found. "regression": ``fit(X, y)`` got masks that are
        neither a design in ``query_design()`` order nor every mask; terms are then found
        by screening residual correlations (what cross-validation folds get).
    n_peeled_ : int
        Terms found by peeling, before the refit and the choice of ``n_terms``.
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
    >>> from spexlearn import SPEXExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, truth = make_sparse_function(200, n_terms=10, max_order=3, random_state=0)
    >>> explainer = SPEXExplainer(f, max_order=3, random_state=0).fit()
    >>> explainer.design_.n_queries  # 3 groups x 25 delays x 64 bins
    4800
    >>> explainer.spectrum_.allclose(truth)
    True
    """

    def __init__(
        self,
        value_function=None,
        components=None,
        *,
        budget=None,
        max_order=5,
        n_groups=3,
        decoder="soft",
        n_terms="auto",
        index="fourier",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.value_function = value_function
        self.components = components
        self.budget = budget
        self.max_order = max_order
        self.n_groups = n_groups
        self.decoder = decoder
        self.n_terms = n_terms
        self.index = index
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_groups, Integral) or self.n_groups < 1:
            raise ValueError(f"n_groups must be an integer >= 1, got {self.n_groups!r}.")
        if self.decoder not in _DECODERS:
            raise ValueError(f"decoder={self.decoder!r} is unknown; choose one of {_DECODERS}.")
        budget = self.budget
        if budget is not None and (not isinstance(budget, Integral) or budget < 1):
            raise ValueError(f"budget must be None or a positive integer, got {budget!r}.")

    # ------------------------------------------------------------ queries
    def query_design(self) -> np.ndarray:
        """The masks ``fit()`` would query, to be evaluated elsewhere.

        Evaluate them in any way (a cluster, a cache), then pass them back in the same
        order with ``fit(masks, values)``. With an int ``random_state`` the design is
        reproducible.

        Returns
        -------
        masks : ndarray of shape (n_queries, n_components), uint8
        """
        self._check_params()
        names = _names_from(self.components, self.value_function, None)
        if names is None:
            raise ValueError(
                "the number of components is unknown: pass components=<int or list of "
                "names> or a value_function with an n_components attribute."
            )
        return self._draw_masks(len(names), check_random_state(self.random_state))

    def _planned_queries(self, n: int) -> int:
        if n >= 2 and self._use_every_mask(n):
            return 2**n
        return design_size(n, self._order(n), self._bits(n), self.n_groups) if n >= 2 else 2

    def _bytes_needed(self, n: int, m: int) -> int:
        # Masks built twice and deduplicated (uint8), bin transforms, and the refit basis
        # (a few hundred terms at most in practice: 101 columns for 100 terms at n = 1,000
        # measured a 177 MiB peak for m = 39,168).
        return m * n * 3 + m * 8 * 4 + m * 8 * 256

    def _draw_masks(self, n: int, rng) -> np.ndarray:
        if n < 2:
            raise ValueError(
                f"there is {n} component: interactions need at least 2; split the input "
                "into more components (e.g. a finer unit)."
            )
        if self._use_every_mask(n):
            return every_mask(n)
        return make_design(n, self._order(n), self._bits(n), self.n_groups, rng).masks()

    def _order(self, n: int) -> int:
        return min(self.max_order, n)

    def _bits(self, n: int) -> int:
        """Bits per bin index for this budget (the default when budget is None)."""
        t = self._order(n)
        if self.budget is None:
            return min(_DEFAULT_BITS, n)
        bits = largest_bins(n, t, self.budget, self.n_groups)
        if bits is None:
            smallest = design_size(n, t, MIN_BITS, self.n_groups)
            raise ValueError(
                f"budget={self.budget} is below the smallest SPEX design for {n} components "
                f"and max_order={t}: {smallest} queries ({self.n_groups} groups x "
                f"{smallest // (self.n_groups * 2**MIN_BITS)} delays x {2**MIN_BITS} bins). "
                f"Raise budget to at least {smallest}, lower max_order or n_groups, or use "
                "ProxySPEXExplainer, which works with any budget."
            )
        return min(bits, n)

    def _use_every_mask(self, n: int) -> bool:
        """Enumerate all 2^n masks when that is no dearer than the design (and n is small)."""
        if n > MAX_EXHAUSTIVE_N:
            return False
        if self.budget is not None and self.budget >= 2**n:
            return True
        t = self._order(n)
        bits = min(_DEFAULT_BITS, n) if self.budget is None else largest_bins(
            n, t, self.budget, self.n_groups
        )
        # No design fits the budget (bits None): refused in _bits, never silently exceeded.
        return bits is not None and design_size(n, t, min(bits, n), self.n_groups) >= 2**n

    # ------------------------------------------------------------ spectrum
    def _fit_spectrum(self, X: np.ndarray, y: np.ndarray, rng) -> SparseSpectrum:
        n = X.shape[1]
        self.design_ = None
        self.n_peeled_ = 0
        binary = X.dtype == np.uint8 or bool(np.isin(X, (0.0, 1.0)).all())
        if binary and is_every_mask(X):
            self.fit_mode_ = "exhaustive"
            spectrum = exhaustive_spectrum(X, y, self.max_order)
            if self.n_terms != "auto":
                spectrum = _top_with_intercept(spectrum, int(self.n_terms))
            return spectrum
        design = parse_design(np.asarray(X, np.uint8), self._order(n), self.n_groups) if (
            binary and n >= 2
        ) else None
        if design is None:
            self.fit_mode_ = "regression"
            self._log("the masks are no SPEX design: finding terms by residual screening")
            support = SparseSpectrum([()], [float(np.mean(y))], n)
            support = grow_support(support, X, y, self.max_order)
            return keep_best_prefix(support, X, y, rng, self.n_terms)
        self.fit_mode_ = "design"
        self.design_ = design
        return self._decode(design, X, y, rng)

    def _decode(self, design: QueryDesign, X, y, rng) -> SparseSpectrum:
        result = peel(
            bin_transforms(y, design), design,
            soft=self.decoder == "soft", max_order=self.max_order,
        )
        self.n_peeled_ = len(result.coefs)
        self._log(
            f"peeling: {self.n_peeled_} terms in {result.rounds} rounds; "
            f"{result.unexplained:.2%} of the bin energy unexplained"
        )
        found = SparseSpectrum.from_arrays(
            _pad(result.members, max(1, result.members.shape[1])), result.coefs, X.shape[1]
        )
        limit = max_terms(X)
        spectrum = keep_best_prefix(found, X, y, rng, "auto", limit, add_singletons=False)
        screen = _worth_screening(spectrum, X, y, self.max_order)
        if screen:
            # Terms that collide in every group (a stopping set) are out of the peeling's
            # reach; when every pair is cheap to screen, the residual finds them.
            spectrum = grow_support(spectrum, X, y, self.max_order)
            self._log(f"{len(spectrum) - 1} terms after screening the residual")
        if screen or self.n_terms != "auto":
            spectrum = keep_best_prefix(
                spectrum, X, y, rng, self.n_terms, limit, add_singletons=False
            )
        self._log(f"final surrogate: {len(spectrum) - 1} terms")
        return spectrum

def _worth_screening(spectrum: SparseSpectrum, X, y, max_order: int) -> bool:
    """Screen only when pairs are screened exhaustively and a real residual is left."""
    m, n = X.shape
    if exhaustive_orders(n, m, max_order) < min(2, max_order):
        return False
    residual = y - spectrum.evaluate(X)
    return float(residual @ residual) > _NEGLIGIBLE_RESIDUAL * float(((y - y.mean()) ** 2).sum())


def _top_with_intercept(spectrum: SparseSpectrum, k: int) -> SparseSpectrum:
    terms = spectrum.select(spectrum.orders > 0).top(k)
    return terms.add(spectrum.select(spectrum.orders == 0))
