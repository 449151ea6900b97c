"""Fixtures shared by every test of the package (each package's tests sit beside it)."""

from __future__ import annotations

import numpy as np
import pytest

from spexlearn.masks import every_mask


@pytest.fixture
def all_masks():
    """``all_masks(n, dtype=float64)``: every one of the 2^n masks of n components.

    Row ``i`` holds the bits of the integer ``i`` (component ``j`` is bit ``j``), as in
    :func:`spexlearn.masks.every_mask`; float64 by default, what a regressor is fitted on.
    (Hypothesis tests, which take no function-scoped fixtures, call ``every_mask``.)
    """

    def all_masks(n: int, dtype=np.float64) -> np.ndarray:
        return every_mask(n).astype(dtype)

    return all_masks


@pytest.fixture
def every_value():
    """``every_value(spectrum)``: every mask of its components and the spectrum's value
    on each (ground truth for small n)."""

    def every_value(spectrum) -> tuple[np.ndarray, np.ndarray]:
        X = every_mask(spectrum.n_components)
        return X, spectrum.evaluate(X)

    return every_value
