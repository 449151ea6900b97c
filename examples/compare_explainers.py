"""Compare explainers with cross_val_score on the same queried masks.

SPEX, ProxySPEX with its default LightGBM proxy, ProxySPEX with a linear (Lasso) proxy,
and a plain additive model are scored by 5-fold cross-validated R² (faithfulness) on
one set of masks of a synthetic function with a known sparse spectrum of order <= 3.

Run: python examples/compare_explainers.py   (about 1 minute on 2 CPU cores)
"""

import os

import numpy as np
from sklearn.linear_model import LassoCV, LinearRegression
from sklearn.model_selection import KFold, cross_val_score

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function

BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "1500"))


def main() -> None:
    value, _ = make_sparse_function(40, n_terms=25, max_order=3, noise=0.05,
                                    random_state=1)
    X = np.random.default_rng(0).integers(0, 2, size=(BUDGET, 40))
    y = value(X)
    explainers = {
        "SPEX (residual screening)": SPEXExplainer(max_order=3, random_state=0),
        "ProxySPEX, LightGBM proxy": ProxySPEXExplainer(max_order=3, random_state=0),
        "ProxySPEX, Lasso proxy": ProxySPEXExplainer(proxy=LassoCV(cv=3), max_order=2,
                                                     random_state=0),
        "additive (no interactions)": LinearRegression(),
    }
    folds = KFold(5, shuffle=True, random_state=0)
    print(f"5-fold faithfulness R² on {BUDGET} masks of 40 components:")
    for name, explainer in explainers.items():
        scores = cross_val_score(explainer, X, y, cv=folds)
        print(f"  {name:<28} {scores.mean():.3f} ± {scores.std():.3f}")


if __name__ == "__main__":
    main()
