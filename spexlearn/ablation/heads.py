"""HeadAblation: a causal LM's answers when attention heads are switched off."""

from __future__ import annotations

import numpy as np

from ..lm import model_key
from ._base import Ablation

__all__ = ["HeadAblation"]


class HeadAblation(Ablation):
    """Mean log-probability of target answers over prompts, with some heads switched off.

    Components are the (layer, head) pairs of a transformers decoder. A head is ablated
    by zeroing its output before the attention's output projection, through forward
    pre-hooks that exist only during the forward pass: the model's weights are never
    edited. All (mask, prompt) pairs of a batch run in one padded forward pass.

    Parameters
    ----------
    lm : LanguageModel or None
        None: the embedded SmolLM2-135M-Instruct (30 layers x 9 heads).
    prompts : list of str
        User messages (chat-formatted by the model).
    targets : list of str or None
        One answer per prompt. None: the model's own greedy answers with every head on.
    heads : "all" or list of (int, int)
        The (layer, head) pairs that are components; the others stay on.
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Examples
    --------
    >>> value = HeadAblation(prompts=["The capital of France is"],
    ...                      heads=[(0, 0), (0, 1)])  # doctest: +SKIP
    >>> value(np.array([[1, 1], [0, 0]]))  # doctest: +SKIP
    array([-0.61..., -0.72...])
    """

    def __init__(self, lm=None, prompts=(), targets=None, *, heads="all", cache=None,
                 batch_size=8, progress=True, backend="local", n_workers=None, repeats=1):
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        if lm is None:
            from ..lm import load_default_lm

            lm = load_default_lm()
        self.lm = lm
        self.prompts = [str(p) for p in prompts]
        if not self.prompts:
            raise ValueError("prompts is empty: give at least one prompt to score.")
        self.n_layers, self.n_heads = lm.head_layout()
        self.heads = _check_heads(heads, self.n_layers, self.n_heads)
        self.component_names = [f"L{layer}.H{head}" for layer, head in self.heads]
        self._prompt_ids = [lm.prompt_ids(p) for p in self.prompts]
        self.targets = self._resolve_targets(targets)
        self._target_ids = [lm.encode(t) for t in self.targets]
        if any(not t for t in self._target_ids):
            raise ValueError("a target is empty: give one non-empty answer per prompt.")
        for prompt, target in zip(self._prompt_ids, self._target_ids):
            lm.check_length(len(prompt) + len(target))

    def _resolve_targets(self, targets) -> list[str]:
        if targets is None:
            return [self.lm.generate(p)[0] for p in self.prompts]
        targets = [str(t) for t in targets]
        if len(targets) != len(self.prompts):
            raise ValueError(
                f"{len(targets)} targets for {len(self.prompts)} prompts: give one per prompt."
            )
        return targets

    def _repr_settings(self) -> dict[str, object]:
        return {"n_prompts": len(self.prompts), **super()._repr_settings()}

    def describe(self) -> dict[str, str]:
        """The value in words, for reports: the model and the mean log-probability."""
        return {"model": str(self.lm.name),
                "value": f"mean log p(target | prompt) over {len(self.prompts)} prompts"}

    def _fingerprint(self) -> dict:
        # The model's whole identity: system prompt, chat template, weights' content.
        return {"kind": "heads", "model": model_key(self.lm), "prompts": self.prompts,
                "targets": self.targets, "heads": self.heads}

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        import torch

        pairs = [(m, p) for m in range(len(masks)) for p in range(len(self.prompts))]
        full = np.ones((len(masks), self.n_layers, self.n_heads), np.float32)
        layers, heads = np.array(self.heads).T
        full[:, layers, heads] = masks
        scores = np.empty(len(pairs))
        with torch.inference_mode():
            for rows in _chunks(len(pairs), max(1, 4096 // self._longest())):
                seqs = [self._prompt_ids[pairs[r][1]] + self._target_ids[pairs[r][1]]
                        for r in rows]
                with self.lm.scaled_heads(full[[pairs[r][0] for r in rows]]):
                    scores[rows] = self._score(rows, seqs, pairs)
        return scores.reshape(len(masks), len(self.prompts)).mean(axis=1)

    def _longest(self) -> int:
        return max(len(p) + len(t) for p, t in zip(self._prompt_ids, self._target_ids))

    def _score(self, rows, seqs, pairs) -> np.ndarray:
        import torch

        longest_target = max(len(self._target_ids[pairs[r][1]]) for r in rows)
        logits = self.lm.forward_logits(seqs, None, longest_target + 1)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        out = np.empty(len(rows))
        for i, r in enumerate(rows):
            target = self._target_ids[pairs[r][1]]
            window = log_probs[i, log_probs.shape[1] - len(target) :]
            picked = torch.tensor(target, device=window.device)[:, None]
            out[i] = window.gather(1, picked).sum().item()
        return out


def _check_heads(heads, n_layers: int, n_heads: int) -> list[tuple[int, int]]:
    if isinstance(heads, str):
        if heads != "all":
            raise ValueError(f"heads must be 'all' or a list of (layer, head), got {heads!r}.")
        return [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    pairs = [(int(layer), int(head)) for layer, head in heads]
    bad = [p for p in pairs if not (0 <= p[0] < n_layers and 0 <= p[1] < n_heads)]
    if bad or not pairs or len(set(pairs)) != len(pairs):
        raise ValueError(
            f"heads must be distinct (layer, head) pairs with layer < {n_layers} and head < "
            f"{n_heads}; got {bad or pairs}."
        )
    return pairs


def _chunks(count: int, size: int):
    for start in range(0, count, size):
        yield list(range(start, min(start + size, count)))
