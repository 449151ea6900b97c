import numpy as np
import pytest

from spexlearn.datasets import make_sparse_function
from spexlearn.metrics import faithfulness, support_recovery, top_k_overlap
from spexlearn.spectral import SparseSpectrum


def test_sparse_function_matches_its_spectrum_and_counts_calls():
    f, truth = make_sparse_function(12, n_terms=15, max_order=3, random_state=1, intercept=2.0)
    assert len(truth) == 16 and truth[()] == 2.0
    assert truth.max_order <= 3
    assert np.all(np.abs(truth.select(truth.orders > 0).coef) >= 0.5)
    masks = np.random.default_rng(0).integers(0, 2, size=(50, 12))
    np.testing.assert_allclose(f(masks), truth.evaluate(masks))
    assert f.n_calls == 50


def test_noise_has_the_requested_scale():
    f, truth = make_sparse_function(30, 10, 2, noise=0.5, random_state=0)
    masks = np.random.default_rng(1).integers(0, 2, size=(4000, 30))
    residual = f(masks) - truth.evaluate(masks)
    assert 0.45 < residual.std() < 0.55


def test_same_seed_same_function():
    _, a = make_sparse_function(50, 20, 4, random_state=3)
    _, b = make_sparse_function(50, 20, 4, random_state=3)
    assert a == b


def test_too_many_terms_is_refused():
    with pytest.raises(ValueError, match="only 3 exist"):
        make_sparse_function(3, 4, 1)


def test_faithfulness_and_support_recovery():
    truth = SparseSpectrum([(), (0,), (1, 2)], [1.0, 2.0, -1.0], n_components=4)
    masks = np.random.default_rng(0).integers(0, 2, size=(100, 4))
    assert faithfulness(truth, masks, truth.evaluate(masks)) == 1.0
    half = truth.with_coef(truth.coef * 0.5)
    assert faithfulness(half, masks, truth.evaluate(masks)) < 1.0
    found = SparseSpectrum([(0,), (3,)], [1.0, 1.0], n_components=4)
    rec = support_recovery(found, truth)
    assert rec.precision == 0.5 and rec.recall == 0.5
    assert top_k_overlap(found, truth, 1) == 1.0
    assert top_k_overlap(found, truth, 2) == 0.5


def test_repeatable_noise_is_a_function_of_the_mask_alone():
    from spexlearn.datasets import SparseFunction
    from spexlearn.masks import draw_uniform_masks

    _, truth = make_sparse_function(30, n_terms=5, max_order=2, random_state=0)
    X = draw_uniform_masks(30, 4000, np.random.RandomState(0))
    f = SparseFunction(truth, noise=0.5, random_state=3, repeatable=True)
    values = f(X)
    np.testing.assert_array_equal(f(X[::-1])[::-1], values)  # any order, any call
    noise = (values - truth.evaluate(X)) / 0.5
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05
    assert abs(np.corrcoef(noise[::2], noise[1::2])[0, 1]) < 0.05
    other = SparseFunction(truth, noise=0.5, random_state=4, repeatable=True)(X)
    assert not np.allclose(other, values)  # another seed, other noise
    per_call = SparseFunction(truth, noise=0.5, random_state=3)
    assert not np.array_equal(per_call(X[:5]), per_call(X[:5]))  # the default: per call
