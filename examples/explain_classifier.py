"""Which words drive a Hugging Face text classifier's label, alone and together.

``ClassifierAblation`` scores one class of any ``...ForSequenceClassification`` model on
the text rebuilt from the kept words (here the log-probability of "positive"), in padded
batches. Point ``MODEL`` at your own fine-tuned classifier's local folder
(``load_classifier`` never downloads, and never runs a folder's own code). So that this
example runs offline, it builds a tiny *random* BERT classifier in a temporary folder:
its explanation is exact (all 2^7 masks are queried) but says nothing about language.

Run: python examples/explain_classifier.py   (a few seconds)
"""

import os
import tempfile

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import ClassifierAblation
from spexlearn.lm import load_classifier

MODEL = os.environ.get("SPEXLEARN_CLASSIFIER")  # a local folder; None: a tiny random one
TEXT = "the plot was not bad at all"
BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "128"))


def tiny_random_classifier(folder: str) -> str:
    """A 2-layer BERT with a word-level tokenizer over the example's words, saved."""
    import tokenizers
    import torch
    import transformers

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(TEXT.split()))]
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=2,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        model, tokenizer = load_classifier(MODEL or tiny_random_classifier(folder))
        value = ClassifierAblation(model, tokenizer, TEXT, target="positive")
        explainer = ProxySPEXExplainer(value, budget=BUDGET, max_order=3,
                                       random_state=0).fit()
    print(f"log p('positive') with every word: {value([[1] * value.n_components])[0]:+.3f}")
    print(f"faithfulness R² {explainer.faithfulness_:.3f} (estimated from "
          f"{explainer.n_queries_} queries)")
    for subset, coefficient in explainer.interactions(index="mobius").top(6):
        if subset:
            words = " × ".join(value.component_names[i] for i in subset)
            print(f"  {coefficient:+.2e}  {words}")


if __name__ == "__main__":
    main()
