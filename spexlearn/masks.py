"""Masks: drawing them, enumerating them, telling them apart, and checking them.

A mask is a 0/1 vector over the ``n`` components, **1 = kept, 0 = ablated**; a batch of
masks is an ``(m, n)`` array. Every explainer and every value function draws, enumerates,
deduplicates and checks masks through the functions of this module, so the rules are
written (and tested) once:

- :func:`draw_uniform_masks`: distinct uniformly random masks (what ProxySPEX queries);
- :func:`draw_paired_masks`: distinct random masks in complementary (antithetic) pairs;
- :func:`every_mask`: all ``2^n`` masks, row ``i`` holding the bits of ``i``;
- :func:`row_keys` and :func:`distinct_rows`: one key per mask, and the distinct masks;
- :func:`check_masks`: the one check of a mask array (shape; 0/1 entries, or
  keep-probabilities in ``[0, 1]`` where a surrogate is evaluated).

Only numpy is imported here, so the ``spectral`` maths may use this module too.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MAX_ENUMERATED_N",
    "check_masks",
    "distinct_rows",
    "draw_paired_masks",
    "draw_uniform_masks",
    "every_mask",
    "pair_groups",
    "row_keys",
]

# Largest n whose 2^n masks are ever written out, for any purpose: random masks drawn as
# distinct integers below 2^n, an exact transform of every mask, a black-box proxy read on
# every mask (2^20 masks of 20 components take 20 MB as uint8).
MAX_ENUMERATED_N = 20
# Above it, masks are still enumerated when more than 1 / _DENSE_SHARE of all are drawn.
_DENSE_SHARE = 8


def every_mask(n: int) -> np.ndarray:
    """All ``2^n`` masks of ``n`` components, each once.

    Parameters
    ----------
    n : int
        Number of components (``2^n`` rows are written out: keep it small).

    Returns
    -------
    masks : ndarray of shape (2**n, n), dtype uint8
        Row ``i`` holds the bits of the integer ``i``: component ``j`` is bit ``j``. The
        first row is all-zeros (everything ablated), the last all-ones (the input).

    Examples
    --------
    >>> from spexlearn.masks import every_mask
    >>> every_mask(2)
    array([[0, 0],
           [1, 0],
           [0, 1],
           [1, 1]], dtype=uint8)
    """
    n = _count(n, "n")
    return _bits(np.arange(2**n, dtype=np.int64), n)


def draw_uniform_masks(
    n: int, count: int, random_state: int | np.random.RandomState | None = None
) -> np.ndarray:
    """``count`` distinct uniformly random masks; all-ones and all-zeros come first.

    Each of the other masks is drawn uniformly among those not drawn yet. Up to 20
    components (or where ``count`` is more than an eighth of all ``2^n`` masks) they are
    drawn as distinct integers below ``2^n``, otherwise by rejecting repeated rows.

    Parameters
    ----------
    n : int
        Number of components.
    count : int
        Number of masks, at most ``2^n``.
    random_state : int, RandomState instance or None, default=None
        The draw; the same ``RandomState`` (in the same state) gives the same masks.

    Returns
    -------
    masks : ndarray of shape (count, n), dtype uint8
        Row 0 is all-ones (the original input), row 1 all-zeros; no row repeats.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.masks import draw_uniform_masks, row_keys
    >>> masks = draw_uniform_masks(10, 50, np.random.RandomState(0))
    >>> masks.shape, bool(masks[0].all()), bool(masks[1].any())
    ((50, 10), True, False)
    >>> len(np.unique(row_keys(masks)))
    50
    """
    n, count = _count(n, "n", least=1), _draw_count(n, count)
    rng = _random_state(random_state)
    if _enumerable(n, count):
        codes = rng.choice(np.arange(1, 2**n - 1), size=max(count - 2, 0), replace=False)
        codes = np.concatenate([[2**n - 1, 0], codes]).astype(np.int64)
        return _bits(codes, n)[:count]
    rows = np.vstack([np.ones((1, n), np.uint8), np.zeros((1, n), np.uint8)])
    while rows.shape[0] < count:
        extra = rng.randint(0, 2, size=(count - rows.shape[0], n)).astype(np.uint8)
        rows = distinct_rows(np.vstack([rows, extra]))[0]
    return rows[:count]


def draw_paired_masks(
    n: int, count: int, random_state: int | np.random.RandomState | None = None
) -> np.ndarray:
    """``count`` distinct random masks in complementary pairs ``(x, 1 - x)``.

    Each mask is uniformly random, but its complement follows it. A Fourier term of odd
    order flips sign between ``x`` and ``1 - x`` and one of even order does not, so across
    the pairs the odd and even terms are exactly orthogonal: the unexplained even-order
    part no longer blurs the estimates of odd-order terms (first order included) and vice
    versa.

    Parameters
    ----------
    n, count, random_state
        As in :func:`draw_uniform_masks`: components, masks (at most ``2^n``) and the
        draw.

    Returns
    -------
    masks : ndarray of shape (count, n), dtype uint8
        All-ones and all-zeros come first (a pair themselves), then each drawn mask
        followed by its complement; an odd ``count`` drops the last complement. No row
        repeats.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.masks import draw_paired_masks
    >>> masks = draw_paired_masks(6, 8, np.random.RandomState(0))
    >>> bool((masks[2::2] + masks[3::2] == 1).all())  # each mask, then its complement
    True
    """
    n, count = _count(n, "n", least=1), _draw_count(n, count)
    rng = _random_state(random_state)
    n_pairs = count // 2 - 1 + count % 2
    if _enumerable(n, count):
        # Codes below 2^(n-1) (top bit 0, not 0 itself) and their complements are all the
        # masks but the two constant ones, each exactly once.
        half = rng.choice(np.arange(1, 2 ** (n - 1)), size=max(n_pairs, 0), replace=False)
        codes = np.column_stack([half, (2**n - 1) ^ half]).ravel()
        codes = np.concatenate([[2**n - 1, 0], codes]).astype(np.int64)
        rows = _bits(codes, n)
    else:
        rows = np.vstack([np.ones((1, n), np.uint8), np.zeros((1, n), np.uint8)])
        while rows.shape[0] < count:
            half = rng.randint(0, 2, size=(n_pairs, n)).astype(np.uint8)
            pairs = np.stack([half, 1 - half], axis=1).reshape(-1, n)
            rows = distinct_rows(np.vstack([rows, pairs]))[0]
    return rows[:count]


def pair_groups(masks: ArrayLike) -> np.ndarray:
    """A group label per row: a 0/1 mask and its complement share one.

    Paired sampling (:func:`draw_paired_masks`) ties each mask to its complement: a fit
    that saw one knows much of the other's value, and a statistic summed over the rows
    counts the pair's odd-order (or even-order) part twice. Whatever splits or weighs
    rows as independent uses these groups instead.

    Parameters
    ----------
    masks : array-like of shape (m, n)
        The rows. A matrix that is not 0/1 has no complements: every row is then a group
        of its own.

    Returns
    -------
    groups : ndarray of shape (m,), dtype int64
        Labels ``0 .. n_groups - 1``; identical rows share one too.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.masks import pair_groups
    >>> groups = pair_groups(np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]]))
    >>> bool(groups[0] == groups[1] != groups[2])  # a mask and its complement
    True
    """
    X = np.asarray(masks)
    group = np.arange(X.shape[0], dtype=np.int64)
    if X.shape[0] and np.isin(X, (0, 1)).all():
        binary = X > 0.5
        canonical = binary ^ binary[:, :1]  # x and 1 - x share the row with a leading 0
        _, paired = np.unique(np.packbits(canonical, axis=1), axis=0, return_inverse=True)
        if paired.max() >= 1:  # at least two groups
            group = paired.reshape(-1).astype(np.int64)
    return group


def row_keys(masks: ArrayLike) -> np.ndarray:
    """One hashable, sortable key per 0/1 row: its packed bits.

    Parameters
    ----------
    masks : array-like of shape (m, n)
        0/1 rows (any nonzero entry counts as 1); C or Fortran order, or a DataFrame.

    Returns
    -------
    keys : ndarray of shape (m,), dtype ``void`` of ``ceil(n / 8)`` bytes
        Equal rows have equal keys; ``bytes(key)`` is a dictionary key for a mask.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.masks import row_keys
    >>> keys = row_keys(np.array([[1, 0, 1], [0, 1, 1], [1, 0, 1]]))
    >>> len(np.unique(keys)), bytes(keys[0]) == bytes(keys[2])
    (2, True)
    """
    # The void view needs C order; a DataFrame's or Fortran-ordered masks are not.
    packed = np.ascontiguousarray(np.packbits(masks, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def distinct_rows(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows in order of first occurrence, and where each row went.

    Parameters
    ----------
    masks : ndarray of shape (m, n)
        0/1 rows.

    Returns
    -------
    distinct : ndarray of shape (k, n)
        Each distinct row once, in the order it first occurs (``masks`` itself when no
        row repeats).
    inverse : ndarray of shape (m,)
        ``distinct[inverse]`` equals ``masks``.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.masks import distinct_rows
    >>> distinct, inverse = distinct_rows(np.array([[1, 0], [0, 0], [1, 0]]))
    >>> distinct.tolist(), inverse.tolist()
    ([[1, 0], [0, 0]], [0, 1, 0])
    """
    _, first, inverse = np.unique(row_keys(masks), return_index=True, return_inverse=True)
    if len(first) == len(masks):
        return masks, np.arange(len(masks))
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return masks[first[order]], rank[inverse.reshape(-1)]


def check_masks(
    masks: ArrayLike,
    n_components: int | None = None,
    *,
    binary: bool = True,
    allow_empty: bool = False,
) -> np.ndarray:
    """Check a mask array, and return it in the layout the package computes with.

    Parameters
    ----------
    masks : array-like of shape (m, n_components)
        The masks (1 = kept, 0 = ablated); a DataFrame or any ordering works.
    n_components : int or None, default=None
        The number of columns required; None: any number.
    binary : bool, default=True
        True: every entry must be 0 or 1 (or a bool), as where a value function is
        queried. False: entries are keep-probabilities in ``[0, 1]`` (0 or 1, or between
        them for the multilinear extension), as where a surrogate is evaluated; -1 or 2
        would extrapolate it without any error, so they are refused.
    allow_empty : bool, default=False
        Accept an array without rows.

    Returns
    -------
    masks : ndarray of shape (m, n_components)
        A C-ordered copy as uint8 if ``binary``, else the entries as float64.

    Raises
    ------
    ValueError
        Naming the first offending entry (row and column) or the shape found.

    Examples
    --------
    >>> from spexlearn.masks import check_masks
    >>> check_masks([[1, 0, 1], [True, False, False]], 3)
    array([[1, 0, 1],
           [1, 0, 0]], dtype=uint8)
    >>> check_masks([[0.25, 1.0]], binary=False)
    array([[0.25, 1.  ]])
    >>> check_masks([[1, 2]], 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: masks must hold 0 (ablated) or 1 (kept); found 2 at row 0, column 1. ...
    """
    X = np.asarray(masks) if binary else np.asarray(masks, dtype=np.float64)
    if n_components is None:
        if X.ndim != 2:
            raise ValueError(f"masks must be a 2-D array of shape (n_masks, n_components), "
                             f"got shape {X.shape}.")
    elif X.ndim != 2 or X.shape[1] != n_components:
        raise ValueError(
            f"masks must have shape (n_masks, {n_components}) for {n_components} components, "
            f"got {X.shape}."
        )
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError("got no masks: pass at least one row.")
    if not binary:
        bad = ~((X >= 0) & (X <= 1))  # NaN too
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"masks must hold values in [0, 1] (1 = kept, 0 = ablated); found "
                f"{X[row, col].item()!r} at row {row}, column {col} (entries out of range: "
                f"{int(bad.sum())}). "
                "Binarise them first, e.g. (X > 0.5).astype(int)."
            )
        return X
    if X.dtype != bool:
        bad = ~((X == 0) | (X == 1))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"masks must hold 0 (ablated) or 1 (kept); found {X[row, col].item()!r} at row "
                f"{row}, column {col}. Binarise them first, e.g. (X > 0.5).astype(int)."
            )
    # Row keys view each row's packed bytes: C order keeps a row's bytes together.
    return np.array(X, dtype=np.uint8, order="C")


# ------------------------------------------------------------------ helpers
def _bits(codes: np.ndarray, n: int) -> np.ndarray:
    """Masks from integer codes: component ``j`` is bit ``j`` of the code."""
    return ((codes[:, None] >> np.arange(n)) & 1).astype(np.uint8)


def _enumerable(n: int, count: int) -> bool:
    """Draw by enumerating the integers below 2^n: for small n, and wherever ``count`` is
    a large share of the masks (rejection sampling would then collect coupons for hours;
    the integers take 8 bytes a mask, about what the masks themselves take)."""
    # (Integers below 2^n are int64: 63 bits at most.)
    return n <= MAX_ENUMERATED_N or (n < 63 and count > 2**n // _DENSE_SHARE)


def _count(value, name: str, least: int = 0) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")
    return int(value)


def _draw_count(n: int, count) -> int:
    count = _count(count, "count")
    if count > 2**n:  # Python integers: no overflow at any n
        raise ValueError(f"count={count} exceeds the {2**n} distinct masks of {n} components.")
    return count


def _random_state(seed) -> np.random.RandomState:
    """``seed`` as a RandomState, as scikit-learn's ``check_random_state`` reads it."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    raise ValueError(f"random_state must be None, an integer or a numpy RandomState, got "
                     f"{seed!r}.")
