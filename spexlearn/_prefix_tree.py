"""Which tokens of a batch of scored sequences are computed once for several of them.

Ablated prompts share long token prefixes: with removal masking, two masks that agree on
their first k components give the same prompt up to component k, and every target of one
prompt follows the same prompt. A causal model's key-value cache of a shared prefix is the
same for every sequence below it, so each shared stretch is computed once and the
sequences that continue it start from its cache. That is the same exact computation
(the values change only in float rounding), in the spirit of SGLang's RadixAttention [1]_
and AttriBoT's cache reuse [2]_, which serve other workloads (generation; leave-one-out
ablations) and no scoring of arbitrary masked prompts.

The plan is a radix tree over the sequences. A shared stretch becomes a node of its own
(computed once, its cache kept until its children are computed) where the tokens it saves
pay for a further forward pass; shorter shared stretches are computed with each sequence.
Nodes run in *waves*: a node's wave is one more than its parent's, and every node of a
wave goes into the same batched forward passes, each continuing its parent's cache.

Only positions whose next-token distribution is read need logits (the last prompt token
and the target tokens but the last), and a sequence's tokens after the last such
position are never fed at all.

References
----------
.. [1] Zheng et al., "SGLang: Efficient Execution of Structured Language Model Programs",
   NeurIPS 2024.
.. [2] Liu et al., "AttriBoT: A Bag of Tricks for Efficiently Approximating Leave-One-Out
   Context Attribution", ICLR 2025.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["PASS_COST", "PrefixPlan", "TreeNode", "cut_batches", "plan_prefix_tree"]

# A forward pass's fixed cost, in tokens. A pass of one token through SmolLM2-135M takes
# ~40 ms on 2 CPU cores; in large batches a token costs ~1.05 ms more, and a pass ~100 ms
# more than its tokens (fitted on passes of 1 to 2,048 tokens). The fixed cost of many
# small passes showed in time: a plan costed at 40 tokens a pass was slower than one at 96.
PASS_COST = 96
# A shared stretch becomes a node of its own where computing it once instead of with
# each sequence below it saves at least this many tokens; the plan tries each and keeps
# the cheapest (more nodes save tokens but add waves, hence passes).
MIN_SAVED_CHOICES = (8, 32, 128, float("inf"))
# Bound on a batch's cache rows (rows x cached and new positions), per new token allowed:
# keeps the padded caches' copies and the attention scores small.
CACHE_ROWS_PER_TOKEN = 8


@dataclass
class TreeNode:
    """A stretch of tokens computed in one row of a forward pass.

    ``parent`` is the node whose cache it continues (-1: the shared prompt prefix, or
    nothing); ``start`` its first token's position in the sequences it belongs to;
    ``keep`` how many of its last positions' logits are read.
    """

    parent: int
    start: int
    tokens: list[int]
    keep: int
    wave: int
    has_children: bool = False

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)


@dataclass
class PrefixPlan:
    """The nodes, the waves they run in, and where each sequence's scores are read.

    ``reads[s]`` lists ``(node, row, token)``: the log-probability of ``token`` at row
    ``row`` of the node's kept logits, in the order of the scored tokens; sequence
    ``s``'s score is their sum.
    """

    nodes: list[TreeNode] = field(default_factory=list)
    reads: list[list[tuple[int, int, int]]] = field(default_factory=list)

    @property
    def waves(self) -> list[list[int]]:
        count = max((node.wave for node in self.nodes), default=-1) + 1
        waves: list[list[int]] = [[] for _ in range(count)]
        for index, node in enumerate(self.nodes):
            waves[node.wave].append(index)
        return waves

    def tokens_computed(self) -> int:
        """Tokens fed to the model under this plan."""
        return sum(len(node.tokens) for node in self.nodes)

    def cost(self, max_tokens: int) -> float:
        """Estimated cost in tokens: each wave's batches' padded tokens and passes."""
        total = 0.0
        for wave in self.waves:
            widths = [len(self.nodes[i].tokens) for i in wave]
            for batch in cut_batches(widths, [0] * len(widths), max_tokens):
                total += max(widths[i] for i in batch) * len(batch) + PASS_COST
        return total


def cut_batches(widths: Sequence[int], pasts: Sequence[int], max_tokens: int
                ) -> list[list[int]]:
    """Batches of the rows ``0 .. len(widths) - 1``, by width, at least cost.

    A batch costs its padded new tokens (every row padded to its longest) plus
    ``PASS_COST``: one batch pads short rows to the longest, many batches pay the pass
    overhead many times. Each batch's padded new tokens stay within ``max_tokens`` and
    its padded cache rows (``pasts``: each row's cached positions) within
    ``CACHE_ROWS_PER_TOKEN`` times that.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        width = widths[order[end - 1]]  # the longest: the order is by width
        longest_past = 0
        for start in range(end - 1, -1, -1):
            rows = end - start
            longest_past = max(longest_past, pasts[order[start]])
            if rows > 1 and (width * rows > max_tokens or (longest_past + width) * rows
                             > CACHE_ROWS_PER_TOKEN * max_tokens):
                break
            cost = best[start] + width * rows + PASS_COST
            if cost < best[end]:
                best[end], cut[end] = cost, start
    batches, end = [], len(order)
    while end:
        batches.append(order[cut[end]:end])
        end = cut[end]
    return batches[::-1]


def plan_prefix_tree(
    sequences: Sequence[Sequence[int]],
    first_scored: Sequence[int],
    *,
    max_tokens: int = 8192,
    min_saved: Sequence[float] = MIN_SAVED_CHOICES,
) -> PrefixPlan:
    """Plan the scoring of ``sequences``: the tokens from ``first_scored[s]`` to the end of
    sequence ``s`` are scored (each given the tokens before it).

    Every scored token needs the logits of the position before it, so
    ``first_scored[s]`` must be at least 1 (a shared prompt prefix computed elsewhere
    counts as position -1 only through its cache: pass sequences after it, each with at
    least one token before its first scored one).
    """
    seqs = [list(map(int, s)) for s in sequences]
    for s, first in zip(seqs, first_scored, strict=True):
        if not 1 <= first < len(s):
            raise ValueError("every sequence needs a token to score and one before it.")
    order = sorted(range(len(seqs)), key=lambda s: seqs[s])
    # Logit positions read: from the one before the first scored token to the one before
    # the last token.
    needed = [(first_scored[s] - 1, len(seqs[s]) - 2) for s in range(len(seqs))]
    lcp = [0] + [_common_length(seqs[a], seqs[b]) for a, b in pairwise(order)]
    plans = []
    for least in min_saved:
        plan = PrefixPlan(reads=[[] for _ in seqs])
        _build(plan, seqs, needed, order, lcp, 0, len(order), 0, -1, 0, least)
        plans.append(plan)
    return min(plans, key=lambda plan: plan.cost(max_tokens))


def _common_length(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def _build(plan, seqs, needed, order, lcp, lo, hi, depth, parent, wave, min_saved) -> None:
    """Plan the sorted sequences ``order[lo:hi]``, which share their first ``depth``
    tokens, computed by node ``parent``."""
    if hi - lo == 1:
        _add_leaf(plan, seqs, needed, order[lo], depth, parent, wave)
        return
    common = min(lcp[lo + 1:hi])
    members = order[lo:hi]
    # Below a node whose children read nothing of their own (the targets' last tokens),
    # the node costs no further pass.
    childless = all(needed[s][1] < common for s in members)
    if common > depth and (childless or (hi - lo - 1) * (common - depth) >= min_saved):
        # Identical sequences (one prompt reached twice) end together: their last token,
        # which nothing reads, is not fed.
        end = min(common, 1 + max(needed[s][1] for s in members)) if childless else common
        if end > depth:
            node = _add_node(plan, seqs, needed, members, depth, end, parent, wave)
            parent, wave = node, wave + 1
        depth = common
    start = lo
    for position in range(lo + 1, hi + 1):
        if position == hi or lcp[position] == common:
            _build(plan, seqs, needed, order, lcp, start, position, depth, parent, wave,
                   min_saved)
            start = position


def _add_node(plan, seqs, needed, members, start, end, parent, wave) -> int:
    first_read = min((max(needed[s][0], start) for s in members if needed[s][1] >= start
                      and needed[s][0] < end), default=end)
    keep = end - first_read
    index = len(plan.nodes)
    plan.nodes.append(TreeNode(parent, start, seqs[members[0]][start:end], keep, wave))
    if parent >= 0:
        plan.nodes[parent].has_children = True
    for s in members:
        _record_reads(plan, seqs, needed, s, index, start, end, keep)
    return index


def _add_leaf(plan, seqs, needed, s, start, parent, wave) -> None:
    first, last = needed[s]
    end = last + 1  # tokens after the last read position are never fed
    if end <= start:
        return  # every position it reads lies in its ancestors
    keep = end - max(first, start)
    index = len(plan.nodes)
    plan.nodes.append(TreeNode(parent, start, seqs[s][start:end], keep, wave))
    if parent >= 0:
        plan.nodes[parent].has_children = True
    _record_reads(plan, seqs, needed, s, index, start, end, keep)


def _record_reads(plan, seqs, needed, s, node, start, end, keep) -> None:
    first, last = needed[s]
    for position in range(max(first, start), min(last + 1, end)):
        plan.reads[s].append((node, position - (end - keep), seqs[s][position + 1]))
