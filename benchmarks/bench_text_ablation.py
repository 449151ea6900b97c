"""TextAblation throughput against a naive loop, and the share of explain time outside the model.

Both score the same masks on the embedded SmolLM2-135M-Instruct (CPU):

- naive: one prompt at a time through the transformers model (the full prompt, all
  logits), as a first script would do it;
- spexlearn: ``TextAblation`` (length-sorted left-padded batches after a key-value cache of
  the shared prompt prefix).

Then ProxySPEX explains the same value function with ``--budget`` queries and the share of
its wall time spent outside the value function is reported.

Run: python benchmarks/bench_text_ablation.py [--masks 64] [--budget 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REVIEW = (
    "I expected a dull sequel, but the film surprised me: the cast is charming, the jokes "
    "land, and although the middle drags a little, the ending is wonderful."
)
TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer with one word."


def naive_values(lm, value, masks) -> np.ndarray:
    import torch

    pos, neg = value._targets
    out = []
    with torch.inference_mode():
        for mask in masks:
            ids = lm.prompt_ids(value.prompt(mask))
            logits = lm.model(torch.tensor([ids])).logits[0, -1]
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            out.append((log_probs[pos[0]] - log_probs[neg[0]]).item())
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=64)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--output", default="benchmarks/results/bench_text_ablation.json")
    args = parser.parse_args()

    from spexlearn import ProxySPEXExplainer
    from spexlearn.ablation import TextAblation
    from spexlearn.lm import load_default_lm

    lm = load_default_lm()
    value = TextAblation(lm, REVIEW, template=TEMPLATE, target=("positive", "negative"),
                         progress=False)
    masks = np.random.default_rng(0).integers(0, 2, size=(args.masks, value.n_components))
    masks = np.unique(masks, axis=0)
    value(masks[:4])  # warm-up: first forward passes allocate
    value._memory.clear()

    start = time.perf_counter()
    naive = naive_values(lm, value, masks)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = value(masks)
    batched_s = time.perf_counter() - start
    value._memory.clear()

    start = time.perf_counter()
    explainer = ProxySPEXExplainer(value, budget=args.budget, max_order=3, random_state=0).fit()
    explain_s = time.perf_counter() - start
    result = {
        "masks": len(masks),
        "naive_masks_per_s": len(masks) / naive_s,
        "textablation_masks_per_s": len(masks) / batched_s,
        "speedup": naive_s / batched_s,
        "max_abs_difference": float(np.abs(naive - batched).max()),
        "budget": args.budget,
        "explain_s": explain_s,
        "model_s": explainer.query_seconds_,
        "share_outside_model": 1 - explainer.query_seconds_ / explain_s,
        "cpus": os.cpu_count(),
    }
    print(f"{len(masks)} masks: naive loop {result['naive_masks_per_s']:.1f} masks/s, "
          f"TextAblation {result['textablation_masks_per_s']:.1f} masks/s "
          f"({result['speedup']:.2f}x); largest difference {result['max_abs_difference']:.1e}")
    print(f"ProxySPEX, budget {args.budget}: {explain_s:.1f} s in all, "
          f"{explainer.query_seconds_:.1f} s in the model: "
          f"{result['share_outside_model']:.1%} outside it")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
