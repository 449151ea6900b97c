"""The SPEX query design: random subsampling matrices times BCH delays.

Group ``c`` with subsampling matrix ``M_c`` (n x b) and delay ``d`` queries the masks
``x = M_c l XOR d`` for every ``l`` in F_2^b. A Walsh-Hadamard transform over ``l`` then
sums the Fourier coefficients ``F(k)`` whose bin ``M_c^T k`` is the same, each signed by
``(-1)^{<d, k>}``: across the delays a lone coefficient spells out its subset's BCH parity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._bch import BCHCode, bch_code, parity_count

__all__ = [
    "QueryDesign", "design_size", "largest_bin_bits", "make_design", "parse_design", "split_design",
]

# Fewest bits per bin index: 8 bins per group.
MIN_BITS = 3


@dataclass(frozen=True, eq=False)
class QueryDesign:
    """Subsampling matrices and delays of one SPEX design.

    Attributes
    ----------
    subsampling : ndarray of shape (C, b, n), uint8
        ``M_c^T`` of every group: the bin of subset ``k`` in group c is ``M_c^T k``.
    code : BCHCode
        The code whose parity rows (after an all-zero row) are the delays.
    """

    subsampling: np.ndarray
    code: BCHCode

    @property
    def n_components(self) -> int:
        return int(self.subsampling.shape[2])

    @property
    def n_groups(self) -> int:
        return int(self.subsampling.shape[0])

    @property
    def n_bits(self) -> int:
        return int(self.subsampling.shape[1])

    @property
    def n_bins(self) -> int:
        return 2**self.n_bits

    @property
    def delays(self) -> np.ndarray:
        """(p + 1, n): the zero delay, then the code's parity rows."""
        zero = np.zeros((1, self.n_components), np.uint8)
        return np.vstack([zero, self.code.parity])

    @property
    def n_delays(self) -> int:
        return self.code.n_parity + 1

    @property
    def n_queries(self) -> int:
        return self.n_groups * self.n_delays * self.n_bins

    def masks(self) -> np.ndarray:
        """All queries, shape (C * (p + 1) * 2^b, n), ordered by group, delay, then l."""
        blocks = [self._group_masks(c) for c in range(self.n_groups)]
        return np.concatenate(blocks).reshape(self.n_queries, self.n_components)

    def _group_masks(self, c: int) -> np.ndarray:
        base = (_index_bits(self.n_bits) @ self.subsampling[c].astype(np.int64)) % 2
        return base.astype(np.uint8)[None, :, :] ^ self.delays[:, None, :]

    def bins(self, members: np.ndarray) -> np.ndarray:
        """Bin index of each subset (padded member rows) in every group: shape (C, k)."""
        columns = np.concatenate(
            [self.subsampling, np.zeros((self.n_groups, self.n_bits, 1), np.uint8)], axis=2
        )
        safe = np.where(members < 0, self.n_components, members)
        gathered = columns[:, :, safe]  # (C, b, k, width)
        bits = np.bitwise_xor.reduce(gathered, axis=3) if members.shape[1] else (
            np.zeros((self.n_groups, self.n_bits, len(members)), np.uint8)
        )
        weights = (1 << np.arange(self.n_bits, dtype=np.int64))[None, :, None]
        return (bits.astype(np.int64) * weights).sum(axis=1)


def _index_bits(b: int) -> np.ndarray:
    """(2^b, b): row l holds the bits of l, least significant first."""
    return ((np.arange(2**b)[:, None] >> np.arange(b)) & 1).astype(np.int64)


def design_size(n: int, t: int, n_bits: int, n_groups: int) -> int:
    """Queries of the design with ``2**n_bits`` bins per group."""
    return n_groups * (parity_count(n, t) + 1) * 2**n_bits


def largest_bin_bits(n: int, t: int, budget: int, n_groups: int) -> int | None:
    """The most bits b whose design fits in ``budget``; None if even b = MIN_BITS does not."""
    per_bin = n_groups * (parity_count(n, t) + 1)
    bits = int(np.floor(np.log2(budget / per_bin))) if budget >= per_bin else -1
    # floor(log2) can land one too high through rounding.
    while bits >= MIN_BITS and per_bin * 2**bits > budget:
        bits -= 1
    return bits if bits >= MIN_BITS else None


def make_design(n: int, t: int, n_bits: int, n_groups: int, rng) -> QueryDesign:
    """Random full-rank subsampling matrices for a design of ``2**n_bits`` bins per group."""
    code = bch_code(n, t)
    bits = min(n_bits, n)
    matrices = [_full_rank_matrix(bits, n, rng) for _ in range(n_groups)]
    return QueryDesign(subsampling=np.stack(matrices), code=code)


def _full_rank_matrix(b: int, n: int, rng) -> np.ndarray:
    """A uniformly random b x n GF(2) matrix of rank b (so the 2^b masks are distinct)."""
    while True:
        matrix = rng.randint(0, 2, size=(b, n)).astype(np.uint8)
        if gf2_rank(matrix) == b:
            return matrix


def gf2_rank(matrix: np.ndarray) -> int:
    """Rank over GF(2)."""
    work = matrix.astype(np.uint8).copy()
    rank = 0
    for col in range(work.shape[1]):
        hits = np.flatnonzero(work[rank:, col]) + rank
        if hits.size == 0:
            continue
        work[[rank, hits[0]]] = work[[hits[0], rank]]
        below = np.flatnonzero(work[rank + 1 :, col]) + rank + 1
        work[below] ^= work[rank]
        rank += 1
        if rank == work.shape[0]:
            break
    return rank


def parse_design(masks: np.ndarray, t: int, n_groups: int) -> QueryDesign | None:
    """The design whose ``masks()`` are exactly ``masks`` (same order), else None."""
    m, n = masks.shape
    n_delays = parity_count(n, t) + 1
    if m % (n_groups * n_delays) or masks[0].any():
        return None
    n_bins = m // (n_groups * n_delays)
    b = n_bins.bit_length() - 1
    if n_bins != 2**b or b < 1 or b > n:
        return None
    code = bch_code(n, t)
    starts = np.arange(n_groups) * n_delays * n_bins
    unit_rows = starts[:, None] + (1 << np.arange(b))[None, :]
    subsampling = masks[unit_rows].astype(np.uint8)
    design = QueryDesign(subsampling=subsampling, code=code)
    if not np.array_equal(design.masks(), masks):
        return None
    return design


def split_design(masks: np.ndarray, t: int, n_groups: int) -> tuple[QueryDesign | None, int]:
    """The design that the first rows of ``masks`` form, and how many rows it takes.

    SPEX queries its design first and then fresh uniformly random masks; the design is
    the longest prefix that ``parse_design`` accepts. ``(None, 0)`` when no prefix is one.
    """
    m, n = masks.shape
    per_bin = n_groups * (parity_count(n, t) + 1)
    for bits in range(min(n, (m // per_bin).bit_length() - 1), 0, -1):
        rows = per_bin * 2**bits
        if rows <= m:
            design = parse_design(masks[:rows], t, n_groups)
            if design is not None:
                return design, rows
    return None, 0
