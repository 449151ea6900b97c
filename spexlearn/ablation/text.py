"""TextAblation: the value of a causal LM's answer when parts of its prompt are removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._renamed import refuses_renamed
from ..lm import model_key
from ..masks import row_keys
from ..segment import UNITS, Segmentation
from ._base import Ablation

__all__ = ["OUTPUTS", "AnswerAblation", "RecordMismatchError", "SpanAblation", "TextAblation"]

MASKINGS = ("remove", "token")
# ``mask`` names a 0/1 vector everywhere else (``prompt(mask)``): the strategy is ``masking``.
_RENAMED = {"mask": ("masking", "`mask` is the 0/1 vector; the strategy is `masking`")}
_PLACEHOLDER = "..."


class TextAblation(Ablation):
    """Log-probability of a target answer as components of the prompt text are ablated.

    The text is split into components (words, sentences or paragraphs); a mask keeps some
    of them, the prompt is rebuilt (the ``template`` around ``{text}`` is never ablated)
    and the model scores the target after the chat-formatted prompt.

    Parameters
    ----------
    lm : LanguageModel or None
        The model (``spexlearn.lm``). None: the embedded SmolLM2-135M-Instruct
        (``load_default_lm()``, about 20 s to load on 2 cores).
    text : str
        The text whose components are ablated.
    unit : {"word", "sentence", "paragraph"}, default="word"
    template : str, default="{text}"
        The user message; ``{text}`` stands for the (ablated) text and the rest is fixed,
        e.g. ``"Context: {text}\\nQuestion: Who wrote it?"``.
    target : None, str or (str, str), default=None
        None: the model's own greedy answer to the full prompt (``target_text_``); a
        string: that answer; a pair ``(a, b)``: the label contrast
        ``log p(a) - log p(b)`` (e.g. ``("positive", "negative")``).
    masking : {"remove", "token"}, default="remove"
        "remove" deletes ablated components; "token" puts ``placeholder`` in their place.
    placeholder : str, default="..."
    max_new_tokens : int, default=48
        Length limit of the greedy answer when ``target`` is None.
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Attributes
    ----------
    component_names : list of str
        The components' texts (a repeated one gets ``#2``, ``#3``, ...).
    segmentation : Segmentation
        The text and each component's span in it (what the report shades).
    segments : list of Segment
        The components with their character spans in ``text``.
    target_text_ : str or tuple of str
        The scored answer (or the two labels).

    Examples
    --------
    >>> from spexlearn.ablation import TextAblation
    >>> value = TextAblation(text="The film was wonderful.", target=("positive", "negative"),
    ...     template="Review: {text}\\nIs the review positive or negative?")  # doctest: +SKIP
    >>> value(np.array([[1, 1, 1, 1], [1, 1, 1, 0]]))  # doctest: +SKIP
    array([ 2.1..., -0.3...])
    """

    @refuses_renamed(_RENAMED)
    def __init__(self, lm=None, text="", *, unit="word", template="{text}", target=None,
                 masking="remove", placeholder=_PLACEHOLDER, max_new_tokens=48, cache=None,
                 batch_size=32, progress=True, backend="local", n_workers=None, repeats=1):
        self._settings(text, unit=unit, template=template, masking=masking,
                       placeholder=placeholder,
                       cache=cache, batch_size=batch_size, progress=progress, backend=backend,
                       n_workers=n_workers, repeats=repeats)
        if lm is None:
            from ..lm import load_default_lm

            lm = load_default_lm()
        self.lm = lm
        self.target_text_, self._targets, self._weights = self._resolve_target(
            target, max_new_tokens
        )
        self._check_prompts(max_new_tokens)

    def _settings(self, text, *, unit, template, masking, placeholder, cache, batch_size,
                  progress, backend, n_workers, repeats) -> None:
        """Everything that needs no model."""
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        _check_settings(unit, template, masking)
        self.text = text
        self.unit = unit
        self.template = template
        self.masking = masking
        self.placeholder = placeholder
        self.segmentation = Segmentation.of(text, unit)
        self.segments = list(self.segmentation.segments)
        self.component_names = self.segmentation.names
        self._deferred: dict | None = None

    def _check_prompts(self, max_new_tokens) -> None:
        """What the model's tokenizer says of the prompts: the shared prefix, the length."""
        self._prefix_length = self._shared_prefix_length()
        self.lm.check_length(len(self._prompt_ids(np.ones(self.n_components))) + max(
            len(t) for t in self._targets
        ))

    # ------------------------------------------------------- deferred model
    def record(self) -> dict:
        """What a later run needs to serve this object's values from its cache without
        the model: the fingerprint (the cache's key), the model's name and the scored
        answer with its token ids. Plain JSON; see :meth:`deferred`."""
        target = self.target_text_
        return {"fingerprint": self.fingerprint(), "model": str(self.lm.name),
                "target_text": list(target) if isinstance(target, tuple) else target,
                "targets": [[int(i) for i in ids] for ids in self._targets]}

    @classmethod
    @refuses_renamed(_RENAMED)
    def deferred(cls, load, record: dict, text="", *, target=None, max_new_tokens=48,
                 unit="word", template="{text}", masking="remove", placeholder=_PLACEHOLDER,
                 cache=None, batch_size=32, progress=True, backend="local",
                 n_workers=None, repeats=1) -> TextAblation:
        """A TextAblation that loads its model (``load()``) only when a value is missing
        from ``cache``.

        ``record`` is what :meth:`record` returned for the same settings and model (the
        caller keys it by both, e.g. with :func:`spexlearn.lm.source_key`): it gives the
        cache's fingerprint, the model's name and the answer, so that values found in
        the cache, and the target, need no model. Once loaded, the model must give the
        recorded fingerprint again, else
        :class:`~spexlearn.ablation.RecordMismatchError` is raised before any value is
        computed: the values served until then belong to another model, and the caller
        starts over with a TextAblation made from the loaded model.
        """
        self = cls.__new__(cls)
        self._settings(text, unit=unit, template=template, masking=masking,
                       placeholder=placeholder,
                       cache=cache, batch_size=batch_size, progress=progress,
                       backend=backend, n_workers=n_workers, repeats=repeats)
        pair = isinstance(target, (tuple, list))
        self.lm = _DeferredModel(load, record["model"])
        self.target_text_ = tuple(record["target_text"]) if pair else record["target_text"]
        self._targets = [list(ids) for ids in record["targets"]]
        self._weights = np.array([1.0, -1.0] if pair else [1.0])
        self._deferred = {"target": target, "max_new_tokens": max_new_tokens,
                          "fingerprint": record["fingerprint"]}
        return self

    def fingerprint(self) -> str:
        if self._deferred is not None:
            return self._deferred["fingerprint"]
        return super().fingerprint()

    def _prepare(self) -> None:
        """Load a deferred model and check that it is the one recorded."""
        if self._deferred is None:
            return
        deferred = self._deferred
        lm = self.lm.load()
        self.lm, self._deferred = lm, None
        if deferred["target"] is not None:  # given answers: tokenized by this model again
            self.target_text_, self._targets, self._weights = self._resolve_target(
                deferred["target"], deferred["max_new_tokens"])
        # (The model's own answer is not generated again: the record is keyed by the
        # model's files and the prompt, and the fingerprint below checks the model.)
        self._check_prompts(deferred["max_new_tokens"])
        if self.fingerprint() != deferred["fingerprint"]:
            # Nothing read under the recorded key is served again.
            self._memory, self._store = {}, None
            raise RecordMismatchError(
                f"the model loaded ({lm.name}) does not give the recorded cache key "
                f"{deferred['fingerprint']} but {self.fingerprint()}: the values served "
                "from the cache so far are another model's; start over with this model.")

    # -------------------------------------------------------------- prompts
    def prompt(self, mask) -> str:
        """The user message for one mask (1 = component kept)."""
        placeholder = self.placeholder if self.masking == "token" else None
        text = self.segmentation.rebuild(mask, placeholder=placeholder)
        return self.template.replace("{text}", text)

    def describe(self) -> dict[str, str]:
        """The value in words, for reports: the model, the value and the prompt."""
        target = self.target_text_
        value = (f"log p({target[0]!r}) − log p({target[1]!r})" if isinstance(target, tuple)
                 else f"log p({target!r})")
        return {"model": str(self.lm.name), "value": value, "prompt": self.template}

    def _prompt_ids(self, mask) -> list[int]:
        return self.lm.prompt_ids(self.prompt(mask))

    def _shared_prefix_length(self) -> int:
        """Tokens every prompt starts with (one held back: a merge may cross the border)."""
        full = self._prompt_ids(np.ones(self.n_components))
        empty = self._prompt_ids(np.zeros(self.n_components))
        common = 0
        for a, b in zip(full, empty):
            if a != b:
                break
            common += 1
        return max(common - 1, 0)

    def _resolve_target(self, target, max_new_tokens):
        if target is None:
            text, ids = self.lm.generate(self.prompt(np.ones(self.n_components)),
                                         max_new_tokens=max_new_tokens)
            return text, [ids], np.array([1.0])
        if isinstance(target, str):
            return target, [self._encode_target(target)], np.array([1.0])
        if isinstance(target, (tuple, list)) and len(target) == 2 and all(
            isinstance(t, str) for t in target
        ):
            ids = [self._encode_target(t) for t in target]
            return tuple(target), ids, np.array([1.0, -1.0])
        raise TypeError(
            "target must be None (the model's own answer), a string, or a pair of strings "
            f"(a label contrast), got {target!r}."
        )

    def _encode_target(self, text: str) -> list[int]:
        ids = self.lm.encode(text)
        if not ids:
            raise ValueError("the target is empty: give the answer text to score.")
        return ids

    # ------------------------------------------------------------- values
    def _fingerprint(self) -> dict:
        # The model's whole identity: system prompt, chat template, weights' content.
        return {"kind": "text", "model": model_key(self.lm), "text": self.text,
                "unit": self.unit,
                # (Keyed "mask" as before the rename: caches written then stay valid.)
                "template": self.template, "mask": self.masking,
                "placeholder": self.placeholder,
                "targets": self._targets, "weights": self._weights.tolist()}

    def _sort_key(self, masks: np.ndarray) -> np.ndarray:
        # Masks in lexicographic order (first component first): a batch then holds masks
        # that agree on their first components, whose prompts share those tokens, and the
        # model computes each shared stretch once (see LanguageModel.logprobs).
        rank = np.empty(len(masks), dtype=np.int64)
        rank[np.lexsort(masks.T[::-1])] = np.arange(len(masks))
        return rank

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        scores = self._scored(masks, lambda prompts, prefix_length: self.lm.logprobs(
            prompts, self._targets, prefix_length=prefix_length))
        return scores @ self._weights

    def _scored(self, masks: np.ndarray, score) -> np.ndarray:
        """``score(prompts, prefix_length)`` of the masks' prompts, one row per mask: the
        prompts that start with the shared prefix (and extend it) together, after its
        cache; any other (a tokenizer merging across the border) on its own."""
        prompts = [self._prompt_ids(mask) for mask in masks]
        shared = self._prefix_length
        prefix = prompts[0][:shared] if prompts else []
        fits = np.array([p[:shared] == prefix and len(p) > shared for p in prompts])
        rows = [None] * len(prompts)
        if fits.any():
            fitting = np.flatnonzero(fits)
            for i, row in zip(fitting, score([prompts[i] for i in fitting], shared)):
                rows[i] = row
        for i in np.flatnonzero(~fits):
            rows[i] = score([prompts[i]], 0)[0]
        return np.array(rows, dtype=np.float64).reshape(len(prompts), -1)


class RecordMismatchError(RuntimeError):
    """A deferred :class:`TextAblation`'s model, once loaded, is not the recorded one."""


class _DeferredModel:
    """A model's name, and how to load it."""

    def __init__(self, load, name: str):
        self._load = load
        self.name = name

    def load(self):
        return self._load()


def _check_settings(unit: str, template: str, masking: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is unknown; choose one of {UNITS}.")
    if not isinstance(template, str) or template.count("{text}") != 1:
        raise ValueError(
            "template must contain {text} exactly once (where the ablated text goes), "
            f"got {template!r}."
        )
    if masking not in MASKINGS:
        raise ValueError(f"masking={masking!r} is unknown; choose one of {MASKINGS}.")


OUTPUTS = ("log_prob", "logit_prob")


class AnswerAblation:
    """Which parts of a context drive each span of a generated answer, from shared queries.

    The model answers the prompt built from the full text (or ``answer`` is given); every
    span of that answer then has its own value function, :class:`SpanAblation`: the
    log-probability of the span's tokens, given the ablated prompt and the answer's
    tokens before the span. All spans read one forward pass per mask (the per-token
    log-probabilities of the whole answer), so explaining every sentence of an answer
    with the same masks costs the queries of one. This is the question ContextCite [1]_
    answers with a linear surrogate; here each span gets the interactions too.

    Parameters
    ----------
    lm : LanguageModel or None
        None: the embedded SmolLM2-135M-Instruct.
    text : str
        The context whose components are ablated.
    unit : {"word", "sentence", "paragraph"}, default="sentence"
    template : str, default="{text}"
        The user message around the context, e.g.
        ``"Context: {text}\\nQuestion: Where was Nils born?"``.
    answer : str or None, default=None
        The answer to attribute; None: the model's own greedy answer to the full prompt.
    output : {"log_prob", "logit_prob"}, default="log_prob"
        A span's value: its log-probability, or ContextCite's logit of its probability
        (``log p - log(1 - p)``).
    masking, placeholder, max_new_tokens
        As for :class:`TextAblation` (``max_new_tokens`` defaults to 96 here).
    cache : str, Path or None
        A folder: each span's values go to their own file in it.
    batch_size, progress
        See :class:`~spexlearn.ablation.Ablation`.

    Attributes
    ----------
    answer_ : str
        The attributed answer.
    answer_segmentation_ : Segmentation
        Its sentences and their character spans.
    component_names : list of str
        The context's components.

    Examples
    --------
    >>> from spexlearn.ablation import AnswerAblation
    >>> cited = AnswerAblation(text="Nils was born in Bergen. He liked fish.",
    ...                        template="{text}\\nWhere was Nils born?")  # doctest: +SKIP
    >>> [span.describe()["value"] for span in cited.spans()]  # doctest: +SKIP
    ["log p('Nils was born in Bergen.' | context)"]

    References
    ----------
    .. [1] Cohen-Wang et al., "ContextCite: Attributing Model Generation to Context",
       NeurIPS 2024.
    """

    def __init__(self, lm=None, text="", *, unit="sentence", template="{text}", answer=None,
                 output="log_prob", masking="remove", placeholder=_PLACEHOLDER,
                 max_new_tokens=96, cache=None, batch_size=32, progress=True):
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r} is unknown; choose one of {OUTPUTS}.")
        if answer is not None and (not isinstance(answer, str) or not answer.strip()):
            raise ValueError("answer must be None (the model's own answer) or a non-empty "
                             f"string, got {answer!r}.")
        self._text = TextAblation(lm, text, unit=unit, template=template, target=answer,
                                  masking=masking, placeholder=placeholder,
                                  max_new_tokens=max_new_tokens, progress=False)
        answer_ids = list(self._text._targets[0])
        # Each answer token's character span in the answer (from the decoded prefixes,
        # so that a span's characters map to the very tokens that were scored).
        ends = [len(self.lm.decode(answer_ids[: k + 1])) for k in range(len(answer_ids))]
        self._finish(self.lm.decode(answer_ids), list(zip([0, *ends[:-1]], ends)), output,
                     cache, batch_size, progress)

    def _finish(self, answer: str, token_spans: list, output, cache, batch_size, progress):
        self.output = output
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.component_names = self._text.component_names
        self.segmentation = self._text.segmentation
        self._answer_ids = list(self._text._targets[0])
        self.answer_ = answer
        self.answer_segmentation_ = Segmentation.of(answer, "sentence")
        self._token_spans = [(int(a), int(b)) for a, b in token_spans]
        self._per_token: dict[bytes, np.ndarray] = {}

    def record(self) -> dict:
        """What a later run needs to serve the spans' values from their cache without the
        model: :meth:`TextAblation.record` of the context's ablation, the answer and its
        tokens' character spans. Plain JSON; see :meth:`deferred`."""
        return {**self._text.record(), "answer": self.answer_,
                "token_spans": [list(span) for span in self._token_spans]}

    @classmethod
    def deferred(cls, load, record: dict, text="", *, unit="sentence", template="{text}",
                 answer=None, output="log_prob", masking="remove", placeholder=_PLACEHOLDER,
                 max_new_tokens=96, cache=None, batch_size=32, progress=True
                 ) -> AnswerAblation:
        """An AnswerAblation that loads its model (``load()``) only when a span's value is
        missing from ``cache``.

        ``record`` is what :meth:`record` returned for the same settings and model (keyed
        by both by the caller, as for :meth:`TextAblation.deferred`): it gives the
        answer, so that neither the answer nor the values found in the cache need the
        model. Once loaded, the model must give the recorded cache key again, else
        :class:`~spexlearn.ablation.RecordMismatchError` is raised before any value is
        computed.
        """
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r} is unknown; choose one of {OUTPUTS}.")
        self = cls.__new__(cls)
        self._text = TextAblation.deferred(
            load, record, text, target=answer, max_new_tokens=max_new_tokens, unit=unit,
            template=template, masking=masking, placeholder=placeholder, progress=False)
        self._finish(record["answer"], record["token_spans"], output, cache, batch_size,
                     progress)
        return self

    @property
    def lm(self):
        """The model (until a deferred one is needed: its name and how to load it)."""
        return self._text.lm

    @property
    def n_components(self) -> int:
        return len(self.component_names)

    @property
    def n_queried_(self) -> int:
        """Masks the model has scored (each once, for every span)."""
        return len(self._per_token)

    def __repr__(self) -> str:
        return (f"AnswerAblation(n_components={self.n_components}, "
                f"answer={self.answer_[:40]!r}{'...' if len(self.answer_) > 40 else ''}, "
                f"output={self.output!r}, cache={self.cache!r})")

    def describe(self) -> dict[str, str]:
        """The model and the prompt, for reports (each span adds its value)."""
        return {"model": str(self.lm.name), "prompt": self._text.template}

    def spans(self) -> list[SpanAblation]:
        """One value function per sentence of the answer, in order."""
        return [self.span(i) for i in range(len(self.answer_segmentation_))]

    def span(self, which) -> SpanAblation:
        """The value function of one span of the answer: a sentence's index, or a
        character range ``(start, end)`` of ``answer_``."""
        if isinstance(which, (int, np.integer)):
            count = len(self.answer_segmentation_)
            if not 0 <= which < count:
                raise IndexError(f"the answer has {count} sentences; span {which} is not "
                                 "one of them.")
            segment = self.answer_segmentation_.segments[int(which)]
            start, end = segment.start, segment.end
        else:
            start, end = (int(x) for x in which)
            if not 0 <= start < end <= len(self.answer_):
                raise ValueError(f"the span {which!r} is not a non-empty character range "
                                 f"of the answer (0 to {len(self.answer_)}).")
        tokens = [k for k, (a, b) in enumerate(self._token_spans) if a < end and b > start]
        if not tokens:
            raise ValueError(f"the span {which!r} covers no token of the answer.")
        return SpanAblation(self, (tokens[0], tokens[-1] + 1), self.answer_[start:end])

    # ------------------------------------------------------------ shared
    def _token_values(self, masks: np.ndarray) -> np.ndarray:
        """Per mask, the answer tokens' log-probabilities: computed once for every span."""
        keys = [bytes(k) for k in row_keys(masks)]
        missing = [i for i, key in enumerate(keys) if key not in self._per_token]
        if missing:
            rows = self._text._scored(masks[missing], lambda prompts, prefix_length: (
                self.lm.token_logprobs(prompts, self._answer_ids, prefix_length=prefix_length)))
            for i, row in zip(missing, rows):
                self._per_token[keys[i]] = row
        return np.array([self._per_token[key] for key in keys])


class SpanAblation(Ablation):
    """The value of one span of an :class:`AnswerAblation`'s answer under ablation of the
    context (made by :meth:`AnswerAblation.span`; its queries are shared with the other
    spans of the same answer)."""

    def __init__(self, parent: AnswerAblation, tokens: tuple[int, int], text: str):
        cache = parent.cache
        super().__init__(cache=None, batch_size=parent.batch_size, progress=parent.progress)
        self.parent = parent
        self.tokens = tokens
        self.text = text
        self.component_names = parent.component_names
        self.segmentation = parent.segmentation
        if cache is not None:
            Path(cache).mkdir(parents=True, exist_ok=True)
            self.cache = Path(cache) / f"{self.fingerprint()}.cache"

    def _repr_settings(self) -> dict[str, object]:
        return {"span": self.text, "output": self.parent.output}

    def describe(self) -> dict[str, str]:
        what = "log p" if self.parent.output == "log_prob" else "logit p"
        return {**self.parent.describe(), "value": f"{what}({self.text!r} | context)"}

    def _fingerprint(self) -> dict:
        # The context's cache key, not its settings: a deferred model's are not at hand.
        return {"kind": "answer span", "context": self.parent._text.fingerprint(),
                "tokens": list(self.tokens), "output": self.parent.output}

    def _sort_key(self, masks: np.ndarray) -> np.ndarray:
        return self.parent._text._sort_key(masks)

    def _prepare(self) -> None:
        # A deferred model loads (and is checked) before any batch: a model other than
        # the recorded one is then refused as such, not as a failed batch.
        self.parent._text._prepare()

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        start, end = self.tokens
        log_p = self.parent._token_values(masks)[:, start:end].sum(axis=1)
        if self.parent.output == "log_prob":
            return log_p
        # log p - log(1 - p), with 1 - p kept from rounding to 0 for p near 1.
        return log_p - np.log(np.maximum(-np.expm1(log_p), 1e-300))
