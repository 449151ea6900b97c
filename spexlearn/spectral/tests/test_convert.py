"""Interaction indices against their definitions, computed from the full value table."""

from __future__ import annotations

from itertools import combinations
from math import comb, factorial

import numpy as np
import pytest

from spexlearn.masks import every_mask
from spexlearn.spectral import INDICES, SparseSpectrum, canonical_terms, interaction_values
from spexlearn.spectral._sparse import FOURIER, MOBIUS

from .test_sparse import random_spectrum, subset_bits

N = 8
SEEDS = (0, 1, 2)
KINDS = (FOURIER, MOBIUS)


# --------------------------------------------------------------------- helpers
def as_dict(members: np.ndarray, values: np.ndarray) -> dict[tuple[int, ...], float]:
    return {tuple(int(i) for i in row if i >= 0): float(v) for row, v in zip(members, values)}


def targets(n: int, max_order: int, min_order: int = 0):
    for t in range(min_order, max_order + 1):
        yield from combinations(range(n), t)


def derivatives(table: np.ndarray, n: int, subset) -> tuple[np.ndarray, np.ndarray]:
    """``Δ_T f(x)`` for every coalition ``x ⊆ N \\ T``, and the sizes ``|x|``."""
    t_bits = subset_bits(subset)
    coalitions = np.flatnonzero((np.arange(2**n) & t_bits) == 0)
    delta = np.zeros(len(coalitions))
    for size in range(len(subset) + 1):
        for part in combinations(subset, size):
            delta += (-1) ** (len(subset) - size) * table[coalitions | subset_bits(part)]
    sizes = np.array([bin(int(c)).count("1") for c in coalitions])
    return delta, sizes


def brute_index(table: np.ndarray, n: int, index: str, k: int) -> dict:
    """The index from its combinatorial definition (weighted discrete derivatives)."""
    out = {}
    for subset in targets(n, 1 if index in ("shapley", "banzhaf") else k):
        t = len(subset)
        delta, sizes = derivatives(table, n, subset)
        if index in ("banzhaf", "bii"):
            out[subset] = delta.mean()
        elif index in ("shapley", "sii"):
            # Grabisch: (n-t-|x|)! |x|! / (n-t+1)!; the empty set carries f(∅).
            w = [factorial(n - t - m) * factorial(m) / factorial(n - t + 1) for m in sizes]
            out[subset] = table[0] if t == 0 else np.dot(w, delta)
        elif index == "stii":
            # Sundararajan et al.: δ_T f(∅) below order k, (k/n) Σ δ_T f(x) / C(n-1,|x|) at k.
            if t < k:
                out[subset] = delta[0]
            else:
                out[subset] = np.dot([k / n / comb(n - 1, m) for m in sizes], delta)
    if index == "ksii":
        return k_shapley_values(table, n, k)
    return out


BERNOULLI = (1.0, -1 / 2, 1 / 6, 0.0, -1 / 30, 0.0, 1 / 42)


def k_shapley_values(table: np.ndarray, n: int, k: int) -> dict:
    """k-SII from its definition (Bordt & von Luxburg 2023, eq. 6): the SII of every
    subset up to order k from the value table, aggregated with Bernoulli numbers."""
    sii = brute_index(table, n, "sii", k)
    out = {(): table[0]}
    for subset in targets(n, k, min_order=1):
        rest = [i for i in range(n) if i not in subset]
        out[subset] = sum(BERNOULLI[j] * sii[tuple(sorted(subset + extra))]
                          for j in range(k - len(subset) + 1)
                          for extra in combinations(rest, j))
    return out


def mobius_design(n: int, k: int) -> tuple[list, np.ndarray]:
    """The basis ``[T ⊆ x]`` for all ``|T| <= k`` over all masks."""
    cols = list(targets(n, k))
    masks = np.arange(2**n)
    design = np.array([(masks & subset_bits(c)) == subset_bits(c) for c in cols], float).T
    return cols, design


def faith_shap(table: np.ndarray, n: int, k: int) -> dict:
    """Shapley-kernel weighted least squares, exact at ∅ and N (a KKT system)."""
    cols, design = mobius_design(n, k)
    sizes = every_mask(n).sum(axis=1, dtype=np.int64)
    inner = (sizes > 0) & (sizes < n)
    m = sizes[inner]
    mu = (n - 1) / (np.array([comb(n, s) for s in m]) * m * (n - m))
    x, y = design[inner], table[inner]
    fixed, fixed_y = design[~inner], table[~inner]
    p, c = len(cols), len(fixed_y)
    kkt = np.block([[x.T @ (mu[:, None] * x), fixed.T], [fixed, np.zeros((c, c))]])
    rhs = np.concatenate([x.T @ (mu * y), fixed_y])
    return dict(zip(cols, np.linalg.solve(kkt, rhs)[:p]))


def faith_banzhaf(table: np.ndarray, n: int, k: int) -> dict:
    """Unweighted least squares over all 2^n masks."""
    cols, design = mobius_design(n, k)
    return dict(zip(cols, np.linalg.lstsq(design, table, rcond=None)[0]))


def check_against(result: dict, expected: dict, spectrum: SparseSpectrum) -> None:
    """Same values (missing = 0); only subsets of the spectrum's terms are listed."""
    scale = max(1.0, max(abs(v) for v in expected.values()))
    assert set(result) <= set(expected), set(result) - set(expected)
    for subset, value in expected.items():
        assert result.get(subset, 0.0) == pytest.approx(value, abs=1e-9 * scale), subset
    terms = [set(s) for s in spectrum.subsets]
    assert all(any(set(t) <= s for s in terms) for t in result)


def check_canonical(members: np.ndarray, values: np.ndarray) -> None:
    rows, coefs = canonical_terms(members, values)
    np.testing.assert_array_equal(rows, members)
    np.testing.assert_array_equal(coefs, values)


# ------------------------------------------------------ indices vs definitions
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("index", "order"),
    [("shapley", None), ("banzhaf", None)]
    + [(name, k) for name in ("sii", "bii", "stii", "ksii") for k in (1, 2, 3)],
)
def test_index_matches_definition(index, order, seed, kind):
    f = random_spectrum(seed, n=N, kind=kind)
    table = f.evaluate(every_mask(N))
    members, values = interaction_values(f, index, order)
    check_canonical(members, values)
    check_against(as_dict(members, values), brute_index(table, N, index, order), f)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("index", ["fsii", "fbii"])
def test_faith_indices_are_least_squares_fits(index, order, seed, kind):
    f = random_spectrum(seed, n=N, kind=kind)
    table = f.evaluate(every_mask(N))
    solve = faith_shap if index == "fsii" else faith_banzhaf
    members, values = interaction_values(f, index, order)
    check_canonical(members, values)
    check_against(as_dict(members, values), solve(table, N, order), f)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_faith_banzhaf_is_the_truncated_fourier_spectrum(order):
    f = random_spectrum(4, n=N)
    expected = f.restrict(order).to_mobius()
    members, values = interaction_values(f, "fbii", order)
    got = SparseSpectrum.from_arrays(members, values, N, MOBIUS)
    assert got.allclose(expected, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("index", ["shapley", "stii", "fsii", "ksii"])
def test_efficiency(index, seed, kind):
    f = random_spectrum(seed, n=N, kind=kind)
    full = f.evaluate(np.ones((1, N)))[0]
    for order in (1, 2, 3):
        _, values = interaction_values(f, index, order)
        assert values.sum() == pytest.approx(full, abs=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_fourier_and_mobius_indices_filter_the_spectrum(kind):
    f = random_spectrum(7, n=N, kind=kind)
    for name, spectrum in (("fourier", f.to_fourier()), ("mobius", f.to_mobius())):
        for order in (None, 0, 2):
            members, values = interaction_values(f, name, order)
            kept = spectrum if order is None else spectrum.restrict(order)
            got = SparseSpectrum.from_arrays(members, values, N, spectrum.kind)
            assert got.allclose(kept, atol=1e-10)


@pytest.mark.parametrize("index", ["sii", "bii", "stii", "fsii", "fbii", "ksii"])
def test_order_none_is_the_max_order(index):
    f = random_spectrum(8, n=N, max_order=4)
    got, expected = interaction_values(f, index), interaction_values(f, index, 4)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1])
    constant = SparseSpectrum([()], [2.0], N)
    members, values = interaction_values(constant, index)
    assert as_dict(members, values) == {(): 2.0}


def test_all_indices_accept_both_kinds_and_agree():
    f = random_spectrum(9, n=N)
    for index in INDICES:
        via_fourier = interaction_values(f, index, 2)
        via_mobius = interaction_values(f.to_mobius(), index, 2)
        assert as_dict(*via_fourier).keys() == as_dict(*via_mobius).keys(), index
        np.testing.assert_allclose(via_fourier[1], via_mobius[1], atol=1e-10)


def test_shapley_example():
    # f(x) = 1 + 2 x0 x1 - x2: the pair's term is split evenly.
    f = SparseSpectrum([(), (0, 1), (2,)], [1.0, 2.0, -1.0], 4, kind=MOBIUS)
    assert as_dict(*interaction_values(f, "shapley")) == {(): 1.0, (0,): 1.0, (1,): 1.0, (2,): -1.0}


# ----------------------------------------------------------------- bad input
def test_unknown_index_lists_valid_names():
    f = random_spectrum(0)
    with pytest.raises(ValueError, match="fsii") as info:
        interaction_values(f, "shap")
    assert all(name in str(info.value) for name in INDICES)
    with pytest.raises(ValueError):
        interaction_values(f, None)
    assert interaction_values(f, "Shapley")[1].size  # case-insensitive


@pytest.mark.parametrize(
    ("index", "order"), [("sii", 0), ("fsii", -1), ("stii", 0), ("fourier", -1)]
)
def test_bad_order_raises(index, order):
    with pytest.raises(ValueError, match="order"):
        interaction_values(random_spectrum(0), index, order)


def test_non_integer_order_raises():
    with pytest.raises(TypeError, match="order"):
        interaction_values(random_spectrum(0), "fsii", 1.5)


def test_not_a_spectrum_raises():
    with pytest.raises(TypeError, match="SparseSpectrum"):
        interaction_values({(0,): 1.0}, "shapley")


# ---------------------------------------------------------------------- scale
@pytest.mark.parametrize("kind", KINDS)
def test_deep_terms_do_not_enumerate_all_subsets(kind):
    # One term over 39 components: 2^39 subsets exist, only the singletons and ∅ are wanted.
    f = SparseSpectrum([tuple(range(39))], [1.0], 50, kind=kind)
    got = as_dict(*interaction_values(f, "shapley"))
    if kind == MOBIUS:  # x0 x1 ... x38: f(∅) = 0, the term is split evenly
        expected = {(i,): 1 / 39 for i in range(39)}
    else:  # the odd parity (-1)^|x ∩ S| moves from f(∅) = 1 to f(N) = -1
        expected = {(): 1.0} | {(i,): -2 / 39 for i in range(39)}
    assert got.keys() == expected.keys()
    assert list(got.values()) == pytest.approx(list(expected.values()))


def test_large_sparse_spectrum():
    # 5,000 terms of order <= 5 over 5,000 components: nothing of size 2^n is built.
    rng = np.random.default_rng(0)
    n, n_terms = 5_000, 5_000
    subsets = [rng.choice(n, size=rng.integers(0, 6), replace=False) for _ in range(n_terms)]
    f = SparseSpectrum(subsets, rng.normal(size=n_terms), n)
    full = f.evaluate(np.ones((1, n)))[0]
    for spectrum in (f, f.to_mobius()):
        for index in ("shapley", "banzhaf", "sii", "fsii", "stii", "fbii"):
            members, values = interaction_values(spectrum, index)  # order 5
            width = 1 if index in ("shapley", "banzhaf") else 5
            assert members.shape == (len(values), width)
            if index in ("shapley", "fsii", "stii"):
                assert values.sum() == pytest.approx(full, rel=1e-9, abs=1e-9)


def test_k_shapley_values_of_the_full_order_are_the_mobius_transform():
    f = random_spectrum(5, n=N, max_order=3)
    members, values = interaction_values(f, "ksii", 3)
    got = SparseSpectrum.from_arrays(members, values, N, MOBIUS)
    assert got.allclose(f.to_mobius(), atol=1e-10)


def test_k_shapley_values_of_order_one_are_shapley_values():
    f = random_spectrum(6, n=N)
    ksii = as_dict(*interaction_values(f, "ksii", 1))
    shapley = as_dict(*interaction_values(f, "shapley"))
    assert ksii.keys() == shapley.keys()
    assert all(ksii[s] == pytest.approx(shapley[s], abs=1e-10) for s in ksii)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_k_shapley_values_match_shapiqs_exact_computer(order):
    shapiq = pytest.importorskip("shapiq")
    f = random_spectrum(3, n=7, max_order=4)

    def game(coalitions):
        return f.evaluate(np.asarray(coalitions, dtype=np.uint8))

    expected = shapiq.ExactComputer(n_players=7, game=game)("k-SII", order=order).dict_values
    got = as_dict(*interaction_values(f, "ksii", order))
    for subset, value in expected.items():
        assert got.get(tuple(subset), 0.0) == pytest.approx(value, abs=1e-9), subset
    assert set(got) <= {tuple(s) for s in expected}
