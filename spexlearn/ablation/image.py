"""ImageAblation: any image scorer's output when patches of the image are replaced."""

from __future__ import annotations

import numpy as np

from ._base import Ablation
from .data import content_digest

__all__ = ["ImageAblation"]

BASELINES = ("mean", "blur")


class ImageAblation(Ablation):
    """The score of an image whose ablated patches are replaced by a baseline.

    The image is cut into a ``grid`` of rectangular patches (the components, named
    ``r{row}c{col}``); an ablated patch takes the baseline's pixels. Any callable from a
    batch of images to scores works: a classifier's class probability, a CLIP
    similarity, a detector's confidence.

    Parameters
    ----------
    scorer : callable
        ``images (m, height, width[, channels]) float -> scores (m,)``.
    image : array-like of shape (height, width) or (height, width, channels)
    grid : (int, int), default=(4, 4)
        Patch rows and columns; the image's sides need not divide evenly.
    baseline : "mean", "blur", a colour, or an image, default="mean"
        What an ablated patch shows: the image's mean colour, the image blurred (a box
        blur of a quarter of the patch size), one colour (a value per channel), or an
        image of the same shape.
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Attributes
    ----------
    component_names : list of str
    patches : list of (slice, slice)
        Each patch's rows and columns.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.ablation import ImageAblation
    >>> image = np.ones((8, 8))
    >>> value = ImageAblation(lambda x: x.sum(axis=(1, 2)), image, grid=(2, 2),
    ...                       baseline=0.0, progress=False)
    >>> value(np.array([[1, 1, 1, 1], [1, 0, 0, 0]]))  # 16 pixels in each patch
    array([64., 16.])
    """

    def __init__(self, scorer, image, *, grid=(4, 4), baseline="mean", cache=None,
                 batch_size=16, progress=True, backend="local", n_workers=None, repeats=1):
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        if not callable(scorer):
            raise TypeError(f"scorer must be callable (images -> scores), got "
                            f"{type(scorer).__name__}.")
        self.scorer = scorer
        self.image = np.asarray(image, dtype=np.float64)
        if self.image.ndim not in (2, 3):
            raise ValueError(f"image must have shape (height, width) or (height, width, "
                             f"channels), got {self.image.shape}.")
        rows, cols = (int(g) for g in grid)
        height, width = self.image.shape[:2]
        if not (1 <= rows <= height and 1 <= cols <= width):
            raise ValueError(f"grid={grid} does not fit a {height} x {width} image: give "
                             "at least one patch per side and at most one per pixel.")
        self.grid = (rows, cols)
        row_edges = np.linspace(0, height, rows + 1).round().astype(int)
        col_edges = np.linspace(0, width, cols + 1).round().astype(int)
        self.patches = [(slice(row_edges[r], row_edges[r + 1]),
                         slice(col_edges[c], col_edges[c + 1]))
                        for r in range(rows) for c in range(cols)]
        self.component_names = [f"r{r}c{c}" for r in range(rows) for c in range(cols)]
        self.baseline = baseline
        self._fill = _baseline_image(self.image, baseline, (height // rows, width // cols))

    def _repr_settings(self) -> dict[str, object]:
        shown = self.baseline if isinstance(self.baseline, str) else "given"
        return {"grid": self.grid, "baseline": shown}

    def describe(self) -> dict[str, str]:
        """The value in words, for reports."""
        return {"model": getattr(self.scorer, "__name__", type(self.scorer).__name__),
                "value": f"score of the image, ablated patches from the {self.baseline!s} "
                         "baseline"}

    def _fingerprint(self) -> dict:
        # A name does not tell two scorers apart (every lambda is "<lambda>"): their
        # scores of the image and of the fully ablated one do.
        ends = np.vstack([np.ones(len(self.patches)), np.zeros(len(self.patches))])
        scores = np.asarray(self.scorer(self.images(ends)), dtype=np.float64)
        return {"kind": "image", "scorer": getattr(self.scorer, "__qualname__",
                                                   type(self.scorer).__qualname__),
                "scores": content_digest(scores),
                "image": content_digest(self.image), "fill": content_digest(self._fill),
                "grid": list(self.grid)}

    def images(self, masks) -> np.ndarray:
        """The ablated images of ``masks``, shape ``(m, *image.shape)``."""
        masks = np.asarray(masks)
        out = np.repeat(self.image[None], len(masks), axis=0)
        for j, (rows, cols) in enumerate(self.patches):
            dropped = masks[:, j] == 0
            out[dropped, rows, cols] = self._fill[rows, cols]
        return out

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        return np.asarray(self.scorer(self.images(masks)), dtype=np.float64).reshape(-1)


def _baseline_image(image: np.ndarray, baseline, patch: tuple[int, int]) -> np.ndarray:
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError(f"baseline={baseline!r} is unknown; choose one of {BASELINES}, "
                             "a colour or an image.")
        if baseline == "mean":
            return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).copy()
        return _box_blur(image, max(1, min(patch) // 4))
    fill = np.asarray(baseline, dtype=np.float64)
    if fill.shape == image.shape:
        return fill.copy()
    try:
        return np.broadcast_to(fill, image.shape).copy()
    except ValueError:
        raise ValueError(f"baseline of shape {fill.shape} fits neither the image "
                         f"{image.shape} nor one value per channel.") from None


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """A box blur of ``radius`` pixels each way, the edges padded by reflection (a
    separable running mean: two cumulative sums, no image library needed)."""
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0)
                              for a in range(image.ndim)], mode="reflect")
        total = np.cumsum(padded, axis=axis)
        zero = np.zeros_like(np.take(total, [0], axis=axis))
        total = np.concatenate([zero, total], axis=axis)
        width = 2 * radius + 1
        n = image.shape[axis]
        out = (np.take(total, np.arange(width, width + n), axis=axis)
               - np.take(total, np.arange(0, n), axis=axis)) / width
    return out
