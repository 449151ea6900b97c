"""Choose the ProxySPEX proxy by cross-validation, like any scikit-learn hyper-parameter.

The explainers are regressors over masks: ``fit(X, y)`` takes queried masks and their
values, so ``GridSearchCV`` can compare proxies and their settings on one set of queries,
without a single extra model call. Here the value function is a synthetic one with a
known spectrum (order-3 AND-like interactions among 60 components), queried once.

Run: python examples/grid_search_proxy.py   (about 1 minute on 2 CPU cores)
"""

import os

import numpy as np
from lightgbm import LGBMRegressor
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GridSearchCV, KFold

from spexlearn import ProxySPEXExplainer, SparseSpectrum
from spexlearn.datasets import SparseFunction, make_sparse_function
from spexlearn.metrics import faithfulness

BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "1200"))


def main() -> None:
    _, support = make_sparse_function(60, n_terms=30, max_order=3, random_state=0)
    truth = SparseSpectrum.from_arrays(support.members, support.coef, 60, kind="mobius")
    value = SparseFunction(truth, noise=0.05, random_state=0)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(BUDGET, 60))
    y = value(X)  # the only queries of the whole search

    lgbm = dict(n_estimators=300, learning_rate=0.1, verbose=-1, random_state=0)
    grid = [
        {"proxy": [LGBMRegressor(**lgbm)], "proxy__max_depth": [2, 3, 5]},
        {"proxy": [GradientBoostingRegressor(n_estimators=300, random_state=0)],
         "proxy__max_depth": [3]},
        {"proxy": [LassoCV(cv=3)], "max_order": [2]},
    ]
    search = GridSearchCV(ProxySPEXExplainer(max_order=3, random_state=0), grid,
                          cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, y)
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"]):
        proxy = type(params["proxy"]).__name__
        depth = params.get("proxy__max_depth", "-")
        print(f"{proxy:<26} max_depth={depth!s:<3} max_order={params.get('max_order', 3)}  "
              f"cross-validated R² {score:.3f}")
    print(f"\nbest: {type(search.best_params_['proxy']).__name__} "
          f"{ {k: v for k, v in search.best_params_.items() if k != 'proxy'} }")
    X_test = rng.integers(0, 2, size=(500, 60))
    print(f"its faithfulness R² on 500 held-out masks: "
          f"{faithfulness(search.best_estimator_, X_test, truth.evaluate(X_test)):.3f}")


if __name__ == "__main__":
    main()
