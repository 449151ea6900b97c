"""The exact Fourier spectrum of binary decision trees evaluated on 0/1 masks.

A leaf reached under the path conditions ``x_{j_1} = b_1, ..., x_{j_d} = b_d`` is the
indicator ``prod_k [x_{j_k} = b_k]``, and ``[x = b] = (1 + s (-1)^x) / 2`` with
``s = +1`` for ``b = 0`` and ``s = -1`` for ``b = 1``. Expanding the product, a leaf of
value ``v`` adds ``v 2^{-d} prod_{k in U} s_k`` to ``F(U)`` for every ``U ⊆ {j_1..j_d}``.

Trees arrive as plain node arrays (:class:`TreeArrays`), so this module knows nothing
about the libraries that grew them. All trees are walked together, one depth level at a
time, and all leaves are expanded in a few NumPy operations per path length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import combinations
from typing import NamedTuple

import numpy as np

from ._sparse import FOURIER, SparseSpectrum

# Expanded (leaf, subset) rows per block: bounds the temporaries of the expansion.
_EXPANSION_BLOCK_ROWS = 2_000_000


class TreeArrays(NamedTuple):
    """One binary decision tree as flat node arrays; node 0 is the root.

    Parameters
    ----------
    feature : ndarray of int, shape (n_nodes,)
        Component tested at each split node; ``-1`` marks a leaf.
    threshold : ndarray of float, shape (n_nodes,)
        Split threshold (ignored at leaves).
    left, right : ndarray of int, shape (n_nodes,)
        Child node indices; ``-1`` at leaves.
    value : ndarray of float, shape (n_nodes,)
        Leaf output, already scaled by the ensemble's weight or learning rate (ignored at
        split nodes).
    left_if_equal : bool, default=True
        ``True`` when ``x <= threshold`` goes left (scikit-learn, LightGBM); ``False`` when
        ``x < threshold`` goes left (XGBoost).

    Examples
    --------
    A stump on component 1 that outputs 2.0 when it is ablated and 5.0 when it is kept:

    >>> import numpy as np
    >>> from spexlearn.spectral._trees import TreeArrays
    >>> stump = TreeArrays(
    ...     feature=np.array([1, -1, -1]), threshold=np.array([0.5, 0.0, 0.0]),
    ...     left=np.array([1, -1, -1]), right=np.array([2, -1, -1]),
    ...     value=np.array([0.0, 2.0, 5.0]))
    >>> stump.left_if_equal
    True
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    left_if_equal: bool = True


class _Forest(NamedTuple):
    """All trees' nodes in one index space, split nodes resolved for 0/1 inputs."""

    feature: np.ndarray
    child0: np.ndarray  # where x_j = 0 goes
    child1: np.ndarray  # where x_j = 1 goes
    value: np.ndarray
    roots: np.ndarray


class _Leaves(NamedTuple):
    """Reachable leaves with their path conditions, padded with ``-1`` / 0."""

    value: np.ndarray  # (n_leaves,)
    features: np.ndarray  # (n_leaves, width) component of each condition
    bits: np.ndarray  # (n_leaves, width) required value of each condition
    n_conditions: np.ndarray  # (n_leaves,)


def trees_spectrum(
    trees: Sequence[TreeArrays], n_components: int, *, max_order: int | None = None
) -> SparseSpectrum:
    """The exact Fourier spectrum of a sum of decision trees on 0/1 masks.

    The function ``f(x) = sum_t tree_t(x)`` is written as
    ``f(x) = sum_S F(S) (-1)^{|S ∩ x|}`` for masks ``x`` in ``{0, 1}^n``.

    Parameters
    ----------
    trees : sequence of TreeArrays
        The trees to add up; leaf values must already carry any ensemble weight.
    n_components : int
        Number of components ``n``; every split feature must lie in ``[0, n)``.
    max_order : int, optional
        Drop every term of order above ``max_order``: the result is then the truncation
        of the full spectrum, computed without ever forming the dropped terms.

    Returns
    -------
    SparseSpectrum
        The Fourier spectrum (terms whose coefficient sums to exactly zero are removed).

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.spectral._trees import TreeArrays, trees_spectrum
    >>> stump = TreeArrays(
    ...     feature=np.array([1, -1, -1]), threshold=np.array([0.5, 0.0, 0.0]),
    ...     left=np.array([1, -1, -1]), right=np.array([2, -1, -1]),
    ...     value=np.array([0.0, 2.0, 5.0]))
    >>> f = trees_spectrum([stump], n_components=3)
    >>> f.terms()
    {(): 3.5, (1,): -1.5}
    >>> f.evaluate(np.array([[0, 0, 0], [0, 1, 0]]))
    array([2., 5.])
    """
    n_components = int(n_components)
    if max_order is not None and int(max_order) < 0:
        raise ValueError(f"max_order must be >= 0 or None, got {max_order}.")
    forest = _merge_trees(trees, n_components)
    leaves = _reachable_leaves(forest)
    width = leaves.features.shape[1]
    if max_order is not None:
        width = min(width, int(max_order))
    members, coefs = _summed_terms(_expanded_blocks(leaves, width), width, n_components)
    return SparseSpectrum.from_arrays(members, coefs, n_components, kind=FOURIER, drop_zeros=True)


# ------------------------------------------------------------------ node arrays
def _merge_trees(trees: Sequence[TreeArrays], n_components: int) -> _Forest:
    parts = [_resolved_tree(tree, t, n_components) for t, tree in enumerate(trees)]
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Forest(empty, empty, empty, np.zeros(0), empty)
    sizes = np.array([len(p[0]) for p in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    feature = np.concatenate([p[0] for p in parts])
    child0 = np.concatenate([p[1] + o for p, o in zip(parts, offsets)])
    child1 = np.concatenate([p[2] + o for p, o in zip(parts, offsets)])
    value = np.concatenate([p[3] for p in parts])
    return _Forest(feature, child0, child1, value, offsets)


def _resolved_tree(
    tree: TreeArrays, index: int, n_components: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate one tree and replace thresholds by the child each of 0 and 1 reaches."""
    feature = np.asarray(tree.feature, dtype=np.int64).reshape(-1)
    n_nodes = len(feature)
    threshold = _node_array(tree.threshold, n_nodes, np.float64, "threshold", index)
    left = _node_array(tree.left, n_nodes, np.int64, "left", index)
    right = _node_array(tree.right, n_nodes, np.int64, "right", index)
    value = _node_array(tree.value, n_nodes, np.float64, "value", index)
    if n_nodes == 0:
        raise ValueError(f"tree {index} has no nodes.")
    split = feature >= 0
    _check_split_nodes(feature[split], left[split], right[split], n_nodes, index, n_components)
    if not np.all(np.isfinite(value[~split])):
        raise ValueError(f"tree {index} has a leaf value that is NaN or infinite.")
    if tree.left_if_equal:
        zero_left, one_left = 0.0 <= threshold, 1.0 <= threshold
    else:
        zero_left, one_left = 0.0 < threshold, 1.0 < threshold
    child0 = np.where(split, np.where(zero_left, left, right), -1)
    child1 = np.where(split, np.where(one_left, left, right), -1)
    return np.where(split, feature, -1), child0, child1, value


def _node_array(values, n_nodes: int, dtype, name: str, index: int) -> np.ndarray:
    array = np.asarray(values, dtype=dtype).reshape(-1)
    if len(array) != n_nodes:
        raise ValueError(
            f"tree {index}: `{name}` has {len(array)} entries but `feature` has {n_nodes}."
        )
    return array


def _check_split_nodes(
    feature: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    n_nodes: int,
    index: int,
    n_components: int,
) -> None:
    if feature.size and feature.max() >= n_components:
        raise ValueError(
            f"tree {index} splits on component {int(feature.max())}, but there are only "
            f"{n_components} components (indices 0..{n_components - 1})."
        )
    children = np.concatenate([left, right])
    if children.size and (children.min() < 0 or children.max() >= n_nodes):
        raise ValueError(f"tree {index} has a split node whose child index is out of range.")


# ------------------------------------------------------------------ path walking
def _reachable_leaves(forest: _Forest) -> _Leaves:
    """Walk all trees at once, one depth level per step, collecting leaves and paths."""
    node = forest.roots.copy()
    features = np.full((len(node), 0), -1, dtype=np.int64)
    bits = np.zeros((len(node), 0), dtype=np.int8)
    count = np.zeros(len(node), dtype=np.int64)
    found: list[_Leaves] = []
    # A well-formed tree is a DAG from its root, so no path is longer than the node count.
    for _ in range(len(forest.feature) + 1):
        if len(node) == 0:
            return _concat_leaves(found)
        at_leaf = forest.feature[node] < 0
        found.append(
            _Leaves(forest.value[node[at_leaf]], features[at_leaf], bits[at_leaf], count[at_leaf])
        )
        node, features, bits, count = _descend(
            forest, node[~at_leaf], features[~at_leaf], bits[~at_leaf], count[~at_leaf]
        )
    raise ValueError("a tree contains a cycle: some node is its own descendant.")


def _descend(
    forest: _Forest, node: np.ndarray, features: np.ndarray, bits: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The frontier one level down: each split node's reachable children and their paths."""
    j, child0, child1 = forest.feature[node], forest.child0[node], forest.child1[node]
    seen = features == j[:, None]
    tested = seen.any(axis=1)
    # Where 0 and 1 meet again, or the component was fixed higher up, only one child
    # is reachable and the path gains no condition.
    earlier_bit = (bits * seen).sum(axis=1)
    single = tested | (child0 == child1)
    only_child = np.where(tested & (earlier_bit == 1), child1, child0)
    fork = ~single
    n_fork = int(fork.sum())
    width = features.shape[1] + (1 if n_fork else 0)
    new_features = np.full((len(node) - n_fork + 2 * n_fork, width), -1, dtype=np.int64)
    new_bits = np.zeros(new_features.shape, dtype=np.int8)
    old = features.shape[1]
    parts = [(single, only_child, None), (fork, child0, 0), (fork, child1, 1)]
    next_node, next_count, start = [], [], 0
    for rows, child, bit in parts:
        stop = start + int(rows.sum())
        new_features[start:stop, :old] = features[rows]
        new_bits[start:stop, :old] = bits[rows]
        if bit is not None:
            slot = np.arange(start, stop), count[rows]
            new_features[slot] = j[rows]
            new_bits[slot] = bit
        next_node.append(child[rows])
        next_count.append(count[rows] + (bit is not None))
        start = stop
    return np.concatenate(next_node), new_features, new_bits, np.concatenate(next_count)


def _concat_leaves(found: list[_Leaves]) -> _Leaves:
    if not found:
        empty = np.zeros((0, 0), dtype=np.int64)
        return _Leaves(np.zeros(0), empty, empty.astype(np.int8), np.zeros(0, dtype=np.int64))
    width = max((leaves.features.shape[1] for leaves in found), default=0)
    return _Leaves(
        np.concatenate([leaves.value for leaves in found]),
        np.vstack([_pad_columns(leaves.features, width, -1) for leaves in found]),
        np.vstack([_pad_columns(leaves.bits, width, 0) for leaves in found]),
        np.concatenate([leaves.n_conditions for leaves in found]),
    )


def _pad_columns(array: np.ndarray, width: int, fill: int) -> np.ndarray:
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out


# ------------------------------------------------------------------ expansion
def _expanded_blocks(leaves: _Leaves, width: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every leaf's contribution to every subset of its path, in blocks of bounded size.

    Member rows come out sorted ascending with ``-1`` padding last, ready for keying.
    """
    nonzero = leaves.value != 0
    for depth in np.unique(leaves.n_conditions[nonzero]):
        rows = np.flatnonzero(nonzero & (leaves.n_conditions == depth))
        positions = _subset_positions(int(depth), width)
        step = max(1, _EXPANSION_BLOCK_ROWS // len(positions))
        for start in range(0, len(rows), step):
            yield _expand_block(leaves, rows[start : start + step], int(depth), positions)


def _expand_block(
    leaves: _Leaves, block: np.ndarray, depth: int, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    features, bits = _sorted_paths(leaves, block, depth)
    # Leaves testing the same components feed the same subsets: sum them per path first,
    # so member rows are built once per distinct path rather than once per leaf.
    paths, path_of_leaf = np.unique(features, axis=0, return_inverse=True)
    n_subsets = len(positions)
    # prod_k s_k over a subset is -1 to the number of conditions x_j = 1 in it.
    odd = bits[:, positions].sum(axis=2, dtype=np.int64) % 2
    weights = (leaves.value[block] * 2.0**-depth)[:, None] * (1.0 - 2.0 * odd)
    slots = path_of_leaf.reshape(-1, 1) * n_subsets + np.arange(n_subsets)
    coefs = np.bincount(slots.ravel(), weights=weights.ravel(), minlength=len(paths) * n_subsets)
    padded = np.hstack([paths, np.full((len(paths), 1), -1, dtype=np.int64)])
    members = padded[:, positions].reshape(len(paths) * n_subsets, positions.shape[1])
    return members, coefs


def _sorted_paths(leaves: _Leaves, block: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Path components sorted within each leaf, plus a sentinel bit column of zeros.

    Sorted paths make every subset taken in position order a sorted member row.
    """
    features = leaves.features[block, :depth]
    order = np.argsort(features, axis=1)
    bits = np.zeros((len(block), depth + 1), dtype=np.int8)
    bits[:, :depth] = np.take_along_axis(leaves.bits[block, :depth], order, axis=1)
    return np.take_along_axis(features, order, axis=1), bits


def _summed_terms(
    blocks: Iterator[tuple[np.ndarray, np.ndarray]], width: int, n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the expanded blocks, summing equal subsets early when they fit a key."""
    base = n_components + 1
    if base**width >= 2**63:
        # Too many digits for an int64 key: leave all merging to SparseSpectrum.
        pairs = list(blocks)
        if not pairs:
            return np.zeros((0, width), dtype=np.int64), np.zeros(0)
        members = np.vstack([_pad_columns(m, width, -1) for m, _ in pairs])
        return members, np.concatenate([c for _, c in pairs])
    keys, coefs = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for members, block_coefs in blocks:
        keys.append(_subset_keys(_pad_columns(members, width, -1), base))
        coefs.append(block_coefs)
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=np.concatenate(coefs), minlength=len(unique))
    return _members_from_keys(unique, base, width), summed


def _subset_keys(members: np.ndarray, base: int) -> np.ndarray:
    """One integer per sorted member row: its digits in base ``n + 1``, padding as ``n``."""
    digits = np.where(members < 0, base - 1, members)
    keys = np.zeros(len(members), dtype=np.int64)
    for column in digits.T:
        keys = keys * base + column
    return keys


def _members_from_keys(keys: np.ndarray, base: int, width: int) -> np.ndarray:
    members = np.empty((len(keys), width), dtype=np.int64)
    for column in range(width - 1, -1, -1):
        keys, members[:, column] = np.divmod(keys, base)
    return np.where(members == base - 1, -1, members)


@lru_cache(maxsize=64)
def _subset_positions(depth: int, max_size: int) -> np.ndarray:
    """Position lists of all subsets of ``range(depth)`` up to ``max_size``, padded by ``depth``.

    Shape ``(n_subsets, min(depth, max_size))``; the pad value points at a sentinel column.
    """
    width = min(depth, max_size)
    subsets = [s for k in range(width + 1) for s in combinations(range(depth), k)]
    out = np.full((len(subsets), width), depth, dtype=np.int64)
    for row, subset in enumerate(subsets):
        out[row, : len(subset)] = subset
    out.setflags(write=False)
    return out
