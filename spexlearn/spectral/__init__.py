"""The mathematics of sparse Boolean spectra: pure NumPy, no scikit-learn, no torch."""

from ._convert import INDICES, interaction_values
from ._sparse import FOURIER, MOBIUS, SparseSpectrum, canonical_terms, subset_sums

__all__ = [
    "FOURIER",
    "INDICES",
    "MOBIUS",
    "SparseSpectrum",
    "canonical_terms",
    "interaction_values",
    "subset_sums",
]
