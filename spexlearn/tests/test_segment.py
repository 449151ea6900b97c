import itertools

import numpy as np
import pytest

from spexlearn.segment import Segment, rebuild, segment

TEXT = (
    "  Paris is the capital of France. Mr. Jones lives in Paris, i.e. in France! "
    "Does he? Yes.\n\nSecond paragraph here. It has two sentences."
)


def test_spans_point_into_the_text():
    for unit in ("word", "sentence", "paragraph"):
        parts = segment(TEXT, unit)
        assert all(TEXT[p.start : p.end] == p.text for p in parts)
        assert all(a.end <= b.start for a, b in itertools.pairwise(parts))
        covered = "".join(p.text for p in parts).replace(" ", "").replace("\n", "")
        assert covered == TEXT.replace(" ", "").replace("\n", "")


def test_sentences_respect_abbreviations_and_paragraphs():
    assert [p.text for p in segment(TEXT, "sentence")] == [
        "Paris is the capital of France.",
        "Mr. Jones lives in Paris, i.e. in France!",
        "Does he?",
        "Yes.",
        "Second paragraph here.",
        "It has two sentences.",
    ]
    assert [p.text for p in segment('He said "Stop." Then J. R. left.', "sentence")] == [
        'He said "Stop."',
        "Then J. R. left.",
    ]


def test_paragraphs_split_at_blank_lines():
    parts = segment(TEXT, "paragraph")
    assert len(parts) == 2 and parts[1].text.startswith("Second")


def test_rebuild_removes_or_replaces():
    words = segment(TEXT, "word")
    assert rebuild(TEXT, words, np.ones(len(words))) == TEXT
    sentences = segment(TEXT, "sentence")
    assert rebuild(TEXT, sentences, [0, 1, 0, 1, 1, 0]) == (
        "  Mr. Jones lives in Paris, i.e. in France! Yes.\n\nSecond paragraph here."
    )
    assert rebuild(TEXT, sentences, [0] * 6) == "  "
    text = "a b c"
    assert rebuild(text, segment(text), [0, 1, 0], placeholder="_") == "_ b _"


def test_rebuild_rejects_a_wrong_mask_length():
    with pytest.raises(ValueError, match="one entry per component"):
        rebuild("a b", segment("a b"), [1])


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_text_is_refused(text):
    with pytest.raises(ValueError, match="empty"):
        segment(text)


def test_bad_unit_and_type():
    with pytest.raises(ValueError, match="unit='token' is unknown"):
        segment("a b", "token")
    with pytest.raises(TypeError, match="must be a str"):
        segment(["a", "b"])
    assert Segment("a", 0, 1).end == 1


def test_segmentation_names_spans_and_rebuilds():
    from spexlearn.segment import Segmentation

    parts = Segmentation.of("the cat saw the dog", "word")
    assert parts.names == ["the", "cat", "saw", "the#2", "dog"] and len(parts) == 5
    assert [parts.source[s.start:s.end] for s in parts.segments] == parts.source.split()
    assert parts.rebuild([1, 0, 1, 1, 1]) == "the saw the dog"
    assert parts.rebuild([0, 1, 1, 1, 1], placeholder="_") == "_ cat saw the dog"


def test_value_functions_declare_what_reports_read():
    from spexlearn.ablation import DataAblation, TextAblation
    from spexlearn.segment import Segmentation
    from spexlearn.tests._fake_lm import WordLM

    text = TextAblation(WordLM(), "not bad at all", target=("positive", "negative"),
                        template="{text}?", progress=False)
    assert isinstance(text.segmentation, Segmentation)
    assert text.segmentation.names == text.component_names
    assert text.describe() == {"model": "word-lm", "value": "log p('positive') − log p('negative')",
                               "prompt": "{text}?"}
    # A value function with no input to show says so, and describes nothing by default.
    assert DataAblation.segmentation is None
