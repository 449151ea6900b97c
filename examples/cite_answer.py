"""Cite the sources of each sentence of an answer: which sentences of a RAG context, alone
and together, support it.

A 14-sentence context about a museum; the answer "The tower was designed by Nils
Lindqvist. He was born in the town of Ålesund." needs two hops for its first sentence:
one context sentence says the founder's brother Nils designed the tower, another gives
his full name. ``AnswerAblation`` scores every answer token once per mask (one forward
pass), so both answer sentences are explained from the same 128 queries. The second
sentence's explainer queries nothing new. (Pass ``answer=None`` to attribute the
model's own answer instead; a 135M model rarely answers a two-hop question right.)

Run: python examples/cite_answer.py   (about 30 s on 2 CPU cores)
Or:  spexlearn cite --context FILE --question "..." --answer "..." --report cite.html
"""

import os
import time

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import AnswerAblation
from spexlearn.lm import load_default_lm

BUDGET = int(os.environ.get("SPEXLEARN_EXAMPLE_BUDGET", "128"))
CONTEXT = " ".join([
    "The Harbor Museum opened in 1921 on the east pier.",
    "Its founder, Ada Lindqvist, was a ship captain from Bergen.",
    "The museum's first exhibit was a whaling boat she had restored.",
    "In 1954 a fire destroyed the museum's west wing.",
    "The west wing was rebuilt in brick two years later.",
    "Today the museum holds over four thousand objects.",
    "Its most visited room shows maps of the northern sea routes.",
    "Entry is free on the first Sunday of every month.",
    "The café on the ground floor serves fish soup and rye bread.",
    "Ada Lindqvist's brother, Nils, designed the museum's lighthouse tower.",
    "Nils Lindqvist was born in the town of Ålesund.",
    "The tower's lamp can be seen twenty miles out at sea.",
    "School groups visit the museum every weekday morning.",
    "A new wing for modern ships is planned for 2030.",
])
TEMPLATE = ("Context: {text}\n\nQuestion: Who designed the museum's tower, and where was he "
            "born?")
ANSWER = "The tower was designed by Nils Lindqvist. He was born in the town of Ålesund."


def main() -> None:
    lm = load_default_lm()
    cited = AnswerAblation(lm, CONTEXT, template=TEMPLATE, answer=ANSWER)
    start = time.perf_counter()
    for span in cited.spans():
        explainer = ProxySPEXExplainer(span, budget=BUDGET, max_order=2,
                                       random_state=0).fit()
        print(f"\n{span.text!r}: faithfulness R² {explainer.faithfulness_:.3f} "
              "(estimated from the queries)")
        for subset, value in explainer.interactions(index="mobius").top(4):
            if subset:
                names = " × ".join(f"[{i}] {cited.component_names[i]}" for i in subset)
                print(f"  {value:+8.3f}  {names}")
    print(f"\n{cited.n_queried_} model queries for {len(cited.spans())} sentences in "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
