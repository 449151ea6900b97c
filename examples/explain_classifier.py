"""Which words drive a Hugging Face text classifier's label, alone and together.

``ClassifierAblation`` scores one class of any ``...ForSequenceClassification`` model on
the text rebuilt from the kept words (here the log-probability of "positive"), in padded
batches. Point ``MODEL`` at your own fine-tuned classifier's local folder
(``load_classifier`` never downloads, and never runs a folder's own code). So that this
example runs offline, it builds a tiny *random* BERT classifier in a temporary folder:
its explanation is exact (all 2^7 masks are queried) but says nothing about language
(``spexlearn.datasets.make_random_classifier``).

Run: python examples/explain_classifier.py   (a few seconds)
"""

import os
import tempfile

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import ClassifierAblation
from spexlearn.datasets import make_random_classifier
from spexlearn.lm import load_classifier

MODEL = os.environ.get("SPEXLEARN_CLASSIFIER")  # a local folder; None: a tiny random one
TEXT = "the plot was not bad at all"
BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "128"))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = MODEL or make_random_classifier(folder, TEXT.split())
        model, tokenizer = load_classifier(source)
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
