"""Query speed: TextAblation against the loops a user would otherwise run, on the same masks.

Every method scores ``log p(target | prompt)`` of the embedded SmolLM2-135M-Instruct for
the same uniformly random masks, in one run on this machine (so the ratios, not the
seconds, are the result):

- ``naive``: one full prompt at a time through the transformers model (all logits), as a
  first script would do it;
- ``contextcite``: ContextCite's own ablation loop (``context_cite.utils``, batch size 1,
  its default), fed the same prompts;
- ``previous``: ``TextAblation`` of an earlier checkout (``--previous PATH``, run in a
  subprocess): length-sorted batches after the template prefix's cache;
- ``spexlearn``: today's ``TextAblation``: masks in lexicographic order, each batch planned
  as a prefix tree whose shared stretches are computed once;
- ``llama.cpp``: llama-cpp-python on the same GGUF file, with its own prefix reuse (the
  key-value cache is kept up to the longest prefix shared with the previous prompt).
  Its weights stay 4-bit quantized, so its values differ from the float32 model's.

Two tasks: a 30-word review (words ablated) and a 14-sentence RAG context (sentences).
Values must equal the naive loop's to 1e-4 (llama.cpp: reported, not required).

Run (the extra packages: see ``benchmarks/speed_requirements.txt``)::

    python benchmarks/bench_queries.py --previous /tmp/previous-checkout

Writes ``benchmarks/results/bench_queries.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from run import load_example

REVIEW = (
    "I expected a dull sequel, but honestly the film surprised me: the cast is charming, "
    "the jokes land, and although the middle drags a little, the ending is wonderful."
)


RAG = load_example("cite_answer").CONTEXT  # the 14-sentence context of the cite example
TASKS = {
    "review-30-words": dict(
        text=REVIEW, unit="word", target="positive",
        template="Review: {text}\nIs this review positive or negative? Answer with one word."),
    "rag-14-sentences": dict(
        text=RAG, unit="sentence", target="Nils Lindqvist was born in Ålesund.",
        template="Context: {text}\nQuestion: In which town was the man who designed the "
                 "museum's tower born?"),
}
TOLERANCE = 1e-4


def ablation(lm, task: dict):
    from spexlearn.ablation import TextAblation

    return TextAblation(lm, task["text"], unit=task["unit"], template=task["template"],
                        target=task["target"], progress=False)


def naive_values(lm, value, masks) -> np.ndarray:
    import torch

    target = value._targets[0]
    out = []
    with torch.inference_mode():
        for mask in masks:
            ids = lm.prompt_ids(value.prompt(mask))
            logits = lm.model(torch.tensor([ids + target])).logits[0]
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            out.append(sum(log_probs[len(ids) - 1 + i, t].item()
                           for i, t in enumerate(target)))
    return np.array(out)


def contextcite_values(lm, value, masks) -> np.ndarray:
    """ContextCite's loop (its dataset layout, collator, batch size 1 and per-token
    logit-probabilities), turned into the same log-probability."""
    import torch
    _offline_nltk()
    from context_cite.utils import _get_response_logit_probs
    from datasets import Dataset

    response = value._targets[0]
    data = {"input_ids": [], "attention_mask": [], "labels": []}
    for mask in masks:
        prompt = lm.prompt_ids(value.prompt(mask))
        data["input_ids"].append(prompt + response)
        data["attention_mask"].append([1] * (len(prompt) + len(response)))
        data["labels"].append([-100] * len(prompt) + response)
    logit_probs = _get_response_logit_probs(Dataset.from_dict(data), lm.model, lm.tokenizer,
                                            len(response), 1)
    return torch.nn.functional.logsigmoid(torch.tensor(logit_probs)).sum(1).numpy()


_PREVIOUS = """
import sys, json, time, numpy as np
from spexlearn.ablation import TextAblation
from spexlearn.lm import load_default_lm
task, masks = json.loads(sys.argv[1]), np.load(sys.argv[2])
lm = load_default_lm()
make = lambda: TextAblation(lm, task["text"], unit=task["unit"], template=task["template"],
                            target=task["target"], progress=False)
make()(masks[:4])
value = make()
start = time.perf_counter()
values = value(masks)
seconds = time.perf_counter() - start
np.save(sys.argv[3], values)
print(seconds)
"""


def previous_values(checkout: str, task: dict, masks) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as folder:
        np.save(f"{folder}/masks.npy", masks)
        env = dict(os.environ, PYTHONPATH=checkout)
        out = subprocess.run([sys.executable, "-c", _PREVIOUS, json.dumps(task),
                              f"{folder}/masks.npy", f"{folder}/values.npy"],
                             env=env, capture_output=True, text=True, check=True)
        return np.load(f"{folder}/values.npy"), float(out.stdout.strip().splitlines()[-1])


def llama_cpp_values(lm, value, masks, threads: int) -> np.ndarray:
    from llama_cpp import Llama

    from spexlearn.lm import default_gguf_path

    model = Llama(model_path=str(default_gguf_path()), n_ctx=1024, logits_all=True,
                  n_threads=threads, n_batch=512, verbose=False)
    target = value._targets[0]
    out, previous = [], []
    for mask in masks:
        ids = lm.prompt_ids(value.prompt(mask)) + target
        shared = 0
        while shared < min(len(ids), len(previous)) - 1 and ids[shared] == previous[shared]:
            shared += 1
        model.n_tokens = shared  # eval() drops the cache after it and feeds the rest
        model.eval(ids[shared:])
        logits = np.asarray(model.scores[len(ids) - len(target) - 1:len(ids) - 1],
                            dtype=np.float64)
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        out.append(float(log_probs[np.arange(len(target)), target].sum()))
        previous = ids
    return np.array(out)


METHODS = ("naive", "contextcite", "previous", "spexlearn", "llama.cpp")


def _timed(function, *args):
    start = time.perf_counter()
    values = function(*args)
    return values, time.perf_counter() - start


def measure(lm, task: dict, n_masks: int, previous: str | None) -> dict:
    """Every method on the same masks of one task."""
    import torch

    value = ablation(lm, task)
    rng = np.random.default_rng(0)
    masks = np.unique(rng.integers(0, 2, size=(n_masks, value.n_components)), axis=0)
    value(masks[:4])  # warm-up: the first passes allocate
    row: dict = {"n": value.n_components, "masks": len(masks)}
    timed = {"naive": _timed(naive_values, lm, value, masks)}
    before = lm.tokens_computed_
    timed["spexlearn"] = _timed(ablation(lm, task), masks)
    fed = lm.tokens_computed_ - before
    try:
        timed["contextcite"] = _timed(contextcite_values, lm, value, masks)
    except ImportError as exc:
        row["contextcite"] = f"not installed ({exc})"
    if previous:
        timed["previous"] = previous_values(previous, task, masks)
    try:
        # In lexicographic order too, for its prefix reuse.
        order = np.lexsort(masks.T[::-1])
        sorted_values, seconds = _timed(llama_cpp_values, lm, value, masks[order],
                                        torch.get_num_threads())
        values = np.empty(len(masks))
        values[order] = sorted_values
        timed["llama.cpp"] = (values, seconds)
    except ImportError as exc:
        row["llama.cpp"] = f"not installed ({exc})"
    reference, naive_seconds = timed["naive"]
    for method, (values, seconds) in timed.items():
        row[method] = {
            "seconds": round(seconds, 2),
            "masks_per_s": round(len(masks) / seconds, 2),
            "speedup_vs_naive": round(naive_seconds / seconds, 2),
            "max_abs_difference": float(np.abs(values - reference).max()),
        }
    for method in ("contextcite", "previous", "llama.cpp"):
        if method in timed:
            row[f"spexlearn_vs_{method}"] = round(timed[method][1] / timed["spexlearn"][1], 2)
    naive_tokens = sum(len(lm.prompt_ids(value.prompt(m))) + len(value._targets[0])
                       for m in masks)
    row["tokens_fed"] = {"naive": naive_tokens, "spexlearn": fed}
    return row


def under_load(lm, task: dict, n_masks: int) -> dict:
    """TextAblation's speed with one busy process beside it: on torch's default thread
    count, and on the count it measures fastest (``spexlearn._threads``)."""
    from spexlearn._threads import ThreadChoice

    value = ablation(lm, task)
    masks = np.unique(np.random.default_rng(1).integers(0, 2, size=(n_masks, value.n_components)),
                      axis=0)
    most = ThreadChoice(os.cpu_count() or 1).candidates[-1]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        speeds = {}
        for label in ("default threads", "measured threads", "default threads "):
            fixed = ThreadChoice(most)
            fixed.candidates = [most]
            lm._thread_choice = fixed if label.startswith("default") else ThreadChoice(most)
            _, seconds = _timed(ablation(lm, task), masks)
            speeds.setdefault(label.strip(), []).append(round(len(masks) / seconds, 2))
    finally:
        busy.kill()
        lm._thread_choice = None
    return {"masks": len(masks), "masks_per_s": speeds}


def ceiling(lm, task: dict, sizes=(128, 1024, 16384), n_naive: int = 24) -> dict:
    """The most any exact scorer could gain over the naive loop on this machine.

    Exactness fixes the tokens: a token's keys and values depend on every token before
    it, so two prompts share work only up to the first token where they differ, and the
    tokens after the ablated text (the question, the chat template's end, the target)
    are computed once per distinct mask. The fewest tokens for a set of masks is one
    radix tree over all their sequences, every shared stretch computed once; it is
    counted here for ``sizes`` uniform masks (up to every mask there is). The best time
    per token is that of one large batch of fresh tokens (no padding, no cache).
    Ceiling = the naive loop's time / (fewest tokens x best time per token).
    """
    import torch

    value = ablation(lm, task)
    n = value.n_components
    target = value._targets[0]
    rng = np.random.default_rng(2)
    naive_masks = np.unique(rng.integers(0, 2, size=(n_naive, n)), axis=0)
    naive_values(lm, value, naive_masks[:2])  # warm-up
    start = time.perf_counter()
    naive_values(lm, value, naive_masks)
    naive_seconds = time.perf_counter() - start
    naive_per_token = naive_seconds / sum(
        len(lm.prompt_ids(value.prompt(m))) + len(target) for m in naive_masks)
    with torch.inference_mode():
        batch = torch.randint(0, lm.tokenizer.vocab_size, (8, 256))
        lm.model(batch[:1, :32])
        passes = []
        for _ in range(3):  # the fastest of three: the machine's best, not its noise
            start = time.perf_counter()
            lm.model(batch, logits_to_keep=1)
            passes.append(time.perf_counter() - start)
        best_per_token = min(passes) / batch.numel()
    row = {"naive_ms_per_token": round(1e3 * naive_per_token, 3),
           "best_ms_per_token": round(1e3 * best_per_token, 3), "masks": {}}
    for size in sizes:
        if size >= 2 ** n:
            masks = ((np.arange(2 ** n)[:, None] >> np.arange(n)[::-1]) & 1).astype(np.uint8)
        else:  # np.unique sorts the rows: lexicographic, first component first
            masks = np.unique(rng.integers(0, 2, size=(size, n)), axis=0)
        prompts = [lm.prompt_ids(value.prompt(m)) for m in masks]
        naive_tokens = sum(len(p) + len(target) for p in prompts)
        fewest = _fewest_tokens(prompts, target, len(prompts))
        # TextAblation plans each batch of batch_size masks (32) on its own.
        batched = _fewest_tokens(prompts, target, value.batch_size)
        row["masks"][str(len(masks))] = {
            "naive_tokens_per_mask": round(naive_tokens / len(masks), 1),
            "fewest_tokens_per_mask": round(fewest / len(masks), 1),
            "fewest_in_batches_per_mask": round(batched / len(masks), 1),
            "token_ratio": round(naive_tokens / fewest, 2),
            "ceiling_vs_naive": round(naive_per_token * naive_tokens
                                      / (best_per_token * fewest), 2)}
        if len(masks) == 2 ** n:
            break
    return row


def _fewest_tokens(prompts: list, target: list, batch: int) -> int:
    """Tokens of the radix trees over the masks' sequences, one tree per ``batch`` masks
    in the order given."""
    from spexlearn._prefix_tree import plan_prefix_tree

    total = 0
    for lo in range(0, len(prompts), batch):
        chunk = prompts[lo:lo + batch]
        total += plan_prefix_tree([p + target for p in chunk], [len(p) for p in chunk],
                                  min_saved=(1,)).tokens_computed()
    return total


def _offline_nltk() -> None:
    """context_cite asks NLTK to download data when imported: nothing here may reach the
    network, so the download is a no-op (its sentence splitter is not used)."""
    import nltk

    nltk.download = lambda *args, **kwargs: False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=128)
    parser.add_argument("--previous", help="a checkout of an earlier spexlearn")
    parser.add_argument("--output", default="benchmarks/results/bench_queries.json")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="add only the ceilings to the JSON already written")
    args = parser.parse_args()

    import torch

    from spexlearn.lm import load_default_lm

    lm = load_default_lm()
    if args.ceiling_only:
        results = json.loads(Path(args.output).read_text())
        for name, task in TASKS.items():
            results["tasks"][name]["ceiling"] = ceiling(lm, task)
            print(name, json.dumps(results["tasks"][name]["ceiling"], indent=1))
        Path(args.output).write_text(json.dumps(results, indent=2))
        return
    results = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "masks": args.masks, "tasks": {}}
    for name, task in TASKS.items():
        row = measure(lm, task, args.masks, args.previous)
        row["ceiling"] = ceiling(lm, task)
        results["tasks"][name] = row
        print(f"\n{name} (n={row['n']}, {row['masks']} masks; tokens fed: naive "
              f"{row['tokens_fed']['naive']}, spexlearn {row['tokens_fed']['spexlearn']})")
        for method in METHODS:
            entry = row.get(method)
            if isinstance(entry, dict):
                print(f"  {method:12s} {entry['masks_per_s']:7.2f} masks/s "
                      f"{entry['speedup_vs_naive']:6.2f}x naive   "
                      f"max |diff| {entry['max_abs_difference']:.1e}")
            elif entry:
                print(f"  {method:12s} {entry}")
        ok = row["spexlearn"]["max_abs_difference"] <= TOLERANCE
        print(f"  spexlearn values equal the naive loop's to {TOLERANCE}: {ok}")
    # Three times the masks: the smaller thread counts are first tried after 4 batches.
    load = under_load(lm, TASKS["review-30-words"], 3 * args.masks)
    results["one_busy_process"] = load
    print(f"\nreview-30-words beside one busy process: {load['masks_per_s']}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
