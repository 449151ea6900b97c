"""The residual screen (spexlearn/spectral/_screen.py) against ground truth.

On every one of the 2^n masks the Fourier characters are exactly orthonormal, so each
correlation the screen computes *is* the coefficient still missing from the fit: the tests
compare with a function whose sparse spectrum is known, to rounding.
"""

from itertools import combinations

import numpy as np
import pytest

from spexlearn.masks import draw_uniform_masks, every_mask
from spexlearn.spectral import SparseSpectrum, _screen
from spexlearn.spectral._screen import (
    all_order_correlations,
    extension_correlations,
    screen_residual,
    signs,
)

N = 9
# A known sparse spectrum: terms of order 1 to 4, strong ones (|F| >= 0.4) and one weak one.
TRUTH = SparseSpectrum.from_terms({
    (): 0.3, (0,): 1.0, (2,): -0.4, (1, 3): 0.8, (0, 5): -0.6, (2, 4, 6): 0.7,
    (2, 3, 4, 6): 0.5,  # extends (2, 4, 6)
    (1, 5, 7, 8): -0.9,  # no sub-term in the truth: a screen never reaches it
    (7,): 0.02,  # far below the noise threshold of the other missing terms
}, N)
EXACT = 1e-12


@pytest.fixture
def cube(every_value):
    """Every mask of N components, and the true values."""
    return every_value(TRUTH)


def test_signs_are_minus_one_to_the_mask():
    X = every_mask(3)
    np.testing.assert_array_equal(signs(X), (-1.0) ** X)
    np.testing.assert_array_equal(signs([[0.25, 0.5]]), [[0.5, 0.0]])  # 1 - 2x for real x


@pytest.mark.parametrize("order", [1, 2, 3])
def test_complete_correlations_list_every_subset_once_with_its_coefficient(cube, order):
    X, y = cube
    members, values = all_order_correlations(signs(X), y, order)
    assert members.shape == (len(list(combinations(range(N), order))), order)
    assert sorted(map(tuple, members.tolist())) == list(combinations(range(N), order))
    expected = [TRUTH[subset] for subset in members.tolist()]
    assert np.count_nonzero(expected) >= 1  # the check below compares real terms too
    np.testing.assert_allclose(values, expected, atol=EXACT, rtol=0)


def test_complete_correlations_stop_at_order_three():
    Z = signs(every_mask(4))
    with pytest.raises(ValueError, match="up to order 3, got 4"):
        all_order_correlations(Z, np.ones(16), 4)
    members, values = all_order_correlations(Z[:, :2], np.ones(16), 3)
    assert members.shape == (0, 3) and values.shape == (0,)


def test_extensions_add_each_absent_component_to_each_term_below_the_order(cube):
    X, y = cube
    support = SparseSpectrum.from_terms(
        {(): 1.0, (0,): 1.0, (1, 3): 1.0, (2, 4, 6): 1.0, (1, 5, 7, 8): 1.0}, N)
    members, values = extension_correlations(X, signs(X), y, support, max_order=4)
    assert members.shape == ((N - 1) + (N - 2) + (N - 3), 4)  # order 0 and 4 do not grow
    grown = [tuple(row[row >= 0]) for row in members]
    expected = {tuple(sorted((*s, j))) for s in [(0,), (1, 3), (2, 4, 6)]
                for j in range(N) if j not in s}
    assert {tuple(sorted(g)) for g in grown} == expected and len(set(grown)) == len(grown)
    # A term's members come first, the added component after them, then the padding.
    assert all(g[:-1] in support.subsets and g[-1] not in g[:-1] for g in grown)
    assert all((row[len(g):] == -1).all() for row, g in zip(members, grown))
    np.testing.assert_allclose(values, [TRUTH[g] for g in grown], atol=EXACT, rtol=0)
    assert values[grown.index((0, 5))] == pytest.approx(-0.6, abs=EXACT)
    assert values[grown.index((2, 4, 6, 3))] == pytest.approx(0.5, abs=EXACT)
    none = SparseSpectrum.from_terms({(): 1.0, (0, 1): 1.0}, N)
    members, values = extension_correlations(X, signs(X), y, none, max_order=2)
    assert members.shape == (0, 2) and values.shape == (0,)


def test_complete_orders_fit_the_flop_budget():
    flops = _screen.COMPLETE_SCREEN_FLOPS
    assert _screen.complete_orders(10, 1000, 5) == 3
    n = 1000
    m = int(flops // n**2)  # n^2 m at the budget exactly: order 2 still fits, order 3 not
    assert _screen.complete_orders(n, m, 5) == 2
    assert _screen.complete_orders(n, m + 1, 5) == 1
    assert _screen.complete_orders(n, int(flops // n) + 1, 5) == 0
    assert _screen.complete_orders(10, 1000, 1) == 1  # never above max_order,
    assert _screen.complete_orders(2, 1000, 5) == 2  # nor above n
    assert _screen.complete_orders(10, 1000, 0) == 0


def test_the_screen_finds_exactly_the_strong_missing_terms(cube):
    X, y = cube
    support = TRUTH.select([s in {(), (2, 4, 6)} for s in TRUTH.subsets])
    new = screen_residual(X, y - support.evaluate(X), support, max_order=4)
    # Every strong term up to order 3, and the order-4 term that extends a known one;
    # not the weak term, not the isolated order-4 term, not the known ones.
    assert sorted(new.subsets) == sorted([(0,), (2,), (1, 3), (0, 5), (2, 3, 4, 6)])
    for subset, coef in new:
        assert coef == pytest.approx(TRUTH[subset], abs=EXACT)


def test_known_terms_are_never_reported_again(cube):
    X, y = cube
    support = SparseSpectrum.from_terms({(): 0.3, (0,): 0.0, (2, 4, 6): 0.0}, N)
    new = screen_residual(X, y - support.evaluate(X), support, max_order=3)
    assert (0,) not in new.subsets and (2, 4, 6) not in new.subsets
    assert (1, 3) in new.subsets  # the screen itself works


def test_an_extension_reached_from_two_terms_is_counted_once():
    X = every_mask(N)
    truth = SparseSpectrum.from_terms({(0, 1, 2, 3): 0.9, (4,): 0.5}, N)
    support = SparseSpectrum.from_terms({(): 0.0, (0, 1, 2): 0.0, (0, 1, 3): 0.0}, N)
    new = screen_residual(X, truth.evaluate(X), support, max_order=4)
    assert new.subsets.count((0, 1, 2, 3)) == 1
    assert new[(0, 1, 2, 3)] == pytest.approx(0.9, abs=EXACT)  # not summed twice: 1.8


def test_an_order_too_dear_for_every_row_is_left_to_the_extensions(cube, monkeypatch):
    X, y = cube
    m = len(X)
    # Order 3 would fit only m / N rows, too few: it is not screened completely.
    monkeypatch.setattr(_screen, "COMPLETE_SCREEN_FLOPS", float(N**2 * m))
    empty = SparseSpectrum([()], [0.3], N)
    new = screen_residual(X, y - empty.evaluate(X), empty, max_order=3)
    assert (1, 3) in new.subsets and new.max_order == 2
    with_pair = SparseSpectrum.from_terms({(): 0.3, (2, 4): 0.0}, N)
    new = screen_residual(X, y - with_pair.evaluate(X), with_pair, max_order=3)
    assert new[(2, 4, 6)] == pytest.approx(0.7, abs=EXACT)  # an extension of (2, 4)


def test_an_order_too_dear_for_every_row_is_screened_on_the_first_rows(monkeypatch):
    n, m, rows = 30, 3000, 1500
    X = draw_uniform_masks(n, m, np.random.RandomState(0))
    truth = SparseSpectrum.from_terms({(3,): 1.0, (4, 9): 0.8}, n)
    r = truth.evaluate(X)
    monkeypatch.setattr(_screen, "COMPLETE_SCREEN_FLOPS", float(n**2 * rows))
    new = screen_residual(X, r, SparseSpectrum([()], [0.0], n), max_order=2)
    assert sorted(new.subsets) == [(3,), (4, 9)]
    Z = signs(X)
    assert new[(3,)] == pytest.approx(np.mean(r * Z[:, 3]), abs=EXACT)  # every row
    assert new[(4, 9)] == pytest.approx(np.mean((r * Z[:, 4] * Z[:, 9])[:rows]), abs=EXACT)
    assert new[(4, 9)] != pytest.approx(np.mean(r * Z[:, 4] * Z[:, 9]), abs=EXACT)


def test_on_random_masks_the_correlations_estimate_the_coefficients():
    n, m, noise = 20, 4000, 0.3
    rng = np.random.RandomState(1)
    X = draw_uniform_masks(n, m, rng)
    truth = SparseSpectrum.from_terms(
        {(): 2.0, (1,): 0.6, (7, 12): -0.5, (0, 4, 19): 0.4, (5,): 0.02}, n)
    support = SparseSpectrum([()], [2.0], n)
    r = truth.evaluate(X) - support.evaluate(X) + noise * rng.standard_normal(m)
    new = screen_residual(X, r, support, max_order=3)
    assert sorted(new.subsets) == [(0, 4, 19), (1,), (7, 12)]
    se = np.sqrt(np.mean(r**2) / m)
    for subset, coef in new:
        assert abs(coef - truth[subset]) < 4 * se
    # Pure noise: the universal threshold keeps false discoveries rare among ~1,500.
    found = [len(screen_residual(X, noise * rng.standard_normal(m), support, 3))
             for _ in range(5)]
    assert sum(found) <= 1


# ------------------------------------------------------------ paired masks, large screens
def _odd_order_five(n: int, n_terms: int, seed: int) -> SparseSpectrum:
    """Many random terms of order 5: odd (f(1 - x) = -f(x)), invisible to screens up to 3."""
    rng = np.random.RandomState(seed)
    subsets = {tuple(sorted(rng.choice(n, 5, replace=False))) for _ in range(n_terms)}
    return SparseSpectrum.from_terms({s: rng.normal() for s in subsets}, n)


def test_the_noise_of_a_correlation_counts_a_mask_and_its_complement_once():
    from spexlearn.masks import draw_paired_masks, pair_groups

    n, m = 40, 2000
    X = draw_paired_masks(n, m, np.random.RandomState(0))
    r = _odd_order_five(n, 200, 1).evaluate(X)
    Z, groups = signs(X), pair_groups(X)
    _, odd = all_order_correlations(Z, r, 3)
    _, even = all_order_correlations(Z, r, 2)
    # Every pair gives an odd character twice the same product: the spread of the order-3
    # correlations is sqrt(2) times what independent rows would give, and null_std says so.
    independent = np.sqrt(np.mean(r**2) / m)
    assert odd.std() == pytest.approx(np.sqrt(2) * independent, rel=0.05)
    assert _screen.null_std(X, r, groups, 3) == pytest.approx(odd.std(), rel=0.05)
    # ... and cancels in an even one: no noise at all.
    assert np.abs(even).max() < 1e-12
    assert _screen.null_std(X, r, groups, 2) < 1e-12
    # Rows that are not pairs: the independent formula.
    uniform = draw_uniform_masks(n, m, np.random.RandomState(0))
    r = _odd_order_five(n, 200, 1).evaluate(uniform)
    assert _screen.null_std(uniform, r, np.arange(m), 3) == pytest.approx(
        np.sqrt(np.sum(r**2)) / m)


def test_a_screen_of_paired_masks_reports_no_chance_terms():
    from spexlearn.masks import draw_paired_masks

    # 288,000 candidates up to order 3; the residual holds only order-5 terms. Counting
    # the rows as independent put the threshold at 4.2 noise sds: 70 chance terms here.
    n, m = 120, 1000
    X = draw_paired_masks(n, m, np.random.RandomState(2))
    r = _odd_order_five(n, 300, 3).evaluate(X)
    new = screen_residual(X, r, SparseSpectrum([()], [0.0], n), max_order=3)
    assert len(new) == 0
    # The same residual with a real order-3 term: found, and nothing else.
    term = SparseSpectrum.from_terms({(4, 50, 99): 0.9 * np.sqrt(np.mean(r**2))}, n)
    new = screen_residual(X, r + term.evaluate(X), SparseSpectrum([()], [0.0], n), 3)
    assert new.subsets == [(4, 50, 99)]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_thresholded_screen_keeps_exactly_the_correlations_above_it(order):
    n, m = 30, 800
    X = draw_uniform_masks(n, m, np.random.RandomState(order))
    r = np.random.RandomState(5).normal(size=m)
    members, values = all_order_correlations(signs(X), r, order)
    for threshold in np.quantile(np.abs(values), [0.5, 0.99, 0.9999]):
        kept_m, kept_v = all_order_correlations(signs(X), r, order, threshold)
        above = np.abs(values) > threshold
        np.testing.assert_array_equal(kept_m, members[above])
        np.testing.assert_allclose(kept_v, values[above], rtol=0, atol=EXACT)


def test_order_three_is_screened_completely_up_to_500_components():
    # A parity of three components has no trace of lower order: no proxy tree and no
    # extension of a smaller term finds it; only the complete order-3 screen does.
    n, m = 500, 1000
    X = draw_uniform_masks(n, m, np.random.RandomState(0))
    truth = SparseSpectrum.from_terms({(17, 250, 431): 1.0, (3,): 0.8}, n)
    noise = 0.3 * np.random.RandomState(1).normal(size=m)
    new = screen_residual(X, truth.evaluate(X) + noise, SparseSpectrum([()], [0.0], n), 3)
    assert sorted(new.subsets) == [(3,), (17, 250, 431)]
