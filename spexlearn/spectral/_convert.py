"""Interaction indices of a sparse spectrum.

Every index is a weighted sum over the Möbius coefficients of supersets,
``I(T) = sum_{S ⊇ T} w(|S|, |T|) a(S)``, so one call to `subset_sums` computes it. The
weights are kept as exact fractions: for a Fourier spectrum they are composed with the
Fourier -> Möbius map (``a(U) = (-2)^|U| sum_{S ⊇ U} F(S)``) into one weight on ``F(S)``,
which avoids materialising the Möbius spectrum (2^|S| terms per term) and the
cancellation of its large alternating coefficients.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from math import comb

import numpy as np

from ._sparse import FOURIER, MOBIUS, SparseSpectrum, subset_sums

INDICES = ("fourier", "mobius", "shapley", "banzhaf", "sii", "bii", "stii", "fsii", "fbii",
           "ksii")

ExactWeight = Callable[[int, int], Fraction]


def _mobius_weight(index: str, k: int) -> ExactWeight:
    """The exact weight ``w(s, t)`` of ``a(S)`` in ``I(T)`` for ``|S| = s, |T| = t``."""

    def mobius(s: int, t: int) -> Fraction:
        return Fraction(int(s == t))

    def fourier(s: int, t: int) -> Fraction:
        return Fraction((-1) ** t, 2**s)

    def sii(s: int, t: int) -> Fraction:
        # The empty set carries the baseline a(∅) = f(∅) instead of its SII.
        return Fraction(int(s == 0)) if t == 0 else Fraction(1, s - t + 1)

    def bii(s: int, t: int) -> Fraction:
        return Fraction(1, 2 ** (s - t))

    def stii(s: int, t: int) -> Fraction:
        # Below order k the index is the Möbius coefficient; each a(S) with |S| >= k is
        # shared equally among its C(s, k) subsets of size k.
        return Fraction(int(s == t)) if t < k else Fraction(1, comb(s, k))

    def fsii(s: int, t: int) -> Fraction:
        if s <= k:
            return Fraction(int(s == t))
        scale = (-1) ** (k - t) * Fraction(t, k + t) * comb(k, t)
        return scale * Fraction(comb(s - 1, k), comb(s + k - 1, k + t))

    def fbii(s: int, t: int) -> Fraction:
        if s <= k:
            return Fraction(int(s == t))
        return (-1) ** (k - t) * Fraction(comb(s - t - 1, k - t), 2 ** (s - t))

    def ksii(s: int, t: int) -> Fraction:
        # k-SII(T) = sum over R outside T with t + |R| <= k of B_|R| SII(T u R); a(S)
        # reaches T u R for C(s - t, j) sets R of size j, each with SII weight
        # 1 / (s - t - j + 1). For s <= k the sum is [s == t] (the Bernoulli recursion).
        if t == 0:
            return Fraction(int(s == 0))
        return sum((comb(s - t, j) * _bernoulli(j) / (s - t - j + 1)
                    for j in range(min(k, s) - t + 1)), Fraction(0))

    table = {"mobius": mobius, "fourier": fourier, "shapley": sii, "banzhaf": bii}
    table.update(sii=sii, bii=bii, stii=stii, fsii=fsii, fbii=fbii, ksii=ksii)
    return table[index]


@cache
def _bernoulli(j: int) -> Fraction:
    """The Bernoulli number ``B_j`` (``B_1 = -1/2``), exactly, by the recursion
    ``sum_{i <= j} C(j + 1, i) B_i = 0``: a few lines where no dependency has them as
    fractions (sympy is not one)."""
    if j == 0:
        return Fraction(1)
    return -sum((comb(j + 1, i) * _bernoulli(i) for i in range(j)), Fraction(0)) / (j + 1)


def _on_fourier(weight: ExactWeight) -> ExactWeight:
    """The weight of ``F(S)`` in ``I(T)``, given the weight ``w(u, t)`` of ``a(U)``.

    ``I(T) = sum_{S ⊇ T} F(S) sum_{T ⊆ U ⊆ S} w(|U|, t) (-2)^|U|``; the inner sum only
    depends on ``s`` and ``t``: ``sum_j C(s - t, j) w(t + j, t) (-2)^(t + j)``.
    """

    def composed(s: int, t: int) -> Fraction:
        return sum(
            (comb(s - t, j) * weight(t + j, t) * (-2) ** (t + j) for j in range(s - t + 1)),
            Fraction(0),
        )

    return composed


def _vectorised(weight: ExactWeight) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A float, array-in array-out version of an exact weight (memoised per ``(s, t)``)."""
    exact = cache(weight)
    return np.vectorize(lambda s, t: float(exact(int(s), int(t))), otypes=[np.float64])


def _check_order(order, minimum: int) -> int:
    try:
        k = operator.index(order)
    except TypeError:
        raise TypeError(f"order must be an integer or None, got {order!r}.") from None
    if k < minimum:
        raise ValueError(f"order must be >= {minimum}, got {k}.")
    return k


def _target_order(spectrum: SparseSpectrum, index: str, order) -> int | None:
    """The largest target size kept (``None``: no limit) for an index."""
    if index in ("shapley", "banzhaf"):
        return 1
    if index in ("fourier", "mobius"):
        return None if order is None else _check_order(order, 0)
    if order is None:
        return max(spectrum.max_order, 1)
    return _check_order(order, 1)


def interaction_values(
    spectrum: SparseSpectrum, index: str, order: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Summarise a sparse spectrum as the values of an interaction index.

    With ``a`` the Möbius and ``F`` the Fourier coefficients, ``s = |S|``, ``t = |T|``
    and ``k = order``, sums running over the supersets ``S ⊇ T`` that carry a term:

    - ``"fourier"`` / ``"mobius"``: ``F(T)`` / ``a(T)`` for ``t <= k`` (all when ``k`` is
      None).
    - ``"shapley"``: per component, ``sum_{S ∋ i} a(S) / s``; the empty set carries the
      baseline ``f(∅) = a(∅)``, so all values sum to the full-input value.
    - ``"banzhaf"``: per component, ``sum_{S ∋ i} a(S) / 2^(s-1) = -2 F({i})``; the empty
      set carries the mean value ``F(∅)``.
    - ``"sii"`` (Shapley interaction index): ``sum a(S) / (s - t + 1)`` for
      ``1 <= t <= k``; the empty set carries ``a(∅)``.
    - ``"bii"`` (Banzhaf interaction index): ``sum a(S) / 2^(s-t)`` for ``0 <= t <= k``.
    - ``"stii"`` (Shapley-Taylor): ``a(T)`` for ``t < k``, ``sum a(S) / C(s, k)`` for
      ``t = k``; all values sum to the full-input value.
    - ``"fsii"`` (Faith-Shap): ``a(T) + (-1)^(k-t) t / (k+t) C(k, t)
      sum_{s > k} C(s-1, k) / C(s+k-1, k+t) a(S)``, the order-k Möbius polynomial closest
      to ``f`` in the Shapley-kernel weighted least-squares sense, exact at ∅ and at all
      components kept.
    - ``"fbii"`` (Faith-Banzhaf): ``a(T) + (-1)^(k-t) sum_{s > k} C(s-t-1, k-t)
      2^-(s-t) a(S)``, the order-k least-squares fit over uniformly random masks.
    - ``"ksii"`` (k-Shapley values, shapiq's default index; Bordt & von Luxburg, AISTATS
      2023): ``sum_{R ⊆ N - T, t + |R| <= k} B_|R| SII(T ∪ R)`` with the Bernoulli
      numbers ``B``, for ``1 <= t <= k``: the SII of order k, with the lower orders
      corrected so that all values sum to the full-input value; it equals ``a(T)`` where
      ``f`` has no term above order k. The empty set carries ``a(∅)``.

    Parameters
    ----------
    spectrum : SparseSpectrum
        A Fourier or Möbius spectrum.
    index : str
        One of :data:`INDICES` (case-insensitive).
    order : int or None, default=None
        Largest interaction order ``k``. Ignored by ``"shapley"`` and ``"banzhaf"``; a
        filter for ``"fourier"`` and ``"mobius"`` (None: all terms); for the other
        indices None means the spectrum's largest order (at least 1).

    Returns
    -------
    members : ndarray of shape (n_values, width)
        Padded member matrix (``-1`` = padding) of the subsets, in canonical order
        (by size, then lexicographic). Only subsets of the spectrum's terms appear;
        subsets whose value is zero (up to rounding) are left out.
    values : ndarray of shape (n_values,)
        The index value of each subset.

    Raises
    ------
    ValueError
        For an unknown index, or an order below 1 (below 0 for ``"fourier"`` and
        ``"mobius"``).

    Examples
    --------
    >>> from spexlearn.spectral import SparseSpectrum, interaction_values
    >>> f = SparseSpectrum([(), (0, 1)], [1.0, 2.0], n_components=3, kind="mobius")
    >>> members, values = interaction_values(f, "shapley")
    >>> members.tolist(), values.tolist()
    ([[-1], [0], [1]], [1.0, 1.0, 1.0])
    >>> members, values = interaction_values(f, "bii", order=2)
    >>> values.tolist()
    [1.5, 1.0, 1.0, 2.0]
    """
    if not isinstance(spectrum, SparseSpectrum):
        raise TypeError(f"spectrum must be a SparseSpectrum, got {type(spectrum).__name__}.")
    name = index.lower() if isinstance(index, str) else index
    if name not in INDICES:
        raise ValueError(f"unknown index {index!r}; valid indices are {', '.join(INDICES)}.")
    cap = _target_order(spectrum, name, order)
    if name == spectrum.kind:
        # Same basis: a filter, which keeps the terms exactly as stored.
        kept = spectrum if cap is None else spectrum.restrict(cap)
        return kept.members, kept.coef
    weight = _mobius_weight(name, 1 if cap is None else cap)
    if spectrum.kind == FOURIER:
        weight = _on_fourier(weight)
    kind = FOURIER if name == FOURIER else MOBIUS
    out = subset_sums(spectrum, _vectorised(weight), kind=kind, max_target_order=cap)
    return out.members, out.coef
