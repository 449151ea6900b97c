"""Which patches of an image, alone and together, drive a score.

A synthetic "detector" scores a 64x64 picture: it fires when a bright square (the "eye")
and a bright bar (the "mouth") are both present, and a dark corner lowers it a little.
ImageAblation cuts the picture into a 4x4 grid and replaces each ablated patch by the
image's mean colour; ProxySPEX finds the patches and their interaction, and plot_image
draws them (saved as image_explanation.png). Any callable from images to scores works the
same way: a classifier's probability, a CLIP similarity.

Run: python examples/explain_image.py  (seconds, no model needed)
"""

import os

import numpy as np

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import ImageAblation


def picture() -> np.ndarray:
    image = np.full((64, 64), 0.3)
    image[4:12, 4:12] = 1.0        # the eye: patch r0c0
    image[52:60, 36:60] = 1.0      # the mouth: patches r3c2 and r3c3
    image[0:16, 48:64] = 0.0       # a dark corner: patch r0c3
    return image


def detector(images: np.ndarray) -> np.ndarray:
    eye = images[:, 4:12, 4:12].mean(axis=(1, 2))
    mouth = images[:, 52:60, 36:60].mean(axis=(1, 2))
    corner = images[:, 0:16, 48:64].mean(axis=(1, 2))
    return 5.0 * eye * mouth - corner


def main() -> None:
    value = ImageAblation(detector, picture(), grid=(4, 4), baseline="mean", progress=False)
    budget = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", 500))
    explainer = ProxySPEXExplainer(value, budget=budget, max_order=3, random_state=0).fit()
    print(f"score of the whole picture: {detector(picture()[None])[0]:.3f}; "
          f"{explainer.n_queries_} masks, faithfulness R² {explainer.faithfulness_:.3f}\n")
    print("strongest interactions (Möbius; patches named r<row>c<col>):")
    print(explainer.interactions_.top(6))
    try:
        import matplotlib

        matplotlib.use("Agg")
        from spexlearn.plot import plot_image
    except ImportError:  # plots are optional
        return
    ax = plot_image(explainer, value, k=4)
    ax.figure.savefig("image_explanation.png", dpi=100)
    print("\nwrote image_explanation.png")


if __name__ == "__main__":
    main()
