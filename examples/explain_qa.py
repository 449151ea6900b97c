"""Multi-hop question answering: which sentences of a context, together, carry the answer?

The embedded SmolLM2-135M-Instruct reads 12 sentences about Anna and answers where she
lives today. Answering takes two hops ("Anna lives in Lyon" and "Lyon is in France"), so
the sentences should matter jointly. The value of a mask is the log-probability of the
model's own answer to the full context with only the kept sentences in the prompt.
ProxySPEX spends 1,000 queries; the strongest Möbius interactions show which sentences act
together. (A 135M model may not reason the way a person would: the interactions say how
it does.) ``benchmarks/acceptance_lm.py`` checks this explanation against the exact
spectrum from all 4,096 masks.

Run: python examples/explain_qa.py   (about 3 minutes on 2 CPU cores)
"""

import os
import time

import numpy as np

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import TextAblation
from spexlearn.lm import load_default_lm
from spexlearn.metrics import faithfulness

BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "1000"))
CONTEXT = (
    "Anna Berg grew up in a small fishing village. "
    "The village lies on the coast of Norway. "
    "As a child, Anna loved drawing boats. "
    "Her older brother Lars became a sailor. "
    "Anna studied architecture in Oslo. "
    "After her studies she moved to Lyon. "
    "Lyon is a city in France. "
    "In Lyon she designed a famous bridge. "
    "The bridge crosses the river Rhône. "
    "Lars visited her there every summer. "
    "He preferred the mountains to the city. "
    "Anna still lives in Lyon today."
)
TEMPLATE = "{text}\nQuestion: In which country does Anna live today? Answer briefly."


def main() -> None:
    lm = load_default_lm()
    value = TextAblation(lm, CONTEXT, unit="sentence", template=TEMPLATE)
    print(f"{value.n_components} sentences; the model's answer: {value.target_text_!r}")

    start = time.perf_counter()
    explainer = ProxySPEXExplainer(value, budget=BUDGET, max_order=3, random_state=0).fit()
    print(f"ProxySPEX: {explainer.n_queries_} queries in {time.perf_counter() - start:.0f} s")
    held_out = np.random.default_rng(1).integers(0, 2, size=(100, value.n_components))
    print(f"faithfulness R² on 100 held-out masks: "
          f"{faithfulness(explainer, held_out, value(held_out)):.3f}\n")
    strongest = explainer.interactions(index="mobius", order=3)
    for subset, coefficient in strongest.top(8):
        sentences = " + ".join(f"[{i}] {value.component_names[i]}" for i in subset)
        print(f"{coefficient:+7.3f}  {sentences}")


if __name__ == "__main__":
    main()
