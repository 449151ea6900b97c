"""A model on a GPU gives the values it gives on the CPU (skipped without CUDA).

Runs on a tiny random Llama with a word-level tokenizer, so it needs no model file.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

from spexlearn.ablation import HeadAblation, TextAblation  # noqa: E402
from spexlearn.lm import LanguageModel  # noqa: E402

WORDS = "the film was not bad and end wonderful review positive negative is this or ? : a"


@pytest.fixture(scope="module")
def models_pair():
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({w: i + 3 for i, w in enumerate(WORDS.split())})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>",
                                        eos_token="<eos>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256)
    cpu_model = LlamaForCausalLM(config).eval()
    gpu_model = copy.deepcopy(cpu_model).to("cuda").eval()
    return (LanguageModel(cpu_model, tokenizer, chat=False),
            LanguageModel(gpu_model, tokenizer, chat=False))


def test_text_and_head_ablation_on_cuda_match_cpu(models_pair):
    cpu, gpu = models_pair
    assert gpu.device.type == "cuda"
    text = "the film was not bad and the end was wonderful"
    masks = np.random.default_rng(0).integers(0, 2, size=(40, 10))

    def text_values(lm):
        return TextAblation(lm, text, template="review : {text} ? positive or negative",
                            target=("positive", "negative"), progress=False)(masks)

    np.testing.assert_allclose(text_values(gpu), text_values(cpu), atol=1e-4)
    heads = np.random.default_rng(1).integers(0, 2, size=(30, 12))

    def head_values(lm):
        return HeadAblation(lm, ["the film was", "this is a"], ["not bad", "film"],
                            progress=False)(heads)

    np.testing.assert_allclose(head_values(gpu), head_values(cpu), atol=1e-4)
    assert gpu.generate("the film was", 4)[0] == cpu.generate("the film was", 4)[0]
