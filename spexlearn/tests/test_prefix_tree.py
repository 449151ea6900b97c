"""The prefix-tree plan of scored sequences, checked against the sequences themselves."""

import itertools

import numpy as np
import pytest

from spexlearn._prefix_tree import PASS_COST, cut_batches, plan_prefix_tree


def _sequences(seed: int, count: int = 12):
    """Prompts that share stretches (like ablated prompts) followed by targets."""
    rng = np.random.RandomState(seed)
    parts = [list(rng.randint(5, 50, size=rng.randint(1, 6))) for _ in range(6)]
    targets = [[1], [2, 3], [2, 4, 5]]
    prompts = []
    for _ in range(count):
        kept = [token for part, keep in zip(parts, rng.randint(0, 2, 6)) if keep
                for token in part]
        prompts.append([9, *kept, 7])
    sequences = [p + t for p in prompts for t in targets]
    return sequences, [len(p) for p in prompts for _ in targets]


def _replay(plan, sequences):
    """What each node's row sees: its ancestors' tokens then its own, as the sequence."""
    for node in plan.nodes:
        prefix = []
        parent = node.parent
        while parent >= 0:
            prefix = plan.nodes[parent].tokens + prefix
            parent = plan.nodes[parent].parent
        yield node, prefix


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("min_saved", [(1,), (8,), (float("inf"),), (8, 32, 128, float("inf"))])
def test_every_scored_token_is_read_once_from_the_right_context(seed, min_saved):
    sequences, first = _sequences(seed)
    plan = plan_prefix_tree(sequences, first, min_saved=min_saved)
    contexts = {}
    for index, (node, prefix) in enumerate(_replay(plan, sequences)):
        assert node.start == len(prefix) and node.keep <= len(node.tokens)
        assert node.wave == (0 if node.parent < 0 else plan.nodes[node.parent].wave + 1)
        contexts[index] = prefix + node.tokens
    for s, (sequence, start) in enumerate(zip(sequences, first)):
        read = []
        for node, row, token in plan.reads[s]:
            context = contexts[node]
            position = len(context) - plan.nodes[node].keep + row
            # The row predicts the token after ``position``, given everything up to it.
            assert context[: position + 1] == sequence[: position + 1]
            read.append((position, token))
        # In position order: a span of the scored tokens is a run of the reads.
        assert read == [(p, sequence[p + 1]) for p in range(start - 1, len(sequence) - 1)]


def test_shared_prompts_are_computed_once_and_last_tokens_never():
    sequences, first = _sequences(0, count=30)
    shared = plan_prefix_tree(sequences, first, min_saved=(1,))
    flat = plan_prefix_tree(sequences, first, min_saved=(float("inf"),))
    every_token = sum(len(s) for s in sequences)
    assert shared.tokens_computed() < flat.tokens_computed() < every_token
    # Each prompt is fed at most once for its three targets, whose last tokens are never
    # fed (1 + 2 tokens of the targets [1], [2, 3], [2, 4, 5] then remain per prompt).
    prompts = {tuple(s[:f]) for s, f in zip(sequences, first)}
    assert shared.tokens_computed() <= sum(len(p) for p in prompts) + 3 * len(prompts)


@pytest.mark.parametrize("seed", range(4))
def test_a_node_for_every_shared_stretch_computes_the_fewest_tokens(seed):
    # Any exact scorer feeds each distinct prefix of the fed tokens (a sequence less its
    # last token) at least once; with a node for every shared stretch the plan feeds each
    # exactly once. benchmarks/bench_queries.py's speed ceiling counts on it.
    sequences, first = _sequences(seed, count=40)
    plan = plan_prefix_tree(sequences, first, min_saved=(1,))
    distinct = {tuple(s[:k]) for s in sequences for k in range(1, len(s))}
    assert plan.tokens_computed() == len(distinct)


def test_the_cheapest_plan_is_chosen():
    sequences, first = _sequences(3, count=30)
    plans = [plan_prefix_tree(sequences, first, min_saved=(m,)) for m in (8, 32, float("inf"))]
    chosen = plan_prefix_tree(sequences, first, min_saved=(8, 32, float("inf")))
    assert chosen.cost(8192) == min(plan.cost(8192) for plan in plans)


def test_a_sequence_without_a_scored_token_or_context_is_refused():
    with pytest.raises(ValueError, match="a token to score and one before it"):
        plan_prefix_tree([[1, 2]], [2])
    with pytest.raises(ValueError, match="a token to score and one before it"):
        plan_prefix_tree([[1, 2]], [0])


def _brute_force_cost(widths, max_tokens):
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    best = float("inf")
    for cuts in itertools.product([0, 1], repeat=len(order) - 1):
        batches, current = [], [order[0]]
        for index, cut in zip(order[1:], cuts):
            if cut:
                batches.append(current)
                current = []
            current.append(index)
        batches.append(current)
        if any(max(widths[i] for i in b) * len(b) > max_tokens for b in batches if len(b) > 1):
            continue
        best = min(best, sum(max(widths[i] for i in b) * len(b) + PASS_COST for b in batches))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_batches_are_cut_at_least_cost_within_the_token_bound(seed):
    rng = np.random.RandomState(seed)
    widths = list(rng.choice([1, 2, 5, 30, 90], size=9))
    batches = cut_batches(widths, [0] * len(widths), 300)
    assert sorted(i for b in batches for i in b) == list(range(len(widths)))
    assert all(max(widths[i] for i in b) * len(b) <= 300 for b in batches if len(b) > 1)
    cost = sum(max(widths[i] for i in b) * len(b) + PASS_COST for b in batches)
    assert cost == _brute_force_cost(widths, 300)
