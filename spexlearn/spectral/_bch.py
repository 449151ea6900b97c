"""Binary BCH codes for the SPEX delays: parity rows from galois, decoding in NumPy.

A component subset ``k`` (a 0/1 vector of length n) reaches the decoder only through its
parity bits ``H k`` (mod 2), observed as the signs of one spectral bin across the delays.
Recovering ``k`` is syndrome decoding of the error pattern ``k`` of weight <= t. The code is
built from the field galois supplies (the generator polynomial and its remainder rows, a
millisecond of NumPy; ``galois.BCH`` would compile numba kernels for seconds) and checked
against galois's BCH code in the tests; galois's decoder is not used either, because its
first call compiles for minutes. Decoding here is the
textbook route, vectorised over many syndromes at once: power-sum syndromes, then
Berlekamp-Massey, then a Chien search over the n positions.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._cache_dir import user_cache_dir

__all__ = ["BCHCode", "bch_code", "decode_syndromes", "parity_count", "parity_of_members"]

_CACHE_VERSION = 2


@dataclass(frozen=True, eq=False)
class BCHCode:
    """A binary BCH code of length ``2**m - 1``, shortened to ``n`` positions.

    Attributes
    ----------
    n : int
        Shortened length: position ``i`` is component ``i``.
    t : int
        Errors corrected (designed distance ``2t + 1``).
    m : int
        Degree of the extension field GF(2^m).
    parity : ndarray of shape (p, n), uint8
        Parity-check rows restricted to the n positions: the SPEX delays.
    power_sums : ndarray of shape (t * m, p), uint8
        Maps parity bits to the bits of the odd power-sum syndromes S_1, S_3, ..., S_{2t-1}.
    exp, log : ndarray
        Antilog and log tables of GF(2^m) for the code's primitive element.
    """

    n: int
    t: int
    m: int
    parity: np.ndarray
    power_sums: np.ndarray
    exp: np.ndarray
    log: np.ndarray

    @property
    def n_parity(self) -> int:
        return int(self.parity.shape[0])

    @property
    def order(self) -> int:
        """Multiplicative order of the primitive element: ``2**m - 1``."""
        return 2**self.m - 1


def field_degree(n: int, t: int) -> int:
    """Smallest m with a BCH code of length 2^m - 1 >= n and designed distance 2t + 1."""
    m = 3
    while 2**m - 1 < max(n, 2 * t + 1):
        m += 1
    return m


def parity_count(n: int, t: int) -> int:
    """Number of parity rows of ``bch_code(n, t)``, without building it.

    It is the degree of the generator polynomial: the size of the union of the cyclotomic
    cosets of 1..2t modulo 2^m - 1.
    """
    return len(_root_exponents(2 ** field_degree(n, t) - 1, t))


def _root_exponents(order: int, t: int) -> set[int]:
    """Exponents i of the generator's roots alpha^i: the cyclotomic cosets of 1..2t."""
    roots: set[int] = set()
    for j in range(1, 2 * t + 1):
        power = j % order
        while power not in roots:
            roots.add(power)
            power = (2 * power) % order
    return roots


@functools.lru_cache(maxsize=32)
def bch_code(n: int, t: int) -> BCHCode:
    """The binary BCH code correcting ``t`` errors, shortened to ``n`` positions.

    Parameters
    ----------
    n : int
        Number of positions (components), >= 1.
    t : int
        Number of errors to correct, >= 1.

    Examples
    --------
    >>> code = bch_code(100, 3)
    >>> code.parity.shape
    (21, 100)
    """
    if n < 1 or t < 1:
        raise ValueError(f"a BCH code needs n >= 1 and t >= 1, got n={n}, t={t}.")
    m = field_degree(n, t)
    cached = _read_cache(m, t)
    if cached is not None:
        try:
            return _assemble(n, t, m, *cached)
        except Exception as exc:  # the file is untrusted input: any failure rebuilds
            _warn_damaged(_cache_path(m, t), f"its contents do not form the code: {exc}")
    return _assemble(n, t, m, *_full_code(m, t))


def _assemble(n: int, t: int, m: int, full_parity: np.ndarray, poly: int,
              alpha: int) -> BCHCode:
    """The code shortened to n positions; raises if the rows are not the BCH code's."""
    if full_parity.shape != (parity_count(n, t), 2**m - 1):
        raise RuntimeError(f"unexpected BCH code for n={n}, t={t}: parity rows of shape "
                           f"{full_parity.shape}.")
    exp, log = _field_tables(m, poly, alpha)
    power_sums = _power_sum_map(full_parity, exp, t, m)
    parity = np.ascontiguousarray(full_parity[:, :n])
    return BCHCode(n=n, t=t, m=m, parity=parity, power_sums=power_sums, exp=exp, log=log)


# ------------------------------------------------------------------ construction
def _full_code(m: int, t: int) -> tuple[np.ndarray, int, int]:
    """Parity-check matrix (columns = polynomial degrees 0..N-1), field polynomial, alpha.

    galois supplies the field GF(2^m) (its primitive polynomial and element). The code
    itself is built here: ``galois.BCH`` compiles numba kernels for seconds on first use,
    while the generator polynomial and the rows ``x^i mod g(x)`` take a millisecond. The
    tests check that the code is galois's BCH code. The result replaces the cached file.
    """
    import galois

    field = galois.GF(2**m)
    poly, alpha = int(field.irreducible_poly), int(field.primitive_element)
    exp, log = _field_tables(m, poly, alpha)
    generator = _generator_polynomial(exp, log, m, t)
    parity = _remainder_rows(generator, 2**m - 1)
    _write_cache(m, t, parity, poly, alpha)
    return parity, poly, alpha


def _generator_polynomial(exp: np.ndarray, log: np.ndarray, m: int, t: int) -> int:
    """g(x) = product of (x - alpha^i) over the cyclotomic cosets of 1..2t, as a bit mask."""
    roots = _root_exponents(2**m - 1, t)
    coefficients = [1]  # lowest degree first, entries in GF(2^m)
    for root in sorted(roots):
        shifted = [0, *coefficients]
        for k, c in enumerate(coefficients):
            if c:
                shifted[k] ^= int(exp[log[c] + root])
        coefficients = shifted
    if any(c > 1 for c in coefficients):
        raise RuntimeError("the BCH generator polynomial is not binary.")
    return sum(c << k for k, c in enumerate(coefficients))


def _remainder_rows(generator: int, length: int) -> np.ndarray:
    """Parity-check rows whose column i holds the bits of x^i mod g(x)."""
    degree = generator.bit_length() - 1
    n_bytes = (degree + 7) // 8
    columns = np.zeros((degree, length), dtype=np.uint8)
    remainder = 1
    for i in range(length):
        packed = np.frombuffer(remainder.to_bytes(n_bytes, "little"), np.uint8)
        columns[:, i] = np.unpackbits(packed, bitorder="little")[:degree]
        remainder <<= 1
        if remainder >> degree & 1:
            remainder ^= generator
    return columns


def _cache_path(m: int, t: int) -> Path:
    return user_cache_dir() / "bch" / f"v{_CACHE_VERSION}-m{m}-t{t}.npz"


def _read_cache(m: int, t: int) -> tuple[np.ndarray, int, int] | None:
    """The cached code's full parity rows, field polynomial and element; None if absent.

    A file that cannot be read (truncated, a flipped bit failing the zip checksum, not a
    NumPy archive) gives a warning naming it and None: the code is built again and the
    file replaced, instead of every fit with this code failing until it is deleted.
    """
    path = _cache_path(m, t)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            n_cols = 2**m - 1
            parity = np.unpackbits(data["parity"], axis=1, count=n_cols)
            return parity, int(data["poly"]), int(data["alpha"])
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError, ...
        _warn_damaged(path, f"{type(exc).__name__}: {exc}")
        return None


def _warn_damaged(path: Path, problem: str) -> None:
    warnings.warn(
        f"the cached BCH code {path} is damaged ({problem}); it is rebuilt and the file "
        "replaced.", RuntimeWarning, stacklevel=2,
    )


def _write_cache(m: int, t: int, parity: np.ndarray, poly: int, alpha: int) -> None:
    """Best effort: a read-only home only costs the next process the construction."""
    path = _cache_path(m, t)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own per process and thread, renamed over the old file whole.
        tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.npz")
        np.savez(tmp, parity=np.packbits(parity, axis=1), poly=poly, alpha=alpha)
        os.replace(tmp, path)
    except OSError:
        pass


def _field_tables(m: int, poly: int, alpha: int) -> tuple[np.ndarray, np.ndarray]:
    """exp[i] = alpha^i for i < 2N (doubled to skip a modulo); log[exp[i]] = i."""
    order = 2**m - 1
    exp = np.zeros(2 * order, dtype=np.int64)
    value = 1
    for i in range(order):
        exp[i] = value
        value = _gf_multiply(value, alpha, poly, m)
    exp[order:] = exp[:order]
    log = np.zeros(order + 1, dtype=np.int64)
    log[exp[:order]] = np.arange(order)
    if len(np.unique(exp[:order])) != order:
        raise RuntimeError(f"alpha={alpha} is not primitive modulo {poly:#x}.")
    return exp, log


def _gf_multiply(a: int, b: int, poly: int, m: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a >> m:
            a ^= poly
    return product


def _power_sum_map(parity: np.ndarray, exp: np.ndarray, t: int, m: int) -> np.ndarray:
    """The GF(2) matrix T with ``T @ parity = P`` where P gives the odd power sums' bits.

    Both matrices have the code as their kernel, so T exists; it is solved on p pivot
    columns of ``parity``.
    """
    order = 2**m - 1
    degrees = np.arange(order)
    rows = [_bits(exp[(j * degrees) % order], m) for j in range(1, 2 * t, 2)]
    target = np.vstack(rows)
    pivots, inverse = _gf2_pivot_inverse(parity)
    T = (target[:, pivots].astype(np.int64) @ inverse) % 2
    if not np.array_equal((T @ parity) % 2, target):
        raise RuntimeError("the BCH parity rows do not match the power-sum syndromes.")
    return T.astype(np.uint8)


def _bits(values: np.ndarray, m: int) -> np.ndarray:
    """(m, len(values)) bit planes, least significant first."""
    return ((values[None, :] >> np.arange(m)[:, None]) & 1).astype(np.uint8)


def _gf2_pivot_inverse(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pivot columns of a full-row-rank GF(2) matrix and the inverse of that square block."""
    rows, cols = matrix.shape
    work = matrix.astype(np.uint8).copy()
    pivots = []
    row = 0
    for col in range(cols):
        hits = np.flatnonzero(work[row:, col]) + row
        if hits.size == 0:
            continue
        work[[row, hits[0]]] = work[[hits[0], row]]
        others = np.flatnonzero(work[:, col])
        others = others[others != row]
        work[others] ^= work[row]
        pivots.append(col)
        row += 1
        if row == rows:
            break
    if row < rows:
        raise ValueError("the parity-check matrix is not of full row rank.")
    pivots = np.array(pivots)
    # The reduced block is the identity, so the same row operations applied to the
    # original block give its inverse: solve by elimination on [block | I].
    block = matrix[:, pivots].astype(np.uint8)
    augmented = np.hstack([block, np.eye(rows, dtype=np.uint8)])
    for col in range(rows):
        hit = np.flatnonzero(augmented[col:, col])[0] + col
        augmented[[col, hit]] = augmented[[hit, col]]
        others = np.flatnonzero(augmented[:, col])
        augmented[others[others != col]] ^= augmented[col]
    return pivots, augmented[:, rows:].astype(np.int64)


# ---------------------------------------------------------------------- decoding
def parity_of_members(code: BCHCode, members: np.ndarray) -> np.ndarray:
    """Parity bits ``H k`` of subsets given as padded member rows (-1 = none): (k, p)."""
    columns = np.vstack([code.parity.T, np.zeros((1, code.n_parity), np.uint8)])
    gathered = columns[np.where(members < 0, code.n, members)]
    return np.bitwise_xor.reduce(gathered, axis=1) if members.shape[1] else (
        np.zeros((members.shape[0], code.n_parity), np.uint8)
    )


def decode_syndromes(code: BCHCode, syndromes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subsets of at most t positions < n whose parity bits are ``syndromes``.

    Parameters
    ----------
    code : BCHCode
    syndromes : ndarray of shape (k, p)
        Parity bits, one row per subset to recover.

    Returns
    -------
    members : ndarray of shape (k, t), int64
        Each recovered subset's positions in increasing order, padded with -1.
    ok : ndarray of shape (k,), bool
        False where no subset of weight <= t within the n positions has those bits.
    """
    syndromes = np.asarray(syndromes, dtype=np.uint8)
    odd = _odd_power_sums(code, syndromes)
    power_sums = _all_power_sums(code, odd)
    locator, degree = _berlekamp_massey(code, power_sums)
    return _chien_search(code, locator, degree)


def _odd_power_sums(code: BCHCode, syndromes: np.ndarray) -> np.ndarray:
    bits = (syndromes.astype(np.int64) @ code.power_sums.T.astype(np.int64)) % 2
    bits = bits.reshape(len(syndromes), code.t, code.m)
    return (bits << np.arange(code.m)).sum(axis=2)


def _all_power_sums(code: BCHCode, odd: np.ndarray) -> np.ndarray:
    """S_1..S_2t from the odd ones: over GF(2), S_2j = S_j^2."""
    sums = np.zeros((odd.shape[0], 2 * code.t + 1), dtype=np.int64)
    sums[:, 1 : 2 * code.t : 2] = odd
    for j in range(2, 2 * code.t + 1, 2):
        sums[:, j] = _gf_mul(code, sums[:, j // 2], sums[:, j // 2])
    return sums[:, 1:]


def _gf_mul(code: BCHCode, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = (a != 0) & (b != 0)
    return np.where(both, code.exp[code.log[a] + code.log[b]], 0)


def _gf_div(code: BCHCode, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b for b != 0 (rows with b == 0 give 0; callers never use them)."""
    both = (a != 0) & (b != 0)
    return np.where(both, code.exp[code.log[a] - code.log[b] + code.order], 0)


def _berlekamp_massey(code: BCHCode, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-locator polynomials (coefficients by degree) of every row, and their lengths."""
    k, two_t = sums.shape
    width = two_t + 1
    locator = np.zeros((k, width), np.int64)
    locator[:, 0] = 1
    previous = locator.copy()
    length = np.zeros(k, np.int64)
    shift = np.ones(k, np.int64)
    last = np.ones(k, np.int64)
    rows = np.arange(k)[:, None]
    columns = np.arange(width)[None, :]
    for r in range(two_t):
        terms = _gf_mul(code, locator[:, : r + 1], sums[:, r::-1][:, : r + 1])
        discrepancy = np.bitwise_xor.reduce(terms, axis=1)
        active = discrepancy != 0
        factor = _gf_div(code, discrepancy, last)
        source = columns - shift[:, None]
        shifted = np.where(source >= 0, previous[rows, np.clip(source, 0, None)], 0)
        updated = locator ^ _gf_mul(code, factor[:, None], shifted)
        grow = active & (2 * length <= r)
        previous = np.where(grow[:, None], locator, previous)
        last = np.where(grow, discrepancy, last)
        length = np.where(grow, r + 1 - length, length)
        shift = np.where(grow, 1, shift + 1)
        locator = np.where(active[:, None], updated, locator)
    return locator, length


def _chien_search(code: BCHCode, locator: np.ndarray, length: np.ndarray):
    """Roots alpha^{-i} of each locator among positions i < n; ok if it has ``length`` roots."""
    k = locator.shape[0]
    t = code.t
    coefficients = locator[:, : t + 1]
    ok = (length <= t) & ~(locator[:, t + 1 :] != 0).any(axis=1)
    members = np.full((k, t), -1, np.int64)
    found = np.zeros(k, np.int64)
    positions = np.arange(code.n)
    logs = code.log[coefficients]
    nonzero = coefficients != 0
    for start in range(0, k, _CHIEN_CHUNK):
        rows = slice(start, start + _CHIEN_CHUNK)
        value = _locator_values(code, logs[rows], nonzero[rows], positions)
        is_root = value == 0
        counts = is_root.sum(axis=1)
        found[rows] = counts
        fits = counts <= t
        idx = np.flatnonzero(fits)
        if idx.size:
            order = np.argsort(~is_root[idx], axis=1, kind="stable")[:, :t]
            taken = np.take_along_axis(is_root[idx], order, axis=1)
            members[start + idx] = np.where(taken, order, -1)
    ok &= found == length
    members[~ok] = -1
    return members, ok


# Rows of locators evaluated at all n positions at once.
_CHIEN_CHUNK = 256


def _locator_values(code: BCHCode, logs, nonzero, positions) -> np.ndarray:
    """Lambda(alpha^{-i}) for each row and position i: XOR of the terms' antilogs."""
    order = code.order
    degrees = np.arange(logs.shape[1])
    exponent = (logs[:, :, None] - degrees[None, :, None] * positions[None, None, :]) % order
    terms = np.where(nonzero[:, :, None], code.exp[exponent], 0)
    return np.bitwise_xor.reduce(terms, axis=1)
