"""A language model stand-in whose answer log-probabilities are a known function."""

import zlib

import numpy as np


class WordLM:
    """Whitespace tokens; log p("positive") = 1.5 [wonderful] - [bad] + 2 [not][bad]."""

    name = "word-lm"
    context_length = 10_000

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.n_scored = 0

    def encode(self, text):
        return [self.vocab.setdefault(word, len(self.vocab)) for word in text.split()]

    def prompt_ids(self, user_text):
        return self.encode(user_text)

    def generate(self, user_text, max_new_tokens=48):
        return "positive", self.encode("positive")

    def head_layout(self):  # for a test that gives it a transformers model
        from spexlearn.lm import head_layout

        return head_layout(self.model)

    def check_length(self, n_tokens):
        if n_tokens > self.context_length:
            raise ValueError("too long")

    def logprobs(self, prompts, targets, *, prefix_length=0):
        words = {w: i for w, i in self.vocab.items()}
        out = np.zeros((len(prompts), len(targets)))
        for r, prompt in enumerate(prompts):
            has = {w: float(words[w] in prompt) if w in words else 0.0
                   for w in ("wonderful", "bad", "not")}
            positive = 1.5 * has["wonderful"] - has["bad"] + 2 * has["not"] * has["bad"]
            for c, target in enumerate(targets):
                out[r, c] = positive if target == self.encode("positive") else 0.0
        self.n_scored += len(prompts)
        return out


class StableLM(WordLM):
    """A WordLM whose token ids do not depend on what it encoded before, as a real
    tokenizer's: each loaded copy gives the same ids."""

    def encode(self, text):
        return [self.vocab.setdefault(word, zlib.crc32(word.encode())) for word in text.split()]


def use_word_lm(monkeypatch) -> WordLM:
    """Make the command line load a fresh :class:`WordLM` instead of the real model."""
    from spexlearn import _cli

    model = WordLM()
    monkeypatch.setattr(_cli, "_load_model", lambda path, device: model)
    return model


def tiny_llama():
    """A random Llama of 2 layers x 2 heads (seed 0), for head ablation without a model
    file; skips the test where torch or transformers is missing."""
    import pytest

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


class AnswerLM(WordLM):
    """Whitespace tokens and per-token answer log-probabilities with known interactions:
    ``Nils`` -1.5 unless the prompt holds "Nils"; ``Bergen.`` -4 + [Bergen] + [brother]
    + 2 [Bergen][brother]; every other token -0.5. ``n_scored`` counts prompts scored."""

    def decode(self, ids):
        words = {i: w for w, i in self.vocab.items()}
        return " ".join(words[i] for i in ids)

    def token_logprobs(self, prompts, target, *, prefix_length=0):
        words = {i: w for w, i in self.vocab.items()}
        out = np.full((len(prompts), len(target)), -0.5)
        for r, prompt in enumerate(prompts):
            seen = {words[i] for i in prompt}
            bergen, brother = "Bergen." in seen, "brother" in seen
            for k, token in enumerate(target):
                if words[token] == "Nils":
                    out[r, k] = -0.5 - 1.5 * ("Nils" not in seen and "Nils." not in seen)
                elif words[token] == "Bergen.":
                    out[r, k] = -4 + bergen + brother + 2 * bergen * brother
        self.n_scored += len(prompts)
        return out


class StableAnswerLM(AnswerLM, StableLM):
    """An AnswerLM whose token ids, as a real tokenizer's, do not depend on what it
    encoded before; its own answer is the one its log-probabilities are about."""

    def generate(self, user_text, max_new_tokens=48):
        answer = "Nils designed it. He was born in Bergen."
        return answer, self.encode(answer)


class Loader:
    """Loads a given model, counting the loads (for deferred value functions)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self):
        self.calls += 1
        return self.model
