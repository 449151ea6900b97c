"""ClassifierAblation: a text classifier's class score when words or sentences are removed."""

from __future__ import annotations

import numpy as np

from ..segment import Segmentation
from ._base import Ablation
from .data import content_digest
from .text import MASKINGS

__all__ = ["ClassifierAblation"]

SCORES = ("log_prob", "logit")


class ClassifierAblation(Ablation):
    """A Hugging Face sequence classifier's score for one class, on the text rebuilt
    from the kept words, sentences or paragraphs.

    Parameters
    ----------
    model : transformers ``...ForSequenceClassification`` model
        In evaluation mode (see :func:`spexlearn.lm.load_classifier`, which loads one
        from a local directory).
    tokenizer : transformers tokenizer
    text : str
        The text whose components are ablated.
    unit : {"word", "sentence", "paragraph"}, default="word"
    target : int, str or None, default=None
        The class scored: an index, or a label of ``model.config.id2label``. None: the
        class the model predicts for the full text.
    score : {"log_prob", "logit"}, default="log_prob"
        The class's log-probability (log-softmax over the classes), or its logit.
    masking : {"remove", "token"}, default="remove"
        "remove" deletes ablated components; "token" puts ``placeholder`` in their place.
    placeholder : str or None, default=None
        For ``masking="token"``; None: the tokenizer's mask token, else its unknown token.
    max_length : int or None, default=None
        Texts longer than this many tokens are refused (None: the model's limit).
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Attributes
    ----------
    component_names : list of str
    segmentation : Segmentation
    target_ : int
        The index of the class scored.
    """

    def __init__(self, model, tokenizer, text, *, unit="word", target=None,
                 score="log_prob", masking="remove", placeholder=None, max_length=None,
                 cache=None, batch_size=32, progress=True, backend="local", n_workers=None,
                 repeats=1):
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        if score not in SCORES:
            raise ValueError(f"score={score!r} is unknown; choose one of {SCORES}.")
        if masking not in MASKINGS:
            raise ValueError(f"masking={masking!r} is unknown; choose one of {MASKINGS}.")
        self.model, self.tokenizer = model, tokenizer
        self.text, self.unit, self.score, self.masking = text, unit, score, masking
        self.placeholder = placeholder if placeholder is not None else (
            tokenizer.mask_token or tokenizer.unk_token or "...")
        self.segmentation = Segmentation.of(text, unit)
        self.component_names = self.segmentation.names
        limit = max_length or getattr(tokenizer, "model_max_length", None) or 512
        self.max_length = int(min(limit, getattr(model.config, "max_position_embeddings",
                                                 limit)))
        n_tokens = len(tokenizer(text)["input_ids"])
        if n_tokens > self.max_length:
            raise ValueError(f"the text takes {n_tokens} tokens, more than the classifier's "
                             f"{self.max_length}: shorten it or split it into parts.")
        self.target_ = self._resolve_target(target)

    def _resolve_target(self, target) -> int:
        n_classes = int(self.model.config.num_labels)
        if target is None:
            return int(np.argmax(self._logits([self.text])[0]))
        labels = {str(v): int(k) for k, v in (self.model.config.id2label or {}).items()}
        if isinstance(target, str):
            if target not in labels:
                raise ValueError(f"target={target!r} is not a label of the model: "
                                 f"{sorted(labels)}.")
            return labels[target]
        if not 0 <= int(target) < n_classes:
            raise ValueError(f"target={target} is not a class index below {n_classes}.")
        return int(target)

    def describe(self) -> dict[str, str]:
        """The value in words, for reports."""
        label = (self.model.config.id2label or {}).get(self.target_, self.target_)
        return {"model": type(self.model).__name__,
                "value": f"{self.score} of class {label!r}"}

    def _fingerprint(self) -> dict:
        weights = [p.detach().cpu().numpy().ravel()[::997] for p in self.model.parameters()]
        return {"kind": "classifier", "model": type(self.model).__name__,
                "weights": content_digest(*weights), "vocab": len(self.tokenizer),
                "text": self.text, "unit": self.unit, "target": self.target_,
                "score": self.score, "masking": self.masking,
                "placeholder": self.placeholder}

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        placeholder = self.placeholder if self.masking == "token" else None
        texts = [self.segmentation.rebuild(mask, placeholder=placeholder) for mask in masks]
        logits = self._logits(texts)
        if self.score == "logit":
            return logits[:, self.target_]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return log_probs[:, self.target_]

    def _logits(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
        return logits.float().cpu().numpy().astype(np.float64)
