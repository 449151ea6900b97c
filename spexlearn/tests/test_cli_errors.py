"""The command line's failures: one line naming the problem and the fix, and the
documented exit code (2: change the command; 1: the explanation failed; 130: Ctrl-C),
never a raw traceback. On a fake language model, except where torch itself is asked."""

import io
import subprocess
import sys

import numpy as np
import pytest

from spexlearn import _cli
from spexlearn._cli import main
from spexlearn.tests._fake_lm import WordLM, use_word_lm

TEXT = "the film was not bad and the end was wonderful"
LONG_TEXT = " ".join(f"word{i}" for i in range(73))


@pytest.fixture
def lm(monkeypatch):
    return use_word_lm(monkeypatch)


def run(args, capsys):
    """Exit code, stdout and stderr of ``spexlearn explain ARGS``, argparse's exits too."""
    try:
        code = main(["explain", *args])
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err):
    """One line of error (after argparse's usage lines, for a bad argument)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if lines[0].startswith("usage:"):
        lines = [line for line in lines if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([TEXT, "--target", ""], "the answer is empty"),
        ([TEXT, "--target", "positive", "--versus", " "], "the answer is empty"),
        ([TEXT, "--budget", "5"], "budget=5 is too small"),
        ([TEXT, "--budget", "5", "--method", "greedy"], "budget=5"),
        ([TEXT, "--budget", "20", "--method", "spex"], "smallest SPEX design"),
        ([TEXT, "--seed", "-1"], "from 0 to 4294967295"),
        ([TEXT, "--seed", str(2**32)], "from 0 to 4294967295"),
        ([TEXT, "--holdout", "-1"], "0 or a positive integer"),
        ([LONG_TEXT, "--budget", str(10**12)], "of memory is available"),
    ],
)
def test_bad_settings_exit_2_with_the_fix(lm, capsys, args, message):
    code, out, err = run([*args, "--quiet"], capsys)
    assert code == 2 and out == ""
    assert message in err
    assert_one_line_error(err)


def test_a_renamed_option_names_its_new_spelling(capsys):
    code, _, err = run([TEXT, "--mask", "token"], capsys)
    assert code == 2
    assert "--mask is now spelled --masking: pass --masking token" in err


def test_not_a_number_says_what_to_give(capsys):
    code, _, err = run([TEXT, "--budget", "abc"], capsys)
    assert code == 2
    assert "argument --budget: 'abc' is not a whole number; give a positive integer such " \
           "as 1000" in err
    assert "invalid" not in err and "_int" not in err


def test_text_longer_than_the_context_exits_2(lm, capsys):
    lm.context_length = 5  # the fake's own check: "too long"
    code, out, err = run([TEXT, "--quiet"], capsys)
    assert code == 2 and out == "" and "too long" in err
    assert_one_line_error(err)


def test_text_that_is_not_utf8_exits_2(lm, capsys, monkeypatch, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café au lait".encode("latin-1"))
    code, _, err = run(["--file", str(path), "--quiet"], capsys)
    assert code == 2 and f"--file {path} is not UTF-8 text (byte 0xe9" in err
    assert "iconv" in err
    assert_one_line_error(err)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    code, _, err = run(["--quiet"], capsys)
    assert code == 2 and "standard input is not UTF-8 text" in err


def test_device_without_cuda_is_refused_before_the_model_loads(monkeypatch, capsys):
    torch = pytest.importorskip("torch")

    def load(path, device):
        raise AssertionError("the model must not load for a device that is not there")

    monkeypatch.setattr(_cli, "_load_model", load)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run([TEXT, "--device", "cuda", "--quiet"], capsys)
    assert code == 2 and out == ""
    assert "--device cuda: CUDA is not available" in err and "--device cpu" in err
    assert_one_line_error(err)
    code, _, err = run([TEXT, "--device", "gpu", "--quiet"], capsys)
    assert code == 2 and "'gpu' is not a torch device" in err


def test_an_available_cuda_device_passes_and_a_missing_index_is_refused(lm, monkeypatch,
                                                                          capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, _, err = run([TEXT, "--device", "cuda:3", "--quiet"], capsys)
    assert code == 2 and "--device cuda:3: this machine has 1 CUDA device(s), cuda:0 to " \
                         "cuda:0; pick one of them." in err
    code, _, err = run([TEXT, "--device", "cuda:0", "--budget", "100", "--quiet"], capsys)
    assert code == 0, err  # the (fake) model loads on it


@pytest.mark.parametrize(("content", "error"), [(b"PK\x03\x04 cut", "BadZipFile"),
                                                (b"", "EOFError")])
def test_corrupt_cached_file_is_named(lm, capsys, monkeypatch, tmp_path, content, error):
    path = tmp_path / "v1-m7-t3.npz"
    path.write_bytes(content)

    def read_a_cached_code(value, args):
        # What SPEX's code cache does; a corrupt file raised out of the explainer.
        with np.load(path, allow_pickle=False) as data:
            return dict(data)

    monkeypatch.setattr(_cli, "_run_explainer", read_a_cached_code)
    code, out, err = run([TEXT, "--quiet"], capsys)
    assert code == 1 and out == ""
    assert f"the cached file {path} is corrupt or cut short ({error}" in err
    assert "delete it and rerun" in err
    assert_one_line_error(err)


class HugeLM(WordLM):
    """Values near 1e160, whose squares overflow a float."""

    def logprobs(self, prompts, targets, *, prefix_length=0):
        return 1e160 * super().logprobs(prompts, targets, prefix_length=prefix_length)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_values_fit_and_print_as_numbers(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: HugeLM())
    # Three words and 4 of the 8 masks: the cross-validation's squared errors overflowed
    # (an IndexError) before values beyond 1e100 were fitted in units of a power of two.
    code, out, err = run(["not bad wonderful", "--target", "positive", "--budget", "4",
                          "--quiet"], capsys)
    assert code == 0, err
    assert "e+160" in out  # the values print as numbers, not 160 digits


def test_huge_values_print_in_scientific_notation(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: HugeLM())
    code, out, err = run(["not bad wonderful", "--target", "positive", "--quiet"], capsys)
    assert code == 0, err
    assert "value with every word kept: +2.5e+160" in out
    assert "+2e+160       2  'not' × 'bad'" in out
    assert max(len(line) for line in out.splitlines()) < 200


def test_an_end_of_file_from_elsewhere_is_not_called_a_corrupt_cache(lm, capsys,
                                                                    monkeypatch):
    def reads_past_the_end(value, args):
        raise EOFError("EOF when reading a line")

    monkeypatch.setattr(_cli, "_run_explainer", reads_past_the_end)
    code, _, err = run([TEXT, "--quiet"], capsys)
    assert code == 1 and "unexpected EOFError: EOF when reading a line" in err
    assert "cached" not in err


def test_an_unexpected_error_asks_for_a_report(lm, capsys, monkeypatch):
    def broken(value, args):
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(_cli, "_run_explainer", broken)
    code, out, err = run([TEXT, "--quiet"], capsys)
    assert code == 1 and out == ""
    assert "unexpected IndexError: index 0 is out of bounds" in err
    assert "bug in spexlearn" in err and "--traceback" in err
    assert_one_line_error(err)


def test_memory_running_out_mid_fit_is_one_line(lm, capsys, monkeypatch):
    def out_of_memory(value, args):
        value(np.ones((1, value.n_components)))  # a query first: the fit itself ran out
        raise MemoryError("Unable to allocate 9.1 GiB")

    monkeypatch.setattr(_cli, "_run_explainer", out_of_memory)
    code, _, err = run([TEXT, "--quiet"], capsys)
    assert code == 1 and "out of memory (Unable to allocate 9.1 GiB): lower --budget" in err


def test_interrupt_while_importing_exits_130(monkeypatch, capsys):
    def importing(parser):
        raise KeyboardInterrupt  # as if Ctrl-C came while numpy or the explainers load

    monkeypatch.setattr(_cli, "_add_explain_arguments", importing)
    code, out, err = run([TEXT], capsys)
    assert code == 130 and out == ""
    assert err.strip() == "spexlearn: interrupted"


def test_the_command_line_starts_before_the_heavy_imports():
    """Nothing heavy loads before ``main`` runs, so a Ctrl-C in the first second lands
    in its handler (``spexlearn: interrupted``, 130), not in a raw traceback."""
    heavy = ("numpy", "scipy", "sklearn", "torch", "transformers", "lightgbm")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, spexlearn._cli\n"
         f"print(sorted(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_quiet_silences_the_model_loading_bars(monkeypatch, capsys):
    from tqdm import tqdm

    def load_with_bars(path, device):
        # As transformers converts a GGUF file and loads weights.
        for _ in tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
            pass
        return WordLM()

    monkeypatch.setattr(_cli, "_load_model", load_with_bars)
    code, _, err = run([TEXT, "--budget", "100", "--quiet"], capsys)
    assert code == 0 and err == ""
    code, _, err = run([TEXT, "--budget", "100"], capsys)
    assert code == 0 and "Converting and de-quantizing" in err


def test_warnings_are_one_line_each(lm, capsys):
    code, _, err = run([TEXT, "--method", "spex", "--budget", "300", "--max-order", "3", "--quiet"],
                       capsys)
    assert code == 0
    assert "spexlearn: warning: SPEXExplainer: budget=300 holds only a design" in err
    assert "UserWarning" not in err and "_cli.py" not in err
    assert all(line.startswith("spexlearn: warning: ") for line in err.splitlines())


def test_json_is_strict_where_a_number_is_not_finite():
    import json

    import numpy as np

    from spexlearn._cli import _json_text

    text = _json_text({"faithfulness_estimate": float("nan"), "r2": np.float64(np.inf),
                       "rows": [{"value": np.float32(1.5)}], "target": ("a", "b")})
    assert json.loads(text) == {"faithfulness_estimate": None, "r2": None,
                                "rows": [{"value": 1.5}], "target": ["a", "b"]}
    assert "NaN" not in text and "Infinity" not in text


def test_two_words_are_explained_exactly_not_as_no_interaction(lm, capsys):
    # Four masks and a tree proxy that cannot split them printed "(no interaction found)".
    code, out, err = run(["not bad", "--target", "positive", "--quiet"], capsys)
    assert code == 0, err
    assert "no interaction found" not in out
    assert "exact: every one of the 2^2 = 4 masks was queried" in out
    assert "'not' × 'bad'" in out or "'bad'" in out
