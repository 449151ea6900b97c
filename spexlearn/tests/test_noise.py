"""Noisy value functions: repeated queries, the estimated noise level, graceful degradation."""

import itertools

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.ablation import Ablation
from spexlearn.datasets import SparseFunction, make_sparse_function


class Stochastic(Ablation):
    """A sparse function plus fresh Gaussian noise of known sd on every evaluation."""

    def __init__(self, sd, **kwargs):
        super().__init__(progress=False, **kwargs)
        _, self.truth = make_sparse_function(12, n_terms=8, max_order=2, random_state=0)
        self.component_names = [f"c{i}" for i in range(12)]
        self.sd, self.rng = sd, np.random.default_rng(0)

    def _fingerprint(self):
        return {"kind": "stochastic", "sd": self.sd}

    def _evaluate(self, masks):
        return self.truth.evaluate(masks) + self.sd * self.rng.normal(size=len(masks))


def test_repeats_average_the_noise_and_estimate_its_level():
    masks = np.random.default_rng(1).integers(0, 2, size=(300, 12))
    once, eight = Stochastic(0.3), Stochastic(0.3, repeats=8)
    error_once = np.std(once(masks) - once.truth.evaluate(masks))
    error_eight = np.std(eight(masks) - eight.truth.evaluate(masks))
    assert once.noise_std_ is None
    assert eight.noise_std_ == pytest.approx(0.3, rel=0.1)
    assert error_eight == pytest.approx(0.3 / np.sqrt(8), rel=0.2)
    assert error_once == pytest.approx(0.3, rel=0.15)
    assert Stochastic(0.3).fingerprint() != eight.fingerprint()
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        Stochastic(0.3, repeats=0)


@pytest.mark.slow
@pytest.mark.parametrize("explainer_class", [ProxySPEXExplainer, SPEXExplainer])
def test_explainers_degrade_gracefully_and_estimate_the_noise(explainer_class):
    _, truth = make_sparse_function(30, n_terms=15, max_order=2, random_state=0)
    X_test = np.random.default_rng(0).integers(0, 2, (1000, 30))
    y_test = truth.evaluate(X_test)
    sd = np.std(y_test)
    scores = []
    for level, floor in [(0.0, 0.999), (0.1, 0.99), (0.3, 0.95), (1.0, 0.6)]:
        function = SparseFunction(truth, noise=level * sd, random_state=0)
        explainer = explainer_class(function, budget=800, max_order=2, random_state=0).fit()
        scores.append(explainer.score(X_test, y_test))
        assert scores[-1] > floor, (level, scores[-1])
        assert explainer.residual_std_ == pytest.approx(level * sd, rel=0.2, abs=1e-6)
    assert all(a >= b - 0.005 for a, b in itertools.pairwise(scores))
