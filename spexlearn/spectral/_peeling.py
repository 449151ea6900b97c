"""Bin transforms, singleton detection and the peeling decoder of SPEX.

``U[c, d, j]`` is the sum of the Fourier coefficients in bin j of group c, signed by the
delay d. A bin holding one coefficient ``F(k)`` reads ``F(k) (-1)^{<d, k>}`` across the
delays: its signs relative to the zero delay are the BCH parity bits of k. Bins whose single
term decodes, lands back in its own bin and explains the bin's energy are singletons; their
terms are subtracted from every group's bins (peeling), which turns other bins into
singletons, until nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..masks import MAX_ENUMERATED_N, every_mask
from ._bch import decode_syndromes, parity_of_members
from ._design import QueryDesign
from ._sparse import SparseSpectrum

__all__ = [
    "PeelingResult",
    "bin_transforms",
    "every_mask",
    "exhaustive_spectrum",
    "is_every_mask",
    "peel",
    "walsh_hadamard",
]


# A singleton's term must explain all but this share of its bin's energy, beyond noise.
_MAX_UNEXPLAINED = 0.1
# Noise allowance per delay, in units of the estimated bin-noise variance.
_NOISE_ALLOWANCE = 4.0
# A detected coefficient must stand this many bin-noise deviations above zero.
_MIN_SNR = 4.0
# Terms below this share of the largest bin amplitude are numerical noise.
_RELATIVE_FLOOR = 1e-9
# Chase decoding: the least reliable sign positions flipped in every combination.
_CHASE_BITS = 3
_MAX_ROUNDS = 64


@dataclass
class PeelingResult:
    """Terms found by peeling: padded member rows, coefficients, and bookkeeping."""

    members: np.ndarray
    coefs: np.ndarray
    rounds: int
    noise_std: float
    unexplained: float


def bin_transforms(values: np.ndarray, design: QueryDesign) -> np.ndarray:
    """``U[c, d, j]``: the normalised Walsh-Hadamard transform of every (group, delay)."""
    shape = (design.n_groups, design.n_delays, design.n_bins)
    table = np.asarray(values, dtype=np.float64).reshape(shape).copy()
    return walsh_hadamard(table) / design.n_bins


def walsh_hadamard(table: np.ndarray) -> np.ndarray:
    """Unnormalised fast Walsh-Hadamard transform along the last axis (length 2^b)."""
    size = table.shape[-1]
    lead = table.shape[:-1]
    half = 1
    out = table
    while half < size:
        blocks = out.reshape(*lead, size // (2 * half), 2, half)
        low, high = blocks[..., 0, :], blocks[..., 1, :]
        out = np.stack([low + high, low - high], axis=-2).reshape(*lead, size)
        half *= 2
    return out


def is_every_mask(masks: np.ndarray) -> bool:
    """Whether the 0/1 rows are all 2^n masks, each once (in any order)."""
    m, n = masks.shape
    if n > MAX_ENUMERATED_N or m != 2**n:
        return False
    return len(np.unique(_mask_codes(masks))) == m


def _mask_codes(masks: np.ndarray) -> np.ndarray:
    return masks.astype(np.int64) @ (1 << np.arange(masks.shape[1], dtype=np.int64))


def exhaustive_spectrum(masks: np.ndarray, values: np.ndarray, max_order: int) -> SparseSpectrum:
    """The exact spectrum of a full table (every mask once), truncated at ``max_order``.

    On the full cube the Fourier basis is orthogonal, so the truncation is also the least
    squares fit of every order-``max_order`` surrogate.
    """
    n = masks.shape[1]
    table = np.empty(2**n)
    table[_mask_codes(masks)] = values
    coefs = walsh_hadamard(table) / 2**n
    codes = np.arange(2**n)
    orders = _popcount(codes)
    keep = (orders <= max_order) & (np.abs(coefs) > _RELATIVE_FLOOR * np.abs(coefs).max())
    keep[0] = True
    return SparseSpectrum.from_arrays(_members_of_codes(codes[keep], n), coefs[keep], n)


def _popcount(codes: np.ndarray) -> np.ndarray:
    bits = (codes[:, None] >> np.arange(max(1, int(codes.max()).bit_length()))) & 1
    return bits.sum(axis=1)


def _members_of_codes(codes: np.ndarray, n: int) -> np.ndarray:
    bits = (codes[:, None] >> np.arange(n)) & 1
    width = max(1, int(bits.sum(axis=1).max(initial=0)))
    order = np.argsort(-bits, axis=1, kind="stable")[:, :width]
    taken = np.take_along_axis(bits, order, axis=1).astype(bool)
    return np.where(taken, order, -1)


def peel(
    bins: np.ndarray, design: QueryDesign, *, soft: bool = True, max_order: int | None = None
) -> PeelingResult:
    """Recover the sparse spectrum from the bin transforms by peeling singletons.

    Parameters
    ----------
    bins : ndarray of shape (C, p + 1, 2^b)
        Output of :func:`bin_transforms`; not modified.
    design : QueryDesign
    soft : bool
        Chase-decode the bins whose hard decision fails: flip the least reliable signs.
    max_order : int or None
        Largest subset size accepted (None: the code's t).

    Returns
    -------
    PeelingResult
    """
    residual = bins.copy()
    max_order = design.code.t if max_order is None else max_order
    scale = float(np.abs(bins).max()) or 1.0
    noise = _noise_std(residual, design)
    found: dict[tuple[int, ...], float] = {}
    rounds = 0
    while rounds < _MAX_ROUNDS:
        members, coefs = _round_singletons(residual, design, soft, max_order, noise, scale)
        if len(coefs) == 0:
            break
        rounds += 1
        _subtract(residual, design, members, coefs)
        for row, coef in zip(members, coefs, strict=True):
            key = tuple(int(i) for i in row if i >= 0)
            found[key] = found.get(key, 0.0) + float(coef)
    keys = list(found)
    width = max((len(k) for k in keys), default=0)
    padded = np.full((len(keys), width), -1, np.int64)
    for i, key in enumerate(keys):
        padded[i, : len(key)] = key
    energy = float((bins**2).sum()) or 1.0
    return PeelingResult(
        members=padded,
        coefs=np.array([found[k] for k in keys], dtype=np.float64),
        rounds=rounds,
        noise_std=noise,
        unexplained=float((residual**2).sum()) / energy,
    )


def _noise_std(bins: np.ndarray, design: QueryDesign) -> float:
    """Bin-noise deviation: the median bin's per-delay energy after its best one-term fit.

    Zero bins and singletons (most bins of a sparse spectrum) leave only noise after their
    best fit; the median ignores the multitons.
    """
    flat = bins.transpose(0, 2, 1).reshape(-1, design.n_delays)
    _, _, unexplained = _decode_bins(flat, design, soft=False)
    zero_fit = (flat**2).mean(axis=1)
    best = np.minimum(zero_fit, unexplained / design.n_delays)
    return float(np.sqrt(np.median(best)))


def _round_singletons(residual, design, soft, max_order, noise, scale):
    """Verified singletons of all groups, repeated detections of one subset averaged."""
    _, n_delays, n_bins = residual.shape
    flat = residual.transpose(0, 2, 1).reshape(-1, n_delays)
    energy = (flat**2).mean(axis=1)
    floor = max(_RELATIVE_FLOOR * scale, _MIN_SNR * noise / np.sqrt(n_delays))
    live = np.flatnonzero(energy > floor**2)
    if live.size == 0:
        return np.zeros((0, 0), np.int64), np.zeros(0)
    members, coefs, unexplained = _decode_bins(flat[live], design, soft)
    groups, bin_index = np.divmod(live, n_bins)
    same_bin = _lands_in_bin(design, members, groups, bin_index)
    small = (members >= 0).sum(axis=1) <= max_order
    allowance = _NOISE_ALLOWANCE * noise**2 * n_delays + _MAX_UNEXPLAINED * coefs**2 * n_delays
    keep = same_bin & small & (np.abs(coefs) > floor) & (unexplained <= allowance)
    return _average_repeats(members[keep], coefs[keep])


def _lands_in_bin(design: QueryDesign, members, groups, bin_index) -> np.ndarray:
    bins = design.bins(members)  # (C, k)
    return bins[groups, np.arange(len(groups))] == bin_index


def _average_repeats(members: np.ndarray, coefs: np.ndarray):
    if len(coefs) == 0:
        return members, coefs
    _, first, inverse, counts = np.unique(
        members, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    sums = np.bincount(inverse.reshape(-1), weights=coefs)
    return members[first], sums / counts


def _subtract(residual, design: QueryDesign, members, coefs) -> None:
    """Remove the terms from every group's bins, signed across the delays."""
    signs = _delay_signs(design, members)  # (k, p + 1)
    bins = design.bins(members)  # (C, k)
    for c in range(design.n_groups):
        np.subtract.at(residual[c].T, bins[c], coefs[:, None] * signs)


def _delay_signs(design: QueryDesign, members) -> np.ndarray:
    parity = parity_of_members(design.code, members).astype(np.float64)
    return np.hstack([np.ones((len(members), 1)), 1.0 - 2.0 * parity])


def _decode_bins(flat: np.ndarray, design: QueryDesign, soft: bool):
    """Best single term of each bin row (p + 1 values): members, coefficient, residual energy.

    Hard decision first; with ``soft``, the rows whose hard decision fails or leaves energy
    unexplained are decoded again with every flip pattern of their least reliable signs.
    """
    members, coefs, unexplained = _fit_candidates(flat, _hard_syndromes(flat), design)
    if soft:
        n_delays = flat.shape[1]
        poor = unexplained > _MAX_UNEXPLAINED * coefs**2 * n_delays
        rows = np.flatnonzero(poor)
        if rows.size:
            better = _chase(flat[rows], design)
            improved = better[2] < unexplained[rows]
            target = rows[improved]
            members[target] = better[0][improved]
            coefs[target] = better[1][improved]
            unexplained[target] = better[2][improved]
    return members, coefs, unexplained


def _hard_syndromes(flat: np.ndarray) -> np.ndarray:
    """Parity bits: sign of each delay relative to the zero delay's sign."""
    reference = np.where(flat[:, :1] >= 0, 1.0, -1.0)
    return (flat[:, 1:] * reference < 0).astype(np.uint8)


def _chase(flat: np.ndarray, design: QueryDesign):
    """Decode every flip pattern of the least reliable positions; keep the best fit.

    Position 0 is the zero delay itself: flipping it flips every parity bit.
    """
    k, n_delays = flat.shape
    n_flip = min(_CHASE_BITS, n_delays)
    weakest = np.argsort(np.abs(flat), axis=1)[:, :n_flip]  # (k, n_flip)
    patterns = ((np.arange(2**n_flip)[:, None] >> np.arange(n_flip)) & 1).astype(bool)
    hard = np.hstack([np.zeros((k, 1), np.uint8), _hard_syndromes(flat)])
    candidates = np.repeat(hard[:, None, :], len(patterns), axis=1)  # (k, P, n_delays)
    flips = np.zeros_like(candidates, dtype=bool)
    rows = np.arange(k)[:, None, None]
    pattern_idx = np.arange(len(patterns))[None, :, None]
    flips[rows, pattern_idx, weakest[:, None, :]] = patterns[None, :, :]
    candidates ^= flips.astype(np.uint8)
    # Bits relative to position 0: a flipped reference flips all others.
    syndromes = candidates[:, :, 1:] ^ candidates[:, :, :1]
    repeated = np.repeat(flat, len(patterns), axis=0)
    members, coefs, unexplained = _fit_candidates(
        repeated, syndromes.reshape(-1, n_delays - 1), design
    )
    unexplained = unexplained.reshape(k, -1)
    best = np.argmin(unexplained, axis=1)
    pick = np.arange(k) * len(patterns) + best
    return members[pick], coefs[pick], unexplained[np.arange(k), best]


def _fit_candidates(flat: np.ndarray, syndromes: np.ndarray, design: QueryDesign):
    """Decode syndromes; fit each decoded term's coefficient; failures explain nothing."""
    members, ok = decode_syndromes(design.code, syndromes)
    signs = _delay_signs(design, members)
    coefs = (flat * signs).mean(axis=1)
    unexplained = ((flat - coefs[:, None] * signs) ** 2).sum(axis=1)
    total = (flat**2).sum(axis=1)
    coefs = np.where(ok, coefs, 0.0)
    unexplained = np.where(ok, unexplained, total)
    return members, coefs, unexplained
