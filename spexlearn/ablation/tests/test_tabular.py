"""TabularAblation against ground truth: a model with known interactions, brute force over
the background, and shapiq's exact Shapley values on the same model and background."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import TabularAblation
from spexlearn.masks import every_mask


def _data(n=8, rows=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, n))
    y = (X[:, 0] * X[:, 1] + X[:, 2] - 0.5 * X[:, 3] > 0).astype(int)
    return X, y


def test_values_are_the_mean_over_the_background_of_the_imputed_rows():
    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    value = TabularAblation(model, X[0], X[1:21], target_class=1, progress=False)
    masks = every_mask(8)[::17]
    expected = [np.mean([model.predict_proba(np.where(m.astype(bool), X[0], b)[None])[0, 1]
                         for b in X[1:21]]) for m in masks]
    np.testing.assert_allclose(value(masks), expected, rtol=0, atol=1e-12)


def test_a_known_interaction_is_recovered_exactly():
    # f = 2 x0 x1 + x2 on a baseline of zeros: the Möbius terms are exactly these.
    class Product:
        def predict(self, rows):
            rows = np.asarray(rows, dtype=float)
            return 2 * rows[:, 0] * rows[:, 1] + rows[:, 2]

    x = np.array([1.5, -2.0, 0.5, 3.0])
    value = TabularAblation(Product(), x, np.zeros((1, 4)), progress=False)
    explainer = ProxySPEXExplainer(value, budget=16, random_state=0).fit()
    found = {s: v for s, v in explainer.interactions_.terms().items() if abs(v) > 1e-9}
    assert found == pytest.approx({(0, 1): 2 * 1.5 * -2.0, (2,): 0.5})


@pytest.mark.parametrize("rows", [20, 1])  # the marginal mean, and a single baseline row
def test_shapley_values_equal_shapiqs_exact_ones(rows):
    shapiq = pytest.importorskip("shapiq")
    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    background = X[1:1 + rows]
    value = TabularAblation(model, X[0], background, target_class=1, progress=False)
    ours = ProxySPEXExplainer(value, budget=256, max_order=8, random_state=0).fit()
    ours = ours.interactions(index="shapley")

    def predict(rows_):
        return model.predict_proba(rows_)[:, 1]

    if rows == 1:
        imputer = shapiq.imputer.BaselineImputer(predict, background, x=X[0])
    else:
        imputer = shapiq.imputer.MarginalImputer(predict, background, x=X[0],
                                                 sample_size=rows)
    exact = shapiq.ExactComputer(n_players=8, game=imputer)("SV")
    for i in range(8):
        assert ours[(i,)] == pytest.approx(exact[(i,)], abs=1e-6)


def test_dataframes_named_groups_and_bad_input():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(2).normal(size=(30, 4)),
                     columns=["age", "income", "debt", "score"])
    model = LinearRegression().fit(X, X["income"] - X["debt"])
    groups = {"money": ["income", "debt"], "person": ["age", "score"]}
    value = TabularAblation(model, X.iloc[[0]], X, features=groups, progress=False)
    assert value.component_names == ["money", "person"]
    both, money_only, none = value(np.array([[1, 1], [1, 0], [0, 0]]))
    assert both == pytest.approx(model.predict(X.iloc[[0]])[0])
    assert money_only == pytest.approx(both)  # the person columns carry no weight
    assert none == pytest.approx(model.predict(X).mean())
    assert "n_background=30" in repr(value)
    with pytest.raises(ValueError, match="exactly one group"):
        TabularAblation(model, X.iloc[[0]], X, features={"money": ["income"]})
    with pytest.raises(ValueError, match="names column 'salary'"):
        TabularAblation(model, X.iloc[[0]], X, features={"a": ["salary"]})
    with pytest.raises(ValueError, match="output='logits' is unknown"):
        TabularAblation(model, X.iloc[[0]], X, output="logits")


def test_the_cache_key_covers_what_the_model_learned():
    X, y = _data()
    fits = [GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X[rows], y[rows])
            for rows in (slice(0, 40), slice(20, 60))]  # same class and parameters
    keys = {TabularAblation(m, X[0], X[:10], target_class=1, progress=False).fingerprint()
            for m in fits}
    assert len(keys) == 2
