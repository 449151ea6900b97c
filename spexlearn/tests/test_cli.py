"""The command line, on a fake language model whose answer log-probs are a known function."""

import io
import json

import pytest

import spexlearn
from spexlearn import _cli
from spexlearn._cli import main
from spexlearn.tests._fake_lm import use_word_lm

TEXT = "the film was not bad and the end was wonderful"
QUESTION = "Positive or negative?"


@pytest.fixture
def lm(monkeypatch):
    return use_word_lm(monkeypatch)


def run(args, capsys):
    code = main(["explain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_output_recovers_the_known_interactions(lm, capsys):
    code, out, err = run([TEXT, "--question", QUESTION, "--target", "positive", "--versus",
                          "negative", "--budget", "300", "--json", "--top", "3"], capsys)
    assert code == 0, err
    result = json.loads(out)
    found = {tuple(row["text"]): row["value"] for row in result["interactions"]}
    assert found == pytest.approx({("not", "bad"): 2.0, ("wonderful",): 1.5, ("bad",): -1.0},
                                  abs=1e-6)
    assert result["faithfulness_r2"] == pytest.approx(1.0) and result["holdout"] == 100
    # The estimate from the queries alone, with how it was made.
    assert result["faithfulness_estimate"] == pytest.approx(1.0, abs=1e-6)
    assert "cross-validation" in result["faithfulness_estimate_method"]
    assert result["surrogate"] in ("sparse", "screened")
    assert result["full_value"] == pytest.approx(2.5)  # 1.5 - 1 + 2 with every word kept
    assert result["target"] == ["positive", "negative"] and result["queries"] <= 300
    assert result["components"][6] == "the#2"
    # Everything needed to rerun and read it: settings, both ends, per-word Shapley values.
    assert (result["budget"], result["seed"], result["max_order"]) == (300, 0, 5)
    assert QUESTION in result["template"] and "{text}" in result["template"]
    assert result["spexlearn_version"] == spexlearn.__version__
    shapley = dict(zip(result["components"], result["shapley"], strict=True))
    assert shapley["wonderful"] == pytest.approx(1.5, abs=1e-6)
    assert shapley["not"] == pytest.approx(1.0, abs=1e-6)  # half of the pair's +2
    assert sum(result["shapley"]) == pytest.approx(result["full_value"] - result["empty_value"])


def test_table_explains_itself(lm, capsys):
    code, out, err = run([TEXT, "--question", QUESTION, "--target", "positive", "--versus",
                          "negative", "--budget", "300", "--holdout", "0"], capsys)
    assert code == 0, err
    # Each word's own effect first (what shap users look for), strongest first.
    assert "each word's own share of log p('positive') − log p('negative')" in out
    own = out.split("Shapley values")[1].split("rank")[0]
    rows = [line.split() for line in own.splitlines() if "│" in line]
    assert [row[:2] for row in rows[:2]] == [["'wonderful'", "+1.500"], ["'not'", "+1.000"]]
    # A bar scaled to the largest: the full 12 cells right for +1.5, 8 for +1.0.
    assert rows[0][2] == "│" + "█" * 12 and rows[1][2] == "│" + "█" * 8
    negative = [row for row in rows if row[1].startswith("-")]
    assert all(row[2].endswith("│") for row in negative)  # a negative share bars left
    # Then what the index means, what '#2' means, and the top interaction in words.
    assert "mobius: what the components add together beyond" in out
    assert "'the#2' is occurrence 2 of 'the' in the text: a repeated word is numbered" in out
    assert "keeping 'not' and 'bad' together adds 2.000 beyond what they add apart" in out


def test_table_names_the_components_and_the_model(lm, capsys):
    code, out, err = run([TEXT, "--question", QUESTION, "--budget", "300", "--method", "spex",
                          "--max-order", "3", "--index", "shapley", "--holdout", "0"], capsys)
    assert code == 0, err
    assert "word-lm" in out and "shapley" in out and "'wonderful'" in out
    # No fresh masks measured (--holdout 0), but the estimate from the queries is shown.
    assert "measured on" not in out
    assert "faithfulness R² 1.000 estimated from the queries" in out
    assert "queries" in err.splitlines()[-1] or "terms" in err


def test_greedy_finds_the_flipping_words(lm, capsys):
    code, out, err = run([TEXT, "--target", "positive", "--versus", "negative",
                          "--method", "greedy", "--json"], capsys)
    assert code == 0, err
    steps = json.loads(out)["interactions"]
    # 2.5 -> 0.5 without "not" (the largest drop) -> -1.0 without "wonderful": flipped.
    assert [step["text"] for step in steps] == [["not"], ["wonderful"]]
    assert [step["value"] for step in steps] == pytest.approx([0.5, -1.0])


def test_text_from_stdin_and_file(lm, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXT))
    code, out, _ = run(["--json", "--budget", "100", "--holdout", "0", "--quiet"], capsys)
    assert code == 0 and len(json.loads(out)["components"]) == 10
    path = tmp_path / "text.txt"
    path.write_text("not bad wonderful\n")
    code, out, err = run(["--file", str(path), "--json", "--budget", "20", "--quiet"], capsys)
    assert code == 0 and json.loads(out)["components"] == ["not", "bad", "wonderful"]
    assert err == ""


def test_cache_directory_makes_a_rerun_query_nothing(lm, capsys, tmp_path):
    args = [TEXT, "--budget", "150", "--cache", str(tmp_path / "c"), "--json", "--quiet"]
    assert run(args, capsys)[0] == 0
    first = lm.n_scored
    code, _, _ = run(args, capsys)
    assert code == 0 and lm.n_scored == first
    # One cache file (a lock file may lie beside it).
    assert len(list((tmp_path / "c").glob("*.cache"))) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the text is empty"),
        (["a b", "--template", "no placeholder"], "must contain {text}"),
        (["a b", "--versus", "negative"], "--versus needs --target"),
        (["--file", "/nonexistent/x.txt"], "no such file"),
        (["word"], "nothing to interact"),
        (["a b", "--file", "x"], "not both"),
    ],
)
def test_bad_input_exits_2_with_a_message(lm, capsys, args, message):
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("spexlearn: error:") and message in err


def test_bad_arguments_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "text", "--budget", "-3"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out
    assert main([]) == 2


def test_missing_model_exits_3(capsys, tmp_path):
    pytest.importorskip("transformers")
    code, _, err = run(["a b c", "--model", str(tmp_path / "missing")], capsys)
    assert code == 3 and "no model at" in err


@pytest.mark.parametrize("method", ["proxyspex", "spex"])
def test_every_mask_queried_is_called_exact_not_held_out(lm, capsys, method):
    # 10 words and a budget above their 2^10 = 1024 masks: every mask is queried, so no
    # mask is left to hold out and no "fresh" masks exist.
    args = [TEXT, "--question", QUESTION, "--budget", "2000", "--method", method]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert ("exact: every one of the 2^10 = 1024 masks was queried (none left to hold "
            "out); R² 1.000 over all of them") in out
    assert "fresh" not in out and "estimated" not in out
    code, out, _ = run([*args, "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["exact"] is True and result["queries"] == 1024
    assert "faithfulness_r2" not in result and "holdout" not in result
    # Below order 2 the exact transform leaves "not" x "bad" out, and says so.
    code, out, _ = run([*args, "--max-order", "1"], capsys)
    assert code == 0 and "R² 1.000" not in out
    assert "over all of them (the rest lies in terms above --max-order 1)" in out


def test_a_sample_of_the_masks_is_not_called_exact(lm, capsys):
    code, out, _ = run([TEXT, "--budget", "300", "--json", "--quiet"], capsys)
    result = json.loads(out)
    assert code == 0 and result["exact"] is False and result["holdout"] == 100


def test_constant_value_is_reported_not_crashed(lm, capsys, tmp_path):
    code, out, err = run(["one two three", "--quiet"], capsys)
    assert code == 1 and out == "" and "nothing to explain" in err


def test_interrupt_exits_130_and_says_how_to_resume(monkeypatch, capsys, tmp_path):
    def interrupted(path, device):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_load_model", interrupted)
    code, out, err = run([TEXT, "--cache", str(tmp_path)], capsys)
    assert code == 130 and out == ""
    assert "interrupted (rerun with the same --cache to resume)" in err


def test_the_silent_fit_is_announced(lm, capsys):
    code, _, err = run([TEXT, "--question", QUESTION, "--budget", "300", "--holdout", "0"],
                       capsys)
    assert code == 0, err
    assert "300 values in hand; fitting and cross-validating the surrogate..." in err
    # No --target: the answer the model writes first is announced too (it takes seconds).
    assert "the model writes its answer to the full text (at most 48 tokens)..." in err
    code, _, err = run([TEXT, "--question", QUESTION, "--budget", "300", "--quiet"], capsys)
    assert code == 0 and "fitting" not in err


def test_every_index_is_explained_under_the_table():
    from spexlearn._cli import _legend_lines
    from spexlearn.spectral import INDICES

    for index in INDICES:
        lines = _legend_lines({"index": index, "unit": "word", "target": "Paris",
                               "components": ["a", "b"], "interactions": []})
        text = " ".join(lines)
        assert text.startswith(f" {index}: ") and "user guide" not in text
        assert "in units of log p('Paris')." in text
