"""Span attribution of an answer: every sentence's value function from shared queries,
checked against a stand-in model whose per-token log-probabilities are known."""

import json

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import AnswerAblation, RecordMismatchError
from spexlearn.tests._fake_lm import AnswerLM, Loader, StableAnswerLM

CONTEXT = "Ada had a brother named Nils. Nils was born in Bergen. The sea is cold."
ANSWER = "Nils designed it. He was born in Bergen."
ALL_MASKS = np.array([[(m >> j) & 1 for j in range(3)] for m in range(8)])


def _cited(lm=None, **kwargs):
    return AnswerAblation(lm or AnswerLM(), CONTEXT, template="{text} Who?",
                          answer=kwargs.pop("answer", ANSWER), progress=False, **kwargs)


def test_each_sentence_gets_its_known_interactions_from_one_pass_per_mask():
    lm = AnswerLM()
    cited = _cited(lm)
    first, second = cited.spans()
    assert [first.text, second.text] == ["Nils designed it.", "He was born in Bergen."]
    terms = []
    for span in (first, second):
        explainer = ProxySPEXExplainer(span, budget=8, max_order=2, random_state=0).fit()
        terms.append(explainer.interactions(index="mobius").terms())
    # "Nils" comes from either sentence that names him: each alone +1.5, both no more.
    assert terms[0][(0,)] == pytest.approx(1.5) and terms[0][(1,)] == pytest.approx(1.5)
    assert terms[0][(0, 1)] == pytest.approx(-1.5)
    # "Bergen." needs the brother and the birthplace together.
    assert terms[1][(0,)] == pytest.approx(1) and terms[1][(1,)] == pytest.approx(1)
    assert terms[1][(0, 1)] == pytest.approx(2) and abs(terms[1].get((2,), 0)) < 1e-9
    # Eight masks, each scored once for both sentences.
    assert lm.n_scored == 8 and cited.n_queried_ == 8


def test_a_character_span_and_the_logit_of_its_probability():
    cited = _cited(output="logit_prob")
    start = ANSWER.index("Bergen.")
    span = cited.span((start, start + 3))  # part of a token takes the whole token
    log_p = -4 + np.array([0, 1, 1])  # neither, brother, Bergen
    masks = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    values = span(masks)
    np.testing.assert_allclose(values[:3], log_p - np.log(-np.expm1(log_p)))
    # Both: p = 1, whose logit stays finite (1 - p held at 1e-300), not infinite.
    assert np.isfinite(values[3]) and values[3] > 600
    assert span.text == "Ber" and span.describe()["value"] == "logit p('Ber' | context)"


def test_the_spans_values_persist_in_a_cache_folder(tmp_path):
    lm = AnswerLM()
    for span in _cited(lm, cache=tmp_path).spans():
        span(ALL_MASKS)
    assert lm.n_scored == 8 and len(list(tmp_path.glob("*.cache"))) == 2
    again = AnswerLM()
    values = [span(ALL_MASKS) for span in _cited(again, cache=tmp_path).spans()]
    assert again.n_scored == 0 and values[1][ALL_MASKS.tolist().index([1, 1, 0])] == -0.5 * 4


def test_bad_spans_and_settings_are_refused_with_the_fix():
    cited = _cited()
    with pytest.raises(IndexError, match="the answer has 2 sentences"):
        cited.span(2)
    with pytest.raises(ValueError, match="not a non-empty character range"):
        cited.span((5, 5))
    with pytest.raises(ValueError, match="output='prob' is unknown"):
        _cited(output="prob")
    with pytest.raises(ValueError, match="non-empty string"):
        _cited(answer="  ")
    assert "answer='Nils designed it." in repr(cited)


def test_the_cite_command_lists_each_sentences_sources_and_pairs(tmp_path, monkeypatch,
                                                                  capsys):
    from spexlearn import _cli

    lm = AnswerLM()
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: lm)
    context = tmp_path / "context.txt"
    context.write_text(CONTEXT, encoding="utf-8")
    report = tmp_path / "cite.html"
    code = _cli.main(["cite", "--context", str(context), "--question", "Who?", "--answer",
                      ANSWER, "--budget", "8", "--json", "--quiet", "--report", str(report),
                      "--cache", str(tmp_path / "cache")])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    first, second = result["sentences"]
    assert [s["components"] for s in second["sources"][:2]] == [[0], [1]]
    assert second["pairs"][0]["components"] == [0, 1]
    assert second["pairs"][0]["value"] == pytest.approx(2)
    assert first["pairs"][0]["value"] == pytest.approx(-1.5)
    assert result["model_queries"] == 8 and lm.n_scored == 8
    page = report.read_text(encoding="utf-8")
    assert page.count('class="a"') == 2 and '"sentences"' in page
    assert "He was born in Bergen." in page
    # --cache keeps each sentence's values and the fitted surrogates.
    assert len(list((tmp_path / "cache").glob("*.cache"))) == 2
    assert (tmp_path / "cache" / "fits").is_dir()


def test_the_cite_command_refuses_a_missing_context(tmp_path, capsys):
    from spexlearn import _cli

    code = _cli.main(["cite", "--context", str(tmp_path / "nope.txt"), "--question", "Q?"])
    assert code == _cli.EXIT_USAGE
    assert "--context" in capsys.readouterr().err


def test_the_answer_and_its_spans_describe_themselves():
    cited = _cited()
    assert cited.describe() == {"model": "word-lm", "prompt": "{text} Who?"}
    assert cited.span(0).describe() == {
        "model": "word-lm", "prompt": "{text} Who?",
        "value": "log p('Nils designed it.' | context)"}


class RenamedAnswerLM(StableAnswerLM):
    name = "another-lm"


def test_a_deferred_answer_serves_cached_spans_without_the_model(tmp_path):
    settings = {"template": "{text} Who?", "answer": ANSWER, "progress": False,
                "cache": tmp_path}
    first = AnswerAblation(StableAnswerLM(), CONTEXT, **settings)
    expected = [span(ALL_MASKS) for span in AnswerAblation(StableAnswerLM(), CONTEXT,
                                                            **settings).spans()]
    load = Loader(StableAnswerLM())
    cited = AnswerAblation.deferred(load, first.record(), CONTEXT, **settings)
    assert cited.answer_ == first.answer_ and cited.lm.name == "word-lm"
    assert [s.fingerprint() for s in cited.spans()] == [s.fingerprint() for s in first.spans()]
    for span, values in zip(cited.spans(), expected):
        np.testing.assert_array_equal(span(ALL_MASKS[::-1]), values[::-1])
    assert load.calls == 0
    more = np.array([[1, 0, 1, 1]])  # 4 components: not yet scored by anyone
    with pytest.raises(ValueError, match="3 components"):
        cited.spans()[0](more)
    # A mask no earlier run scored: the model loads once, for every span.
    spans = AnswerAblation.deferred(load, first.record(), CONTEXT,
                                    **{**settings, "cache": tmp_path / "other"}).spans()
    fresh = [span(ALL_MASKS) for span in spans]
    assert load.calls == 1
    for values, again in zip(expected, fresh):
        np.testing.assert_array_equal(values, again)


def test_a_deferred_answer_refuses_another_model_before_any_value(tmp_path):
    settings = {"template": "{text} Who?", "answer": ANSWER, "progress": False}
    record = AnswerAblation(StableAnswerLM(), CONTEXT, **settings).record()
    cited = AnswerAblation.deferred(Loader(RenamedAnswerLM()), record, CONTEXT,
                                    **settings, cache=tmp_path)
    with pytest.raises(RecordMismatchError, match="another-lm"):
        cited.spans()[1](ALL_MASKS)


@pytest.mark.parametrize("answer", [["--answer", ANSWER], []], ids=["given", "own"])
def test_a_cached_cite_rerun_never_loads_the_model(tmp_path, monkeypatch, capsys, answer):
    from spexlearn import _cli

    model_file = tmp_path / "model.gguf"  # what the record is keyed by
    model_file.write_bytes(bytes(range(256)) * 64)
    context = tmp_path / "context.txt"
    context.write_text(CONTEXT, encoding="utf-8")
    args = ["cite", "--context", str(context), "--question", "Who?", *answer, "--budget",
            "8", "--json", "--model", str(model_file), "--cache", str(tmp_path / "cache")]
    loaded = []
    monkeypatch.setattr(_cli, "_load_model",
                        lambda path, device: loaded.append(path) or StableAnswerLM())
    assert _cli.main([*args, "--report", str(tmp_path / "1.html")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(loaded) == 1

    def never(path, device):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(_cli, "_load_model", never)
    assert _cli.main([*args, "--report", str(tmp_path / "2.html")]) == 0
    out = capsys.readouterr()
    again = json.loads(out.out)
    assert "the model's answer comes from the cache" in out.err
    assert first["model_queries"] == 8 and again["model_queries"] == 0
    same = {"seconds": 0, "report": "", "model_queries": 0}
    assert {**again, **same} == {**first, **same}
    assert (tmp_path / "2.html").read_text() == (tmp_path / "1.html").read_text()


def test_a_cite_record_of_another_model_starts_over(tmp_path, monkeypatch, capsys):
    from spexlearn import _cli

    model_file = tmp_path / "model.gguf"
    model_file.write_bytes(bytes(range(256)) * 64)
    context = tmp_path / "context.txt"
    context.write_text(CONTEXT, encoding="utf-8")
    args = ["cite", "--context", str(context), "--question", "Who?", "--answer", ANSWER,
            "--json", "--model", str(model_file), "--cache", str(tmp_path / "cache")]
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: StableAnswerLM())
    assert _cli.main([*args, "--budget", "5"]) == 0
    capsys.readouterr()
    # More masks than the cache holds: the model loads, and it is not the recorded one.
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: RenamedAnswerLM())
    assert _cli.main([*args, "--budget", "8"]) == 0
    out = capsys.readouterr()
    assert "belongs to another model: starting over" in out.err
    result = json.loads(out.out)
    assert result["model"] == "another-lm" and result["model_queries"] == 8
