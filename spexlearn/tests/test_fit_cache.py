"""fit_cache: a second fit on the same samples and settings loads the fitted surrogate."""

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function


@pytest.mark.parametrize("kind", [ProxySPEXExplainer, SPEXExplainer])
def test_a_refit_on_the_same_samples_is_loaded_and_equal(kind, tmp_path, monkeypatch):
    f, _ = make_sparse_function(12, n_terms=6, max_order=2, random_state=0)
    calls = []
    fit_spectrum = kind._fit_spectrum

    def counted(self, X, y, rng):
        calls.append(len(y))
        return fit_spectrum(self, X, y, rng)

    monkeypatch.setattr(kind, "_fit_spectrum", counted)
    plain = kind(f, budget=500, random_state=0).fit()
    first = kind(f, budget=500, random_state=0, fit_cache=tmp_path).fit()
    again = kind(f, budget=500, random_state=0, fit_cache=str(tmp_path)).fit()
    assert len(calls) == 2  # the plain fit and the first cached one; the third loaded
    for fitted in (first, again):
        assert fitted.spectrum_.terms() == pytest.approx(plain.spectrum_.terms())
        assert fitted.faithfulness_ == plain.faithfulness_
    other = kind(f, budget=500, random_state=1, fit_cache=tmp_path).fit()
    assert len(calls) == 3 and other.n_queries_ == plain.n_queries_  # another seed: a fit
    np.testing.assert_allclose(again.predict(np.ones((1, 12))), plain.predict(np.ones((1, 12))))


def test_a_bad_fit_cache_is_refused():
    f, _ = make_sparse_function(8, n_terms=4, max_order=2, random_state=0)
    with pytest.raises(ValueError, match="fit_cache"):
        ProxySPEXExplainer(f, budget=100, fit_cache=3).fit()
