"""Split text into components (words, sentences, paragraphs) and rebuild it from a mask.

Every component keeps its character span in the original text, so an ablated text is the
original with some spans removed (or replaced by a placeholder) and nothing else changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["UNITS", "Segment", "Segmentation", "rebuild", "segment", "unique_names"]

UNITS = ("word", "sentence", "paragraph")

# A sentence ends at . ! ? (and closing quotes or brackets) before whitespace, unless the
# word before the dot is a common abbreviation or a single letter (an initial).
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf al fig no vol approx dept inc ltd co "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k".split()
)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Segment:
    """One component of a text: its string and its character span ``[start, end)``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Segmentation:
    """An input split into components, each with its span: what a value function over
    the parts of one input tells the report and the plots, so that they show the input
    itself with each component in place.

    Parameters
    ----------
    source : str
        The input the spans index into.
    segments : tuple of Segment
        One per component, in component order.

    Examples
    --------
    >>> parts = Segmentation.of("not bad, not bad", "word")
    >>> parts.names
    ['not', 'bad,', 'not#2', 'bad']
    >>> parts.rebuild([1, 0, 1, 1])
    'not not bad'
    """

    source: str
    segments: tuple[Segment, ...]

    @classmethod
    def of(cls, text: str, unit: str = "word") -> Segmentation:
        """``text`` split by :func:`segment`."""
        return cls(text, tuple(segment(text, unit)))

    @property
    def names(self) -> list[str]:
        """The components' texts, a repeated one numbered from its second occurrence."""
        return unique_names([part.text for part in self.segments])

    def __len__(self) -> int:
        return len(self.segments)

    def rebuild(self, mask, *, placeholder: str | None = None) -> str:
        """The source with the ablated components removed or replaced (see :func:`rebuild`)."""
        return rebuild(self.source, list(self.segments), mask, placeholder=placeholder)


def unique_names(texts: list[str]) -> list[str]:
    """``texts`` with each repeat numbered: ``['the', 'cat', 'the#2']``."""
    seen: dict[str, int] = {}
    names = []
    for text in texts:
        seen[text] = seen.get(text, 0) + 1
        names.append(text if seen[text] == 1 else f"{text}#{seen[text]}")
    return names


def segment(text: str, unit: str = "word") -> list[Segment]:
    """Split ``text`` into components with their character spans.

    Parameters
    ----------
    text : str
        The text to split. Must contain something other than whitespace.
    unit : {"word", "sentence", "paragraph"}
        "word": runs of non-space characters (punctuation stays with its word).
        "sentence": split after ``.``, ``!`` or ``?`` followed by a space, except after
        common abbreviations and initials. "paragraph": split at blank lines.

    Returns
    -------
    list of Segment
        In text order; spans never overlap and cover every non-space character.

    Examples
    --------
    >>> [s.text for s in segment("Dr. Smith arrived. He sat down!", "sentence")]
    ['Dr. Smith arrived.', 'He sat down!']
    >>> segment("to be", "word")
    [Segment(text='to', start=0, end=2), Segment(text='be', start=3, end=5)]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("the text is empty (or only whitespace): there is nothing to split.")
    if unit == "word":
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    elif unit == "sentence":
        spans = _sentence_spans(text)
    elif unit == "paragraph":
        spans = _paragraph_spans(text)
    else:
        raise ValueError(f"unit={unit!r} is unknown; choose one of {UNITS}.")
    return [Segment(text[a:b], a, b) for a, b in spans]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, end in _paragraph_spans(text):
        begin = start
        for match in _SENTENCE_END.finditer(text, start, end):
            if match.group().startswith(".") and _is_abbreviation(text, begin, match.start()):
                continue
            spans.append(_strip(text, begin, match.end()))
            begin = match.end()
        if text[begin:end].strip():
            spans.append(_strip(text, begin, end))
    return spans


def _is_abbreviation(text: str, begin: int, dot: int) -> bool:
    words = text[begin:dot].split()
    if not words:
        return False
    word = words[-1].lower().lstrip("(\"'“‘")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, begin = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        if text[begin : match.start()].strip():
            spans.append(_strip(text, begin, match.start()))
        begin = match.end()
    if text[begin:].strip():
        spans.append(_strip(text, begin, len(text)))
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    return start + left, start + right


def rebuild(
    text: str, segments: list[Segment], mask, *, placeholder: str | None = None
) -> str:
    """The text with the ablated components (mask 0) removed or replaced.

    Parameters
    ----------
    text : str
        The original text the segments were taken from.
    segments : list of Segment
    mask : array-like of shape (len(segments),)
        1 = keep, 0 = ablate.
    placeholder : str or None
        None: an ablated component disappears together with the space before it.
        A string (e.g. ``"..."`` or a tokenizer's unknown token): it stands in for each
        ablated component.

    Examples
    --------
    >>> text = "The movie was not good."
    >>> parts = segment(text)
    >>> rebuild(text, parts, [1, 1, 1, 0, 1])
    'The movie was good.'
    >>> rebuild(text, parts, [1, 0, 1, 1, 1], placeholder="___")
    'The ___ was not good.'
    """
    mask = np.asarray(mask).reshape(-1)
    if mask.shape[0] != len(segments):
        raise ValueError(
            f"the mask has {mask.shape[0]} entries but the text has {len(segments)} "
            "components; give one entry per component."
        )
    if not segments:
        return text
    pieces = [text[: segments[0].start]]
    previous_end = segments[0].start
    for keep, part in zip(mask, segments, strict=True):
        gap = text[previous_end : part.start]
        previous_end = part.end
        shown = part.text if keep else placeholder
        if shown is None:
            continue
        # The first shown component follows the leading text directly.
        pieces.append((gap if len(pieces) > 1 else "") + shown)
    pieces.append(text[segments[-1].end :])
    return "".join(pieces)
