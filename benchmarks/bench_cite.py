"""Citing an answer's sources: spexlearn's AnswerAblation + ProxySPEX against ContextCite's
default (64 ablations, its Lasso) on the same model, context and answer.

The context, question and answer are those of ``examples/cite_answer.py``: 14 sentences;
the answer's first sentence ("The tower was designed by Nils Lindqvist.") needs two of
them, one naming Nils as the tower's designer and one giving his full name. For each
method: the model queries, the time, and where the two supporting sentences (and, for
spexlearn, their interaction) rank for that sentence.

ContextCite runs from ``context-cite`` (see ``benchmarks/speed_requirements.txt``)
with its own prompt template and loop; its sentence splitter needs NLTK data from the
network, so it gets the same sentences as spexlearn through a partitioner of its
interface.

Run: python benchmarks/bench_cite.py   (writes benchmarks/results/bench_cite.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from run import load_example

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = (64, 128, 256)


def spexlearn_rows(lm, example, supporting: list[int]) -> list[dict]:
    from spexlearn import ProxySPEXExplainer
    from spexlearn.ablation import AnswerAblation

    rows = []
    for budget in BUDGETS:
        start = time.perf_counter()
        cited = AnswerAblation(lm, example.CONTEXT, template=example.TEMPLATE,
                               answer=example.ANSWER, progress=False)
        explainers = [ProxySPEXExplainer(span, budget=budget, max_order=2,
                                         random_state=0).fit() for span in cited.spans()]
        seconds = time.perf_counter() - start
        ranked = [s for s, _ in explainers[0].interactions(index="mobius").top(10) if s]
        wanted = [(supporting[0],), (supporting[1],), tuple(supporting)]
        rows.append({"method": "spexlearn ProxySPEX (AnswerAblation)", "budget": budget,
                     "model_queries": cited.n_queried_, "seconds": round(seconds, 1),
                     "sentences_explained": len(explainers),
                     "ranks": [ranked.index(w) + 1 if w in ranked else None for w in wanted],
                     "faithfulness_estimate": round(explainers[0].faithfulness_, 3)})
    return rows


def contextcite_row(lm, example, supporting: list[int]) -> dict:
    _offline_nltk()
    from context_cite import ContextCiter
    from context_cite.context_partitioner import BaseContextPartitioner

    from spexlearn.segment import Segmentation

    class Sentences(BaseContextPartitioner):
        """spexlearn's sentences, through ContextCite's partitioner interface."""

        def __init__(self, context):
            super().__init__(context)
            self.parts = Segmentation.of(context, "sentence")

        @property
        def num_sources(self):
            return len(self.parts)

        def split_context(self):
            pass

        def get_source(self, index):
            return self.parts.segments[index].text

        def get_context(self, mask=None):
            return self.parts.rebuild(np.ones(len(self.parts)) if mask is None else mask)

    question = example.TEMPLATE.split("Question: ", 1)[1]
    start = time.perf_counter()
    lm.tokenizer.padding_side = "left"
    citer = ContextCiter(lm.model, lm.tokenizer, example.CONTEXT, question,
                         partitioner=Sentences(example.CONTEXT))
    _, prompt = citer._get_prompt_ids(return_prompt=True)
    citer._cache["output"] = prompt + example.ANSWER  # attribute the same answer
    first = example.ANSWER.split(". ")[0] + "."
    scores = citer.get_attributions(start_idx=0, end_idx=len(first), verbose=False)
    seconds = time.perf_counter() - start
    order = list(np.argsort(-np.abs(scores)))
    return {"method": "ContextCite 0.0.4 (defaults: 64 ablations, Lasso)", "budget": 64,
            "model_queries": 64, "seconds": round(seconds, 1), "sentences_explained": 1,
            "ranks": [order.index(i) + 1 for i in supporting] + [None],
            "note": "linear: no interaction term"}


def _offline_nltk() -> None:
    """context_cite asks NLTK to download data when imported: nothing here may reach the
    network, so the download is a no-op (its sentence splitter is not used)."""
    import nltk

    nltk.download = lambda *args, **kwargs: False


def main() -> None:
    from spexlearn.lm import load_default_lm

    example = load_example("cite_answer")
    lm = load_default_lm()
    names = [s for s in example.CONTEXT.split(". ")]
    supporting = [9, 10]
    assert names[9].startswith("Ada Lindqvist's brother") and names[10].startswith("Nils")
    rows = spexlearn_rows(lm, example, supporting)
    try:
        rows.append(contextcite_row(lm, example, supporting))
    except ImportError as exc:
        print(f"ContextCite not installed ({exc})")
    print("ranks of [designer sentence, full-name sentence, their interaction] for "
          "'The tower was designed by Nils Lindqvist.'")
    for row in rows:
        print(f"  {row['method']:45s} budget {row['budget']:4d}  {row['model_queries']:4d} "
              f"queries  {row['seconds']:6.1f} s  ranks {row['ranks']}  "
              f"({row['sentences_explained']} answer sentences)")
    out = ROOT / "benchmarks" / "results" / "bench_cite.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
