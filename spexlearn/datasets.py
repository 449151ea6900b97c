"""Synthetic sparse Boolean functions with a known spectrum (the ground truth for tests),
and a tiny random classifier to try the text value functions on without a download."""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.utils import check_random_state

from .spectral import SparseSpectrum

__all__ = ["SparseFunction", "make_random_classifier", "make_sparse_function",
           "make_unanimity_function"]


class SparseFunction:
    """A value function computed from a known sparse Fourier spectrum, plus optional noise.

    Parameters
    ----------
    spectrum : SparseSpectrum
        The true spectrum.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to every returned value.
    random_state : int, RandomState instance or None
        Seed of the noise.
    repeatable : bool, default=False
        False: fresh noise on every call, so asking for a mask twice gives two values.
        True: the noise is a function of the mask (drawn from a keyed hash of its bits),
        as from a deterministic model: the same mask always gets the same value, whatever
        was asked before, so two explainers that query the same mask see the same value.

    Attributes
    ----------
    n_components : int
    component_names : list of str
    n_calls : int
        Number of masks evaluated so far (counts model queries in tests).

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, truth = make_sparse_function(8, n_terms=5, max_order=2, random_state=0)
    >>> masks = np.ones((2, 8), dtype=np.uint8)
    >>> bool(np.allclose(f(masks), truth.evaluate(masks)))
    True
    >>> from spexlearn.datasets import SparseFunction
    >>> g = SparseFunction(truth, noise=0.1, random_state=0, repeatable=True)
    >>> bool(g(masks[:1])[0] == g(masks)[1])  # the same mask, the same value
    True
    """

    def __init__(self, spectrum: SparseSpectrum, noise: float = 0.0, random_state=None,
                 repeatable: bool = False):
        self.spectrum = spectrum
        self.noise = float(noise)
        self.random_state = random_state
        self.repeatable = bool(repeatable)
        self._rng = check_random_state(random_state)
        # The hash key: the seed itself when one is given (drawn only when repeatable, so
        # that the per-call noise stream stays what it was).
        self._key = None
        if self.repeatable:
            self._key = (int(random_state) if isinstance(random_state, (int, np.integer))
                         else int(self._rng.randint(2**62)))
        self.n_components = spectrum.n_components
        self.component_names = [f"x{i}" for i in range(spectrum.n_components)]
        self.n_calls = 0

    def __call__(self, masks) -> np.ndarray:
        masks = np.asarray(masks)
        values = self.spectrum.evaluate(masks)
        self.n_calls += values.shape[0]
        if self.noise > 0:
            draws = (_hashed_normal(masks, self._key) if self.repeatable
                     else self._rng.standard_normal(values.shape[0]))
            values = values + self.noise * draws
        return values

    def __sklearn_clone__(self):
        # Cloning an explainer must never copy the function (or a model behind it).
        return self

    def __repr__(self) -> str:
        return (
            f"SparseFunction(n_components={self.n_components}, n_terms={len(self.spectrum)}, "
            f"noise={self.noise})"
        )


def _hashed_normal(masks: np.ndarray, key: int) -> np.ndarray:
    """One standard normal draw per 0/1 row, a function of the row and ``key`` alone:
    Box-Muller on the top 53 bits of each half of a keyed 16-byte BLAKE2 hash."""
    rows = np.asarray(masks) > 0.5
    key_bytes = int(key).to_bytes(8, "little")
    digests = np.frombuffer(b"".join(
        hashlib.blake2b(np.packbits(row).tobytes(), digest_size=16, key=key_bytes).digest()
        for row in rows), dtype="<u8").reshape(-1, 2)
    top = (digests >> np.uint64(11)).astype(float) / 2.0**53
    return np.sqrt(-2 * np.log(top[:, 0] + 2.0**-53)) * np.cos(2 * np.pi * top[:, 1])


def make_sparse_function(
    n: int,
    n_terms: int,
    max_order: int,
    noise: float = 0.0,
    random_state=None,
    *,
    intercept: float = 0.0,
):
    """A random sparse Boolean function with known Fourier spectrum.

    The support is ``n_terms`` distinct non-empty subsets whose orders are drawn uniformly
    from ``1..max_order``; coefficients have random signs and magnitudes uniform in
    ``[0.5, 1]``, so every true term is clearly above zero.

    Parameters
    ----------
    n : int
        Number of components.
    n_terms : int
        Number of non-empty subsets carrying a coefficient.
    max_order : int
        Largest subset size.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to each value. Use
        ``truth.evaluate`` for noise-free values.
    random_state : int, RandomState instance or None
    intercept : float, default=0.0
        The coefficient of the empty set (the mean value).

    Returns
    -------
    value_function : SparseFunction
        Callable ``masks (m, n) -> values (m,)``.
    truth : SparseSpectrum
        The exact Fourier spectrum of the noise-free function.

    Examples
    --------
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, truth = make_sparse_function(20, n_terms=10, max_order=3, random_state=0)
    >>> len(truth), truth.max_order <= 3
    (10, True)
    """
    rng = check_random_state(random_state)
    n, n_terms, max_order = int(n), int(n_terms), int(max_order)
    if n < 1 or n_terms < 0 or max_order < 1:
        raise ValueError("need n >= 1, n_terms >= 0 and max_order >= 1.")
    max_order = min(max_order, n)
    subsets = _distinct_subsets(n, n_terms, max_order, rng)
    coefs = rng.choice([-1.0, 1.0], size=n_terms) * rng.uniform(0.5, 1.0, size=n_terms)
    if intercept:
        subsets.append(())
        coefs = np.append(coefs, float(intercept))
    truth = SparseSpectrum(subsets, coefs, n_components=n)
    return SparseFunction(truth, noise=noise, random_state=rng), truth


def make_unanimity_function(
    n: int, n_terms: int = 50, max_order: int = 5, random_state=None
):
    """A sum of unanimity games: ``f(x) = sum_k c_k [S_k is kept]``, a sparse Möbius form.

    The benchmark game that shapiq calls SOUM (sum of unanimity models): ``n_terms``
    subsets ``S_k`` whose orders are uniform in ``1..max_order`` and weights ``c_k``
    uniform in [0, 1]. Unlike :func:`make_sparse_function` its Fourier spectrum is dense
    below each ``S_k`` (``2^|S_k|`` terms each), and every term pushes the same way,
    which makes it hard for sparse recovery at small budgets.

    Parameters
    ----------
    n : int
        Number of components.
    n_terms : int, default=50
        Number of unanimity games (subsets may repeat; their weights then add up).
    max_order : int, default=5
        Largest subset size.
    random_state : int, RandomState instance or None

    Returns
    -------
    value_function : SparseFunction
    truth : SparseSpectrum
        The exact Fourier spectrum (``truth.to_mobius()`` gives the weights back).

    Examples
    --------
    >>> from spexlearn.datasets import make_unanimity_function
    >>> f, truth = make_unanimity_function(10, n_terms=3, max_order=2, random_state=0)
    >>> mobius = truth.to_mobius()
    >>> len(mobius.prune(1e-12)) <= 3
    True
    """
    rng = check_random_state(random_state)
    n, n_terms, max_order = int(n), int(n_terms), min(int(max_order), int(n))
    if n < 1 or n_terms < 1 or max_order < 1:
        raise ValueError("need n >= 1, n_terms >= 1 and max_order >= 1.")
    weights: dict[tuple[int, ...], float] = {}
    for _ in range(n_terms):
        order = int(rng.randint(1, max_order + 1))
        subset = tuple(sorted(rng.choice(n, size=order, replace=False).tolist()))
        weights[subset] = weights.get(subset, 0.0) + float(rng.uniform())
    mobius = SparseSpectrum(list(weights), list(weights.values()), n, kind="mobius")
    truth = mobius.to_fourier()
    return SparseFunction(truth), truth


def _distinct_subsets(n: int, count: int, max_order: int, rng) -> list[tuple[int, ...]]:
    from math import comb

    available = sum(comb(n, k) for k in range(1, max_order + 1))
    if count > available:
        raise ValueError(
            f"cannot draw {count} distinct subsets of order <= {max_order} from {n} "
            f"components: only {available} exist."
        )
    seen: set[tuple[int, ...]] = set()
    subsets: list[tuple[int, ...]] = []
    while len(subsets) < count:
        order = int(rng.randint(1, max_order + 1))
        subset = tuple(sorted(rng.choice(n, size=order, replace=False).tolist()))
        if subset not in seen:
            seen.add(subset)
            subsets.append(subset)
    return subsets


def make_random_classifier(folder, words, *, labels=("negative", "positive"),
                           random_state=0):
    """Save a tiny random BERT sequence classifier and its word-level tokenizer in
    ``folder``: a Hugging Face classifier to try :class:`~spexlearn.ablation.ClassifierAblation`
    on without a download (its scores mean nothing about language).

    Parameters
    ----------
    folder : str or Path
        Where ``save_pretrained`` writes the model and tokenizer (created if needed).
    words : iterable of str
        The vocabulary (any other word is ``[UNK]``).
    labels : sequence of str, default=("negative", "positive")
    random_state : int, default=0
        The seed of the random weights.

    Returns
    -------
    Path
        ``folder``, for :func:`spexlearn.lm.load_classifier`.

    Examples
    --------
    >>> import tempfile
    >>> from spexlearn.lm import load_classifier
    >>> folder = make_random_classifier(tempfile.mkdtemp(), "not bad at all".split())
    >>> model, tokenizer = load_classifier(folder)  # doctest: +SKIP
    """
    from pathlib import Path

    import tokenizers
    import torch
    import transformers

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words))]
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {w: i for i, w in enumerate(vocabulary)}, unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    config = transformers.BertConfig(
        vocab_size=len(vocabulary), hidden_size=16, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
        num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(random_state)
    folder = Path(folder)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
