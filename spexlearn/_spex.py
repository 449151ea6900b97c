"""SPEX: the sparse Fourier transform with BCH-coded queries."""

from __future__ import annotations

import warnings
from dataclasses import replace
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    BaseExplainer,
    FittedProxy,
    SpectrumFit,
    names_from,
    with_shared_docs,
)
from ._proxies import tree_model_spectrum
from ._renamed import RENAMED_PARAMETERS, refuses_renamed
from ._stages import (
    fit_default_lightgbm,
)
from .masks import MAX_ENUMERATED_N, draw_paired_masks, row_keys
from .spectral import SparseSpectrum
from .spectral._design import (
    MIN_BITS,
    QueryDesign,
    design_size,
    largest_bin_bits,
    make_design,
    split_design,
)
from .spectral._peeling import (
    bin_transforms,
    every_mask,
    is_every_mask,
    peel,
)
from .spectral._sparse import pad_members
from .spectral._support import refit

__all__ = ["SPEXExplainer"]

# Bins per group (as bits) when no budget is given: 64 bins, enough for a few dozen terms.
_DEFAULT_BITS = 6
_DECODERS = ("soft", "hard")
# Designs with fewer bits per bin index (8 bins per group) decode too few interactions
# for a real model: fitting one is warned about before querying.
_FEW_BITS = 4
# Least share of the budget queried as fresh uniformly random masks after the design (the
# rest of the budget goes to them too): the fit's faithfulness is judged on them (designed
# masks are not independent of each other), and the proxy and the screens learn from them.
_FRESH_SHARE = 0.02
# The decoder's terms alone are the surrogate when, refitted on the design, they predict
# the fresh masks at least this well: nothing is left for proxies or screens to find.
_DECODED_EXACTLY = 0.9999
# Fewest fresh masks to judge the fit on; with fewer (a design passed to fit(X, y)) the
# folds are drawn from every row.
_MIN_FRESH_ROWS = 20


@with_shared_docs
class SPEXExplainer(BaseExplainer):
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
    [[components]]
    budget : int or "auto", default="auto"
        Queries to spend: the design with the most bins that leaves at least 2 % of the
        budget (20 masks at least) for fresh uniformly random masks, which take the rest.
        "auto": 64 bins per group and 2 % more fresh masks. A budget that holds all
        ``2**n`` masks (or a design at least that large) queries every mask and gives the
        exact spectrum. A budget whose design has 8 bins per group is warned about before
        querying: it decodes too few interactions for a real model.
    max_order : int, default=5
        Largest interaction order recovered: the BCH code corrects this many errors.
    n_groups : int, default=3
        Number of subsampling groups C: more groups resolve more collisions by peeling.
    decoder : {"soft", "hard"}, default="soft"
        "soft" re-decodes bins that fail the hard decision with Chase decoding (every flip
        of the three least reliable signs), which tolerates noisy values.
    n_terms : "auto" or int, default="auto"
        Terms kept after peeling: "auto" chooses by 5-fold cross-validation.
    index : str, default="mobius"
        Interaction index of ``interactions_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling matrices. Use an int so that ``query_design()`` and a later
        ``fit`` agree.
    n_threads : int or None, default=None
        BLAS threads for the refit (None: 1).
    [[fit_cache]]
    [[verbose]]

    Attributes
    ----------
    [[surrogate attributes]]
    design_ : QueryDesign or None
        The design that was decoded; None when the fit enumerated every mask or, for
        masks that are no design, regressed on screened terms.
    fit_mode_ : {"design", "exhaustive", "regression"}
        How the spectrum was found. "regression": ``fit(X, y)`` got masks that are
        neither a design in ``query_design()`` order nor every mask; terms are then found
        by screening residual correlations (what cross-validation folds get).
    n_peeled_ : int
        Terms found by peeling, before the refit and the choice of ``n_terms``.
    faithfulness_ : float
        How far to trust the fit: an estimate of the surrogate's R² on fresh uniformly
        random masks. The budget's masks after the design are fresh ones that no decoding
        sees. Where the decoded terms, refitted on the design alone, predict them exactly
        (R² >= 0.9999), they are the surrogate and that R² is this. Otherwise the
        decoded terms join a LightGBM proxy's as candidates on the ladder of
        :class:`ProxySPEXExplainer`, whose every rung is fitted again without each fold of
        the fresh masks and judged on it; this is the winner's out-of-fold R². Below 0.5
        the fit warns (:class:`LowFaithfulnessWarning`).
    faithfulness_method_ : str
        How ``faithfulness_`` was computed ("... on designed masks (optimistic)" when
        the masks held no fresh ones: designed masks are not independent).
    selected_surrogate_ : str
        "decoded", "exact" (every mask queried) or a rung of the ladder.
    surrogate_weights_ : dict
        Weight of each rung in ``spectrum_``.
    blend_weight_ : float
        Weight of the sparse rung in ``spectrum_``.
    proxy_ : regressor or None
        The LightGBM proxy fitted on every sample (None when the decoded terms sufficed
        or every mask was queried).
    [[query attributes]]

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

    @refuses_renamed(RENAMED_PARAMETERS)
    def __init__(
        self,
        value_function=None,
        components=None,
        *,
        budget="auto",
        max_order=5,
        n_groups=3,
        decoder="soft",
        n_terms="auto",
        index="mobius",
        random_state=None,
        n_threads=None,
        fit_cache=None,
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
        self.n_threads = n_threads
        self.fit_cache = fit_cache
        self.verbose = verbose

    _parameter_constraints: ClassVar[dict] = {
        **BaseExplainer._parameter_constraints,
        "budget": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "decoder": [StrOptions(set(_DECODERS))],
    }

    def _check_params(self) -> None:
        if self.budget is None:  # the spelling before the rename: refused with the new one
            raise ValueError(
                "SPEXExplainer(budget=None) is now spelled budget='auto' (64 bins per group): "
                "None means no limit, as in GreedyAblationExplainer, and SPEX always has one.")
        super()._check_params()

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
        names = names_from(self.components, self.value_function, None)
        if names is None:
            raise ValueError(
                "the number of components is unknown: pass components=<int or list of "
                "names> or a value_function with an n_components attribute."
            )
        return self._draw_masks(len(names), check_random_state(self.random_state))

    def _planned_queries(self, n: int) -> int:
        if n >= 2 and self._use_every_mask(n):
            return 2**n
        if n < 2:
            return 2
        design = design_size(n, self._order(n), self._bits(n), self.n_groups)
        return design + self._n_fresh(design)

    def _n_fresh(self, design: int) -> int:
        """Fresh uniformly random masks queried after ``design`` distinct designed ones."""
        if self.budget == "auto":
            return max(_MIN_FRESH_ROWS, int(np.ceil(design * _FRESH_SHARE / (1 - _FRESH_SHARE))))
        return int(self.budget) - design

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
        bits = self._bits(n)
        if bits < _FEW_BITS:
            self._warn_small_design(n, bits)
        design = make_design(n, self._order(n), bits, self.n_groups, rng).masks()
        # Designs repeat some masks (every group's first row is the empty mask): the
        # fresh masks make up the budget in distinct queries.
        distinct = len(np.unique(row_keys(design)))
        fresh = _fresh_masks(design, self._n_fresh(distinct), rng)
        return np.vstack([design, fresh])

    def _order(self, n: int) -> int:
        return min(self.max_order, n)

    def _warn_small_design(self, n: int, bits: int) -> None:
        """Say before querying that this budget leaves the decoder little room."""
        t = self._order(n)
        design = design_size(n, t, bits, self.n_groups)
        better = design_size(n, t, _FEW_BITS + 2, self.n_groups)
        better += max(_MIN_FRESH_ROWS, int(np.ceil(better * _FRESH_SHARE)))
        warnings.warn(
            f"SPEXExplainer: budget={self.budget} holds only a design of {2**bits} bins per "
            f"group for {n} components and max_order={t} ({design} designed queries): the "
            f"decoder resolves about {2**bits} interactions, so on a function with more (a "
            "real model) the fit rests on its proxy, and ProxySPEXExplainer spends the same "
            f"budget better. Raise budget to {better} for {2 ** (_FEW_BITS + 2)} bins, lower "
            "max_order, or use ProxySPEXExplainer.",
            UserWarning,
            stacklevel=4,
        )

    def _design_share(self) -> int | None:
        """Queries the design may take: all but the fresh share of the budget."""
        if self.budget == "auto":
            return None
        return int(self.budget) - max(_MIN_FRESH_ROWS, int(np.ceil(self.budget * _FRESH_SHARE)))

    def _bits(self, n: int) -> int:
        """Bits per bin index for this budget (the default when budget is None)."""
        t = self._order(n)
        if self.budget == "auto":
            return min(_DEFAULT_BITS, n)
        bits = largest_bin_bits(n, t, self._design_share(), self.n_groups)
        if bits is None:
            smallest = design_size(n, t, MIN_BITS, self.n_groups)
            needed = smallest + max(_MIN_FRESH_ROWS, int(np.ceil(smallest * _FRESH_SHARE)))
            raise ValueError(
                f"budget={self.budget} is below the smallest SPEX design for {n} components "
                f"and max_order={t}: {smallest} queries ({self.n_groups} groups x "
                f"{smallest // (self.n_groups * 2**MIN_BITS)} delays x {2**MIN_BITS} bins), "
                f"plus {needed - smallest} fresh random masks to check the fit on. Raise "
                f"budget to at least {needed}, lower max_order or n_groups, or use "
                "ProxySPEXExplainer, which works with any budget."
            )
        return min(bits, n)

    def _use_every_mask(self, n: int) -> bool:
        """Enumerate all 2^n masks when that is no dearer than the queries planned."""
        if n > MAX_ENUMERATED_N:
            return False
        if self.budget != "auto" and self.budget >= 2**n:
            return True
        t = self._order(n)
        if self.budget == "auto":
            design = design_size(n, t, min(_DEFAULT_BITS, n), self.n_groups)
            return design + self._n_fresh(design) >= 2**n
        bits = largest_bin_bits(n, t, self._design_share(), self.n_groups)
        # No design fits the budget (bits None): refused in _bits, never silently exceeded.
        return bits is not None and design_size(n, t, min(bits, n), self.n_groups) >= 2**n

    # ------------------------------------------------------------ spectrum
    def _fit_spectrum(self, X: np.ndarray, y: np.ndarray, rng) -> SpectrumFit:
        n = X.shape[1]
        binary = X.dtype == np.uint8 or bool(np.isin(X, (0.0, 1.0)).all())
        if binary and is_every_mask(X):
            return _with_mode(self._exact(X, y), "exhaustive")
        design, rows = split_design(np.asarray(X, np.uint8), self._order(n), self.n_groups) if (
            binary and n >= 2) else (None, 0)
        found, n_peeled = None, 0
        if design is None:
            self._log("the masks are no SPEX design: finding terms by the proxy and screens")
        else:
            found, n_peeled = self._decode(design, y[:rows], n)
            decoded = self._if_decoded_exactly(found, X, y, rows)
            if decoded is not None:
                return _with_mode(decoded, "design", design, n_peeled)
        # Judged on the fresh masks after the design, which no decoding saw (on every row
        # when there are too few: designed masks are not independent, so that is kinder).
        fresh = np.arange(rows, X.shape[0])
        judged = fresh if len(fresh) >= _MIN_FRESH_ROWS else np.arange(X.shape[0])
        fit = self._fit_ladder(X, y, rng, judged, extra=found)
        if len(judged) != len(fresh):
            fit = replace(fit, faithfulness_method=(f"{fit.faithfulness_method} on designed "
                                                    "masks (optimistic)"))
        return _with_mode(fit, "regression" if design is None else "design", design, n_peeled)

    def _if_decoded_exactly(self, found, X, y, rows: int) -> SpectrumFit | None:
        """The decoder's terms refitted, when they alone predict the fresh masks exactly.

        Refitted on the designed masks only, they are judged on the fresh masks that no
        step has seen; when that leaves nothing to explain (an exactly sparse function),
        the ladder of proxies and screens has nothing to add and is skipped.
        """
        if X.shape[0] - rows < _MIN_FRESH_ROWS or self.n_terms != "auto" or len(found) == 0:
            return None
        fresh = slice(rows, None)
        predicted = refit(found, X[:rows], y[:rows]).evaluate(X[fresh])
        total = float(((y[fresh] - y[fresh].mean()) ** 2).sum())
        if total <= 0:
            return None
        r2 = 1.0 - float(((y[fresh] - predicted) ** 2).sum()) / total
        if r2 < _DECODED_EXACTLY:
            return None
        self._log(f"the {len(found)} decoded terms predict the fresh masks (R² {r2:.6f})")
        spectrum = refit(found, X, y)
        return SpectrumFit(spectrum, "decoded", r2,
                           "the decoded terms, refitted on the design, on its fresh masks",
                           len(spectrum))

    def _fitted_proxy(self, X, y, rng, search) -> FittedProxy:
        model, search = fit_default_lightgbm(X, y, rng, self.n_threads, search)
        return FittedProxy(
            model, tree_model_spectrum(model, X.shape[1], max_order=self.max_order), search)

    def _decode(self, design: QueryDesign, y: np.ndarray, n: int) -> tuple[SparseSpectrum, int]:
        """The peeled terms, and how many the peeling found."""
        result = peel(
            bin_transforms(y, design), design,
            soft=self.decoder == "soft", max_order=self.max_order,
        )
        self._log(
            f"peeling: {len(result.coefs)} terms in {result.rounds} rounds; "
            f"{result.unexplained:.2%} of the bin energy unexplained"
        )
        spectrum = SparseSpectrum.from_arrays(
            pad_members(result.members, max(1, result.members.shape[1])), result.coefs, n
        )
        return spectrum, len(result.coefs)


def _with_mode(fit: SpectrumFit, mode: str, design: QueryDesign | None = None,
               n_peeled: int = 0) -> SpectrumFit:
    """``fit`` with SPEX's own fitted attributes: ``fit_mode_``, ``design_``,
    ``n_peeled_``."""
    return replace(fit, attributes={"fit_mode": mode, "design": design, "n_peeled": n_peeled})


def _fresh_masks(design: np.ndarray, count: int, rng) -> np.ndarray:
    """``count`` distinct paired random masks that are not in the design."""
    n = design.shape[1]
    taken = set(row_keys(design).tolist())
    rows = np.zeros((0, n), np.uint8)
    while len(rows) < count:
        drawn = draw_paired_masks(n, 2 * (count - len(rows)) + 2, rng)
        drawn = drawn[[key not in taken for key in row_keys(drawn).tolist()]]
        taken.update(row_keys(drawn).tolist())
        rows = np.vstack([rows, drawn])
    return rows[:count]
