"""Pictures for the documentation's benchmark page (doc/_static/).

Run: python benchmarks/figures.py   (about 2 minutes on 2 cores)

faithfulness_budget.png: held-out R² against the number of queries on a noisy sparse
function of 100 components (40 Fourier terms of order <= 3, noise sd 10 % of the
signal's), for ProxySPEX with paired and with uniform masks and SPEX's regression mode
on the uniform masks. Each curve refits on prefixes of one draw of masks.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function
from spexlearn.masks import draw_paired_masks, draw_uniform_masks
from spexlearn.plot import faithfulness_curve, plot_faithfulness

BUDGETS = [250, 500, 1000, 2000]
OUT = Path(__file__).resolve().parents[1] / "doc" / "_static"


def main() -> None:
    n, seeds = 100, 8
    curves: dict[str, list] = {}
    for seed in range(seeds):
        _, truth = make_sparse_function(n, n_terms=40, max_order=3, random_state=seed)
        rng = np.random.default_rng(seed)
        X_test = rng.integers(0, 2, size=(1000, n))
        y_test = truth.evaluate(X_test)
        sd = 0.1 * np.std(y_test)
        noisy = lambda X, rng=rng, t=truth, sd=sd: t.evaluate(X) + sd * rng.normal(size=len(X))  # noqa: E731
        paired = draw_paired_masks(n, max(BUDGETS), np.random.RandomState(seed))
        uniform = draw_uniform_masks(n, max(BUDGETS), np.random.RandomState(seed))
        runs = {
            "ProxySPEX, paired masks": (ProxySPEXExplainer(max_order=3, random_state=0), paired),
            "ProxySPEX, uniform masks": (ProxySPEXExplainer(max_order=3, random_state=0),
                                         uniform),
            "SPEX regression, uniform masks": (SPEXExplainer(max_order=3, random_state=0),
                                               uniform),
        }
        for label, (estimator, X) in runs.items():
            curve = faithfulness_curve(estimator, X, noisy(X), X_test, y_test, BUDGETS)
            curves.setdefault(label, []).append(curve["r2"])
            print(label, seed, np.round(curve["r2"], 4))
    mean = {label: {"budgets": BUDGETS, "r2": np.mean(r2s, axis=0).tolist()}
            for label, r2s in curves.items()}
    ax = plot_faithfulness(mean)
    ax.set_title(f"n = {n}, 40 terms of order <= 3, 10 % noise (mean of {seeds} seeds)")
    ax.set_ylim(bottom=max(-0.1, min(min(c["r2"]) for c in mean.values()) - 0.05))
    OUT.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(OUT / "faithfulness_budget.png", dpi=110)
    print(f"wrote {OUT / 'faithfulness_budget.png'}")


if __name__ == "__main__":
    main()
