"""Which features of one row, alone and together, drive a scikit-learn model's prediction.

A gradient-boosting model predicts disease progression on scikit-learn's diabetes data
(10 features). TabularAblation takes an ablated feature's value from 50 background rows
(the interventional convention of SHAP and shapiq), so every one of the 2^10 masks can be
queried: the explanation is exact. It prints each feature's Shapley value and the strongest
interactions (Möbius: what features add together beyond what each adds alone).

Run: python examples/explain_tabular.py  (a few seconds, no model download)
"""

import os

from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import TabularAblation


def main() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = GradientBoostingRegressor(random_state=0).fit(X, y)
    row, background = X.iloc[[0]], X.sample(50, random_state=0)
    value = TabularAblation(model, row, background, progress=False)
    budget = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", 2**10))
    explainer = ProxySPEXExplainer(value, budget=budget, max_order=3, random_state=0).fit()

    print(f"prediction for row 0: {model.predict(row)[0]:.1f}; mean over the background: "
          f"{model.predict(background).mean():.1f}; {explainer.n_queries_} masks queried, "
          f"faithfulness R² {explainer.faithfulness_:.3f}\n")
    print("each feature's own share (Shapley values):")
    print(explainer.interactions(index="shapley").top(10))
    print("\nstrongest interactions (Möbius):")
    print(explainer.interactions_.top(8, order=2))


if __name__ == "__main__":
    main()
