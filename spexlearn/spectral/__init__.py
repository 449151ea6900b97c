"""The mathematics of sparse Boolean spectra: pure NumPy, no scikit-learn, no torch."""

from ._sparse import FOURIER, MOBIUS, SparseSpectrum, canonical_terms, subset_sums

__all__ = ["FOURIER", "MOBIUS", "SparseSpectrum", "canonical_terms", "subset_sums"]
