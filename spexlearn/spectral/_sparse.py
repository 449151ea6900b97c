"""Sparse spectra: a list of subsets of components with one coefficient each.

A spectrum is stored as a padded member matrix: row ``t`` holds the sorted component
indices of subset ``t`` followed by ``-1`` padding. Rows are kept in a canonical order
(by subset size, then lexicographically), duplicates merged, so two spectra with the same
terms compare equal array for array.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

FOURIER = "fourier"
MOBIUS = "mobius"
_KINDS = (FOURIER, MOBIUS)

# Elements per (rows x terms) temporary in `evaluate` / `basis`: bounds peak memory.
_CHUNK_ELEMENTS = 4_000_000
_CANCELLATION_RTOL = 1e-13


def canonical_terms(
    members: np.ndarray, coefs: np.ndarray, *, drop_zeros: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row, order rows canonically and sum the coefficients of equal subsets.

    Parameters
    ----------
    members : ndarray of shape (n_terms, width)
        Component indices, ``-1`` for padding, in any order within a row. Repeated
        indices inside one row are not allowed.
    coefs : ndarray of shape (n_terms,)
    drop_zeros : bool
        Remove terms whose merged coefficient is exactly zero.
    """
    members = np.asarray(members, dtype=np.int64)
    coefs = np.asarray(coefs, dtype=np.float64)
    if members.ndim != 2:
        members = members.reshape(len(coefs), -1)
    if members.shape[0] == 0:
        return np.zeros((0, members.shape[1]), dtype=np.int64), np.zeros(0)
    # Padding sorts last within a row because -1 is mapped to a value above any index.
    big = np.iinfo(np.int64).max
    rows = np.sort(np.where(members < 0, big, members), axis=1)
    orders = (rows != big).sum(axis=1)
    width = int(orders.max()) if orders.size else 0
    rows = rows[:, :width]
    repeated = (rows[:, 1:] == rows[:, :-1]) & (rows[:, 1:] != big)
    if repeated.any():
        row = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise ValueError(f"term {row} repeats a component; subsets are sets.")
    keys = [rows[:, j] for j in range(width - 1, -1, -1)] + [orders]
    perm = np.lexsort(keys)
    rows, coefs = rows[perm], coefs[perm]
    if len(rows) > 1:
        new_group = np.empty(len(rows), dtype=bool)
        new_group[0] = True
        new_group[1:] = np.any(rows[1:] != rows[:-1], axis=1)
        starts = np.flatnonzero(new_group)
        coefs = np.add.reduceat(coefs, starts)
        rows = rows[starts]
    rows = np.where(rows == big, -1, rows)
    if drop_zeros:
        keep = coefs != 0
        rows, coefs = rows[keep], coefs[keep]
    return rows, coefs


def _members_from_subsets(subsets: Iterable[Iterable[int]]) -> np.ndarray:
    subsets = [tuple(int(i) for i in s) for s in subsets]
    width = max((len(s) for s in subsets), default=0)
    members = np.full((len(subsets), width), -1, dtype=np.int64)
    for row, subset in enumerate(subsets):
        if len(set(subset)) != len(subset):
            raise ValueError(f"subset {subset} repeats a component; subsets are sets.")
        members[row, : len(subset)] = subset
    return members


class SparseSpectrum:
    """A sparse Fourier or Möbius representation of a function of Boolean masks.

    Fourier form: ``f(x) = sum_S F(S) * (-1) ** |S ∩ x|``; Möbius form:
    ``f(x) = sum_{S ⊆ x} a(S)``, where ``x`` is the set of kept components (mask 1).

    Parameters
    ----------
    subsets : iterable of iterables of int
        The subsets of component indices that carry a coefficient.
    coef : array-like of shape (n_terms,)
        One coefficient per subset. Repeated subsets are summed.
    n_components : int
        Number of components ``n``; every index must lie in ``[0, n)``.
    kind : {"fourier", "mobius"}, default="fourier"
        Which basis the coefficients refer to.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.spectral import SparseSpectrum
    >>> f = SparseSpectrum([(), (0,), (0, 2)], [1.0, 0.5, -2.0], n_components=3)
    >>> f.evaluate(np.array([[1, 1, 1], [0, 0, 0]]))
    array([-1.5, -0.5])
    >>> f.to_mobius()[(0, 2)]
    -8.0
    """

    def __init__(self, subsets, coef, n_components: int, kind: str = FOURIER):
        members = _members_from_subsets(subsets)
        self._init_arrays(members, coef, n_components, kind)

    @classmethod
    def from_arrays(
        cls, members, coef, n_components: int, kind: str = FOURIER, *, drop_zeros=False
    ) -> SparseSpectrum:
        """Build from a padded member matrix (``-1`` = padding); duplicates are summed."""
        self = cls.__new__(cls)
        self._init_arrays(members, coef, n_components, kind, drop_zeros=drop_zeros)
        return self

    @classmethod
    def from_terms(
        cls, terms: Mapping, n_components: int, kind: str = FOURIER
    ) -> SparseSpectrum:
        """Build from ``{subset tuple: coefficient}`` (what :meth:`terms` returns)."""
        return cls(list(terms.keys()), list(terms.values()), n_components, kind)

    def _init_arrays(self, members, coefs, n_components, kind, *, drop_zeros=False):
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
        n_components = int(n_components)
        if n_components < 0:
            raise ValueError(f"n_components must be >= 0, got {n_components}.")
        coefs = np.asarray(coefs, dtype=np.float64).reshape(-1)
        members = np.asarray(members, dtype=np.int64)
        if members.ndim != 2 or members.shape[0] != coefs.shape[0]:
            raise ValueError(
                f"members must have one row per coefficient: got shape {members.shape} "
                f"for {coefs.shape[0]} coefficients."
            )
        if members.size and members.min() < -1:
            raise ValueError("component indices must be >= 0 (-1 marks padding).")
        if members.size and members.max() >= n_components:
            raise ValueError(
                f"a subset contains component {int(members.max())}, but there are only "
                f"{n_components} components (indices 0..{n_components - 1})."
            )
        if not np.all(np.isfinite(coefs)):
            raise ValueError("coefficients must be finite (no NaN or inf).")
        self._members, self._coef = canonical_terms(members, coefs, drop_zeros=drop_zeros)
        self._orders = (self._members >= 0).sum(axis=1).astype(np.int64)
        self.n_components = n_components
        self.kind = kind

    # ------------------------------------------------------------------ access
    @property
    def members(self) -> np.ndarray:
        """Padded member matrix of shape (n_terms, max_order), ``-1`` = padding."""
        return self._members

    @property
    def coef(self) -> np.ndarray:
        """Coefficients, one per term, in canonical term order."""
        return self._coef

    @property
    def orders(self) -> np.ndarray:
        """Subset size of every term."""
        return self._orders

    @property
    def max_order(self) -> int:
        return int(self._orders.max()) if len(self) else 0

    @property
    def subsets(self) -> list[tuple[int, ...]]:
        """The subsets as tuples of sorted component indices."""
        return [tuple(int(i) for i in row[:k]) for row, k in zip(self._members, self._orders)]

    def __len__(self) -> int:
        return len(self._coef)

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], float]]:
        return iter(zip(self.subsets, self._coef.tolist()))

    def terms(self) -> dict[tuple[int, ...], float]:
        """``{subset tuple: coefficient}``, as :meth:`Interactions.terms` gives values."""
        return dict(self)

    def __getitem__(self, subset) -> float:
        """Coefficient of a subset; 0.0 when the subset carries no term."""
        key = tuple(sorted(int(i) for i in subset))
        if key and (key[0] < 0 or key[-1] >= self.n_components):
            raise KeyError(f"subset {key} is outside components 0..{self.n_components - 1}")
        k = len(key)
        if k > self._members.shape[1]:
            return 0.0
        hits = self._orders == k
        if k:
            hits &= np.all(self._members[:, :k] == np.asarray(key), axis=1)
        found = np.flatnonzero(hits)
        return float(self._coef[found[0]]) if found.size else 0.0

    def __repr__(self) -> str:
        return (
            f"SparseSpectrum(kind={self.kind!r}, n_components={self.n_components}, "
            f"n_terms={len(self)}, max_order={self.max_order})"
        )

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, SparseSpectrum)
            and self.kind == other.kind
            and self.n_components == other.n_components
            and self._members.shape == other._members.shape
            and np.array_equal(self._members, other._members)
            and np.array_equal(self._coef, other._coef)
        )

    __hash__ = None

    def allclose(self, other: SparseSpectrum, *, atol: float = 1e-9) -> bool:
        """Whether two spectra have the same terms, ignoring coefficients below ``atol``."""
        if self.kind != other.kind or self.n_components != other.n_components:
            return False
        diff = self.add(other, scale=-1.0)
        return bool(np.all(np.abs(diff.coef) <= atol))

    # --------------------------------------------------------------- building
    def _replace(self, members, coefs, kind=None, **kwargs) -> SparseSpectrum:
        return SparseSpectrum.from_arrays(
            members, coefs, self.n_components, kind or self.kind, **kwargs
        )

    def add(self, other: SparseSpectrum, *, scale: float = 1.0) -> SparseSpectrum:
        """``self + scale * other`` (same kind and number of components)."""
        if self.kind != other.kind or self.n_components != other.n_components:
            raise ValueError("can only add spectra of the same kind and number of components.")
        width = max(self._members.shape[1], other._members.shape[1])
        members = np.vstack([pad_members(self._members, width), pad_members(other._members, width)])
        coefs = np.concatenate([self._coef, scale * other._coef])
        return self._replace(members, coefs)

    def select(self, index) -> SparseSpectrum:
        """The spectrum restricted to the given term positions or boolean mask."""
        return self._replace(self._members[index], self._coef[index])

    def restrict(self, max_order: int) -> SparseSpectrum:
        """Drop every term of order above ``max_order``."""
        return self.select(self._orders <= max_order)

    def prune(self, tol: float = 0.0) -> SparseSpectrum:
        """Drop terms whose absolute coefficient is ``<= tol``."""
        return self.select(np.abs(self._coef) > tol)

    def largest(self, k: int) -> SparseSpectrum:
        """The ``k`` terms with the largest absolute coefficient, in the spectrum's
        canonical order (``ranking()`` gives the strongest first)."""
        order = np.argsort(-np.abs(self._coef), kind="stable")[: int(k)]
        return self.select(np.sort(order))

    def top(self, k: int):
        # The name before the rename: Interactions.top ranks strongest first, this did not.
        raise AttributeError(
            "SparseSpectrum.top(k) is now largest(k) (the k largest terms, in canonical "
            "order); Interactions.top(k) ranks them strongest first.")

    def ranking(self) -> np.ndarray:
        """Term positions by decreasing absolute coefficient (ties: canonical order)."""
        return np.argsort(-np.abs(self._coef), kind="stable")

    def with_coef(self, coef) -> SparseSpectrum:
        """Same subsets, new coefficients (in canonical term order)."""
        coef = np.asarray(coef, dtype=np.float64)
        if coef.shape != self._coef.shape:
            raise ValueError(f"expected {len(self)} coefficients, got {coef.shape}.")
        return self._replace(self._members, coef)

    # ------------------------------------------------------------- evaluation
    def evaluate(self, masks) -> np.ndarray:
        """The function's value on a batch of masks, shape (m,).

        0/1 masks are evaluated exactly; real-valued rows are evaluated through the
        multilinear extension (for values in [0, 1]: the expected value when component
        ``i`` is kept independently with probability ``x_i``).
        """
        masks = _as_2d(masks, self.n_components)
        out = np.empty(masks.shape[0])
        for rows, block in self._basis_blocks(masks):
            out[rows] = block @ self._coef
        return out

    def basis(self, masks) -> np.ndarray:
        """The basis functions of the spectrum's terms on masks, shape (m, n_terms)."""
        masks = _as_2d(masks, self.n_components)
        out = np.empty((masks.shape[0], len(self)))
        for rows, block in self._basis_blocks(masks):
            out[rows] = block
        return out

    def _basis_blocks(self, masks: np.ndarray):
        """Yield (row slice, basis block of shape (rows, n_terms)) chunk by chunk."""
        n_rows = max(1, _CHUNK_ELEMENTS // max(len(self), 1))
        for start in range(0, masks.shape[0], n_rows):
            rows = slice(start, start + n_rows)
            chunk = masks[rows]
            # Work on components x masks: gathering whole rows is a contiguous copy.
            if _is_binary(chunk):
                yield rows, self._binary_basis(chunk.T.astype(bool)).T
            else:
                yield rows, self._multilinear_basis(chunk.T.astype(np.float64)).T

    def _suffix_starts(self) -> np.ndarray:
        # Terms are sorted by order, so those of order > j form a suffix.
        return np.searchsorted(self._orders, np.arange(self._members.shape[1]), side="right")

    def _binary_basis(self, xt: np.ndarray) -> np.ndarray:
        """Basis on 0/1 masks given transposed, (n, rows) -> (n_terms, rows)."""
        fourier = self.kind == FOURIER
        acc = np.full((len(self), xt.shape[1]), not fourier, dtype=bool)
        for j, start in enumerate(self._suffix_starts()):
            rows = xt[self._members[start:, j]]
            if fourier:
                acc[start:] ^= rows
            else:
                acc[start:] &= rows
        if fourier:
            return 1.0 - 2.0 * acc
        return acc.astype(np.float64)

    def _multilinear_basis(self, xt: np.ndarray) -> np.ndarray:
        """Multilinear extension of the basis, (n, rows) -> (n_terms, rows)."""
        factors = 1.0 - 2.0 * xt if self.kind == FOURIER else xt
        acc = np.ones((len(self), xt.shape[1]))
        for j, start in enumerate(self._suffix_starts()):
            acc[start:] *= factors[self._members[start:, j]]
        return acc

    # ------------------------------------------------------------ conversions
    def to_mobius(self) -> SparseSpectrum:
        """The same function in Möbius form: ``a(S) = (-2)^|S| sum_{T ⊇ S} F(T)``."""
        if self.kind == MOBIUS:
            return self
        return subset_sums(self, lambda s, t: (-2.0) ** t, kind=MOBIUS)

    def to_fourier(self) -> SparseSpectrum:
        """The same function in Fourier form: ``F(T) = (-1)^|T| sum_{S ⊇ T} 2^-|S| a(S)``."""
        if self.kind == FOURIER:
            return self
        return subset_sums(self, lambda s, t: (-1.0) ** t * 2.0 ** (-s), kind=FOURIER)

    def to_dict(self) -> dict:
        """Plain Python types only (JSON-ready); ``from_dict(to_dict())`` is an exact
        copy, as for :class:`~spexlearn.Interactions`. For ``{subset: coefficient}``,
        use :meth:`terms`."""
        return {
            "kind": self.kind,
            "n_components": self.n_components,
            "subsets": [list(s) for s in self.subsets],
            "coef": self._coef.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping, *renamed) -> SparseSpectrum:
        """Read what :meth:`to_dict` wrote (also the ``"coefs"`` key of older files)."""
        if renamed or not isinstance(data, Mapping) or "subsets" not in data:
            raise TypeError(
                "SparseSpectrum.from_dict reads what to_dict writes; build from a "
                "{subset: coefficient} mapping with from_terms(terms, n_components, kind).")
        coef = data["coef"] if "coef" in data else data["coefs"]
        return cls(data["subsets"], coef, data["n_components"], data["kind"])


def subset_sums(
    spectrum: SparseSpectrum,
    weight,
    *,
    kind: str,
    max_target_order: int | None = None,
    min_source_order: int = 0,
) -> SparseSpectrum:
    """For every subset T of a term S: ``out(T) = sum_{S ⊇ T} weight(|S|, |T|) * c(S)``.

    ``weight`` is a vectorised function of the source size ``s`` and target size ``t``
    (integer arrays). Only sources with ``|S| >= min_source_order`` and targets with
    ``|T| <= max_target_order`` contribute. This single routine implements the Fourier /
    Möbius conversions and every interaction index.
    """
    blocks_members, blocks_coefs = [], []
    width = spectrum.members.shape[1]
    cap = width if max_target_order is None else min(width, int(max_target_order))
    for s in np.unique(spectrum.orders):
        if s < min_source_order:
            continue
        rows = spectrum.orders == s
        members, coefs = spectrum.members[rows, :s], spectrum.coef[rows]
        # Enumerate only the target sizes that are kept: looping over all 2^s patterns
        # and skipping the large ones hangs on a deep term even when cap is 1.
        for t in range(min(int(s), cap) + 1):
            w = float(weight(np.int64(s), np.int64(t)))
            if w == 0.0:
                continue
            for cols in itertools.combinations(range(s), t):
                target = np.full((len(coefs), max(cap, 1)), -1, dtype=np.int64)
                target[:, :t] = members[:, list(cols)]
                blocks_members.append(target)
                blocks_coefs.append(w * coefs)
    if not blocks_members:
        return SparseSpectrum.from_arrays(
            np.zeros((0, 0), dtype=np.int64), np.zeros(0), spectrum.n_components, kind
        )
    out = SparseSpectrum.from_arrays(
        np.vstack(blocks_members), np.concatenate(blocks_coefs), spectrum.n_components, kind
    )
    # Exact cancellations leave rounding residue; drop it relative to the largest term.
    scale = np.abs(out.coef).max(initial=0.0)
    return out.prune(_CANCELLATION_RTOL * scale)


def pad_members(members: np.ndarray, width: int) -> np.ndarray:
    """``members`` widened to ``width`` columns with -1 (the padding of every members
    array), unchanged when already that wide."""
    if members.shape[1] == width:
        return members
    out = np.full((members.shape[0], width), -1, dtype=np.int64)
    out[:, : members.shape[1]] = members
    return out


def _as_2d(masks, n_components: int) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim == 1:
        masks = masks[None, :]
    if masks.ndim != 2 or masks.shape[1] != n_components:
        raise ValueError(
            f"masks must have shape (n_masks, {n_components}), got {masks.shape}."
        )
    return masks


def _is_binary(masks: np.ndarray) -> bool:
    if masks.dtype == bool:
        return True
    if np.issubdtype(masks.dtype, np.integer):
        return masks.size == 0 or (masks.min() >= 0 and masks.max() <= 1)
    return bool(np.all((masks == 0) | (masks == 1)))
