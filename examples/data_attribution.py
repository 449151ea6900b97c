"""Which groups of training data, together, make a classifier call a test tumour malignant?

Data attribution by ablation: the breast-cancer training set (shipped with scikit-learn)
is split into 24 groups of similar patients (k-means clusters). A mask keeps some groups,
a gradient-boosted classifier is refitted on them, and the value is its probability that
a borderline test case is malignant. ProxySPEX finds the groups whose presence moves that
probability, alone and together: two groups that each suffice to teach the boundary show
up as a negative pairwise (redundancy) term.

Run: python examples/data_attribution.py   (about 1 minute on 2 CPU cores)
"""

import os

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import DataAblation
from spexlearn.metrics import faithfulness

BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "600"))


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    groups = KMeans(n_clusters=24, n_init=3, random_state=0).fit_predict(X_train)
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    probabilities = model.fit(X_train, y_train).predict_proba(X_test)[:, 0]
    borderline = int(np.argmin(np.abs(probabilities - 0.5)))
    print(f"test case {borderline}: P(malignant) = {probabilities[borderline]:.2f} "
          f"with all training data")

    value = DataAblation(model, X_train, y_train, X_test[borderline], groups=groups,
                         output="predict_proba", target_class=0, n_jobs=2)
    value.component_names = [f"group {g} ({(groups == g).sum()} rows)"
                             for g in np.unique(groups)]
    explainer = ProxySPEXExplainer(value, budget=BUDGET, max_order=2, random_state=0).fit()
    held_out = np.random.default_rng(1).integers(0, 2, size=(100, value.n_components))
    print(f"ProxySPEX: {explainer.n_queries_} refits; faithfulness R² on 100 held-out "
          f"masks: {faithfulness(explainer, held_out, value(held_out)):.3f}\n")
    print("training groups that move P(malignant), alone and together (Möbius):")
    print(explainer.interactions(index="mobius", order=2).top(8))


if __name__ == "__main__":
    main()
