"""Value functions that ablate parts of a real model's input, the model itself, or its data.

Each is a callable ``masks (m, n) -> values (m,)`` (1 = component kept) with
``component_names``, ready for the explainers. They share batching, a cache of computed
masks (in memory, and on disk with ``cache=path``), a progress bar and a Ray backend.
"""

from ._base import Ablation, MaskCache, ValueFunctionError
from .classifier import ClassifierAblation
from .data import DataAblation
from .heads import HeadAblation
from .image import ImageAblation
from .tabular import TabularAblation
from .text import AnswerAblation, RecordMismatchError, SpanAblation, TextAblation

__all__ = ["Ablation", "AnswerAblation", "ClassifierAblation", "DataAblation",
           "HeadAblation", "ImageAblation", "MaskCache", "RecordMismatchError",
           "SpanAblation", "TabularAblation", "TextAblation", "ValueFunctionError"]
