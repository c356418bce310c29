"""Exact path-dependent TreeSHAP in numpy, for batch explanations (``explain_batch(engine="treeshap")``).

The same quantity as LightGBM's ``pred_contrib`` (Lundberg's path-dependent TreeSHAP, cover =
the nodes' training counts), computed another way: a leaf ``L`` with value ``v``, unique path
features ``D`` (``d`` of them), cover fractions ``z_j`` (the product of ``child_count /
parent_count`` over the path's splits on ``j``) and, for a row, ``o_j = 1`` when the row satisfies
all the path's conditions on ``j`` contributes to feature ``i ∈ D``::

    φ_i += v · (o_i − z_i) · Σ_{S ⊆ D∖i} |S|! (d−|S|−1)! / d! · Π_{j∈S} o_j · Π_{j∈D∖S∖i} z_j

which depends on the row only through the bits ``o``. Per tree (:func:`compile_booster`, once per
model) every feature's values are cut into the classes the tree can tell apart (between two of
its thresholds, NaN, zero where a split treats zero as missing; for a categorical feature each
category a split names, any other value, NaN), classes with the same ``o`` bits for every leaf are
merged, and the contributions of every combination of classes (a tree's *state*) are tabulated
(a tree with too many states is cut into subtrees). Explaining N rows (:func:`shap_values`) is then,
per tree and per feature it uses, two table look-ups and two additions over the rows: no Python
loop per row, per-row arithmetic in a fixed order (the result of a row never depends on the other
rows or on how the rows are split into chunks or threads).

Decisions follow LightGBM's exactly: ``x <= threshold`` (the booster's full-precision thresholds,
which ``dump_model`` prints with 17 significant digits); ``missing_type`` ``None`` (NaN is 0.0),
``Zero`` (0 and NaN go the default side) and ``NaN`` (NaN goes the default side); categorical
``==`` splits send the categories of their ``||``-joined list left and NaN and negative values
right (a value is truncated to an integer first); values with ``|x| <= 1e-35`` are 0, as LightGBM
reads them. The base value is LightGBM's (per tree ``Σ leaf_count / root_count · leaf_value``).
Results agree with ``pred_contrib`` to about 1e-15 (not bit for bit: the arithmetic differs).
Binary models of plain trees only (no linear trees, no random-forest averaging, one tree per
iteration): :class:`UnsupportedModel` otherwise.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_STATES",
    "CompiledTrees",
    "UnsupportedModel",
    "compile_booster",
    "compile_dump",
    "shap_values",
]

MAX_STATES = 1 << 14
"""Most states tabulated for one tree (or subtree); a larger tree is cut at its root."""
ZERO_THRESHOLD = 1e-35
"""LightGBM's ``kZeroThreshold``: smaller magnitudes are read as 0."""
MIN_ROWS_PER_THREAD = 4096

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


class UnsupportedModel(ValueError):
    """The booster has something this explainer does not compute (linear trees, multiclass, ...)."""


@dataclass(frozen=True)
class _Node:
    feature: int
    categorical: bool
    threshold: float
    categories: frozenset[int]
    default_left: bool
    missing_type: str
    left: int
    right: int
    count: float


@dataclass(frozen=True)
class _Leaf:
    value: float
    count: float
    path: tuple[tuple[int, bool], ...]
    """(internal node, went left) from the root."""


@dataclass(frozen=True)
class FeatureClasses:
    """How one feature's values are cut into the model's global classes."""

    feature: int
    categorical: bool
    values: Floats
    """Sorted thresholds (numerical) or category values (categorical) the model's splits use."""
    zero_class: bool
    """A split on this feature treats zero as missing (``missing_type`` Zero): 0 is a class of its own."""

    @property
    def count(self) -> int:
        """Number of classes: bins (or categories and "other"), NaN, and zero when it is one."""
        return len(self.values) + 2 + int(self.zero_class)

    @property
    def nan_class(self) -> int:
        return len(self.values) + 1

    def classify(self, column: Floats) -> Ints:
        """Each value's class (``column`` already has |x| <= 1e-35 as 0)."""
        nan = np.isnan(column)
        if self.categorical:
            top = float(self.values[-1]) + 1.0 if len(self.values) else 0.0
            lut = np.full(int(top) + 1, len(self.values), dtype=np.intp)  # index -1 wraps to "other"
            lut[self.values.astype(np.intp)] = np.arange(len(self.values), dtype=np.intp)
            codes = np.clip(np.where(nan, -1.0, column), -1.0, top).astype(np.intp)
            out: Ints = lut[codes]
        else:
            out = np.searchsorted(self.values, column, side="left").astype(np.intp)
            if self.zero_class:
                out[column == 0.0] = len(self.values) + 2
        out[nan] = self.nan_class
        return out


@dataclass(frozen=True)
class _Group:
    features: tuple[int, ...]
    luts: tuple[Ints, ...]
    """Per feature: global class -> local class × radix."""
    tables: Floats
    """``(len(features), states)``: each feature's contribution in each state."""


@dataclass(frozen=True)
class CompiledTrees:
    """A booster compiled for :func:`shap_values` (holds no reference to the booster)."""

    n_features: int
    base_value: float
    classes: dict[int, FeatureClasses]
    groups: tuple[_Group, ...]


# ---------------------------------------------------------------- compiling


def compile_booster(booster: Any) -> CompiledTrees:
    """Compile a LightGBM booster (``booster.dump_model()``) once."""
    return compile_dump(booster.dump_model(), booster.num_feature())


def compile_dump(dump: dict[str, Any], n_features: int) -> CompiledTrees:
    """Compile a LightGBM ``dump_model()`` dictionary."""
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
        raise UnsupportedModel("only models with one tree per iteration (binary, regression)")
    if dump.get("average_output"):
        raise UnsupportedModel("random-forest averaging is not supported")
    trees = [_parse_tree(t["tree_structure"]) for t in dump["tree_info"]]
    classes = _feature_classes(trees)
    base = 0.0
    groups: list[_Group] = []
    for nodes, leaves in trees:
        base += _expected_value(nodes, leaves)
        if nodes:
            groups.extend(_groups(nodes, leaves, list(range(len(leaves))), classes))
    return CompiledTrees(n_features, base, classes, tuple(groups))


def _parse_tree(root: dict[str, Any]) -> tuple[list[_Node], list[_Leaf]]:
    nodes: list[_Node] = []
    leaves: list[_Leaf] = []

    def walk(node: dict[str, Any], path: tuple[tuple[int, bool], ...]) -> int:
        if "split_feature" not in node:
            if "leaf_coeff" in node or node.get("is_linear"):
                raise UnsupportedModel("linear trees are not supported")
            leaves.append(_Leaf(float(node["leaf_value"]), float(node.get("leaf_count", 0)), path))
            return -len(leaves)  # leaf k is ~(k) as in LightGBM
        k = len(nodes)
        nodes.append(None)  # type: ignore[arg-type]  # placeholder, filled below
        categorical = node["decision_type"] == "=="
        threshold = node["threshold"]
        cats = frozenset(int(c) for c in str(threshold).split("||")) if categorical else frozenset()
        left = walk(node["left_child"], (*path, (k, True)))
        right = walk(node["right_child"], (*path, (k, False)))
        nodes[k] = _Node(
            feature=int(node["split_feature"]),
            categorical=categorical,
            threshold=0.0 if categorical else float(threshold),
            categories=cats,
            default_left=bool(node["default_left"]),
            missing_type=str(node["missing_type"]),
            left=left,
            right=right,
            count=float(node["internal_count"]),
        )
        return k

    walk(root, ())
    return nodes, leaves


def _count(nodes: list[_Node], leaves: list[_Leaf], child: int) -> float:
    return nodes[child].count if child >= 0 else leaves[-child - 1].count


def _expected_value(nodes: list[_Node], leaves: list[_Leaf]) -> float:
    if not nodes:
        return leaves[0].value
    total = nodes[0].count
    value = 0.0
    for leaf in leaves:
        value += (leaf.count / total) * leaf.value
    return value


def _feature_classes(trees: Sequence[tuple[list[_Node], list[_Leaf]]]) -> dict[int, FeatureClasses]:
    values: dict[int, set[float]] = {}
    categorical: dict[int, bool] = {}
    zero: dict[int, bool] = {}
    for nodes, _ in trees:
        for n in nodes:
            if categorical.setdefault(n.feature, n.categorical) != n.categorical:
                raise UnsupportedModel(f"feature {n.feature} has both numerical and categorical splits")
            seen = values.setdefault(n.feature, set())
            if n.categorical:
                seen.update(float(c) for c in n.categories if c >= 0)
            else:
                seen.add(n.threshold)
            zero[n.feature] = zero.get(n.feature, False) or (not n.categorical and n.missing_type == "Zero")
    return {
        f: FeatureClasses(f, categorical[f], np.array(sorted(v), dtype=np.float64), zero[f])
        for f, v in values.items()
    }


def _goes_left(node: _Node, fc: FeatureClasses) -> npt.NDArray[np.bool_]:
    """Whether each of the feature's global classes goes left at ``node`` (LightGBM's rules)."""
    k = len(fc.values)
    out = np.zeros(fc.count, dtype=bool)
    if node.categorical:
        out[:k] = [int(c) in node.categories for c in fc.values]
        return out  # "other" (incl. negative) and NaN go right
    i = int(np.searchsorted(fc.values, node.threshold))
    out[: k + 1] = np.arange(k + 1) <= i
    zero_left = node.default_left if node.missing_type == "Zero" else node.threshold >= 0.0
    out[fc.nan_class] = node.default_left if node.missing_type in ("NaN", "Zero") else zero_left
    if fc.zero_class:
        out[k + 2] = zero_left
    return out


def _groups(
    nodes: list[_Node], leaves: list[_Leaf], members: list[int], classes: dict[int, FeatureClasses]
) -> list[_Group]:
    """Groups tabulating the contributions of ``members`` (leaves), cut while too many states."""
    # per leaf: unique features (first-seen order), z and o-bits over each feature's global classes
    info = []
    for m in members:
        leaf = leaves[m]
        feats: list[int] = []
        z: dict[int, float] = {}
        ok: dict[int, npt.NDArray[np.bool_]] = {}
        for k, left in leaf.path:
            node = nodes[k]
            f = node.feature
            if f not in z:
                feats.append(f)
                z[f] = 1.0
                ok[f] = np.ones(classes[f].count, dtype=bool)
            child = node.left if left else node.right
            if node.count <= 0:
                raise UnsupportedModel("a split without training rows (no cover to weigh its sides)")
            z[f] *= _count(nodes, leaves, child) / node.count
            go = _goes_left(node, classes[f])
            ok[f] &= go if left else ~go
        info.append((leaf.value, feats, z, ok))
    group_features = sorted({f for _, feats, _, _ in info for f in feats})
    signatures: dict[int, tuple[npt.NDArray[np.bool_], Ints]] = {}
    states = 1
    for f in group_features:
        columns = [ok[f] for _, feats, _, ok in info if f in feats]
        sig, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
        signatures[f] = (sig, inverse.reshape(-1).astype(np.intp))
        states *= len(sig)
    if states > MAX_STATES:
        if len(members) == 1:
            raise UnsupportedModel(f"a leaf needs {states} states (more than {MAX_STATES})")
        half = _split(leaves, members)
        return _groups(nodes, leaves, half[0], classes) + _groups(nodes, leaves, half[1], classes)
    radix: dict[int, int] = {}
    r = 1
    for f in group_features:
        radix[f] = r
        r *= len(signatures[f][0])
    state = np.arange(states, dtype=np.intp)
    local = {f: (state // radix[f]) % len(signatures[f][0]) for f in group_features}
    tables = np.zeros((len(group_features), states), dtype=np.float64)
    column_of = dict.fromkeys(group_features, 0)
    for value, feats, z, _ in info:
        o = np.empty((states, len(feats)), dtype=np.float64)
        for p, f in enumerate(feats):
            sig = signatures[f][0]
            o[:, p] = sig[local[f], column_of[f]]
            column_of[f] += 1
        zs = np.array([z[f] for f in feats], dtype=np.float64)
        phi = _leaf_shap(value, zs, o)
        for p, f in enumerate(feats):
            tables[group_features.index(f)] += phi[:, p]
    luts = tuple(signatures[f][1] * radix[f] for f in group_features)
    return [_Group(tuple(group_features), luts, tables)]


def _split(leaves: list[_Leaf], members: list[int]) -> tuple[list[int], list[int]]:
    """Cut ``members`` (the leaves under one node) into those under its left and right child."""
    depth = min(len(leaves[m].path) for m in members)
    common = 0
    while common < depth and len({leaves[m].path[common] for m in members}) == 1:
        common += 1
    left = [m for m in members if leaves[m].path[common][1]]
    right = [m for m in members if not leaves[m].path[common][1]]
    return left, right


def _leaf_shap(value: float, z: Floats, o: Floats) -> Floats:
    """``(states, d)`` contributions of one leaf for each row of o-bits ``o``."""
    states, d = o.shape
    weights = np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)],
        dtype=np.float64,
    )
    out = np.empty((states, d), dtype=np.float64)
    for i in range(d):
        poly = np.zeros((states, d), dtype=np.float64)
        poly[:, 0] = 1.0
        used = 0
        for j in range(d):
            if j == i:
                continue
            used += 1
            poly[:, 1 : used + 1] = poly[:, 1 : used + 1] * z[j] + poly[:, :used] * o[:, j : j + 1]
            poly[:, 0] *= z[j]
        out[:, i] = value * (o[:, i] - z[i]) * (poly @ weights if d > 0 else 0.0)
    return out


# ---------------------------------------------------------------- explaining


def shap_values(compiled: CompiledTrees, matrix: Floats, *, num_threads: int = 1) -> Floats:
    """``(N, n_features + 1)`` contributions, last column the base value (``pred_contrib``'s layout).

    ``num_threads`` (0: every core) splits the rows; each row's result is the same however they are
    split.
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != compiled.n_features:
        raise ValueError(f"matrix must be (n, {compiled.n_features})")
    n = x.shape[0]
    threads = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    threads = max(1, min(threads, n // MIN_ROWS_PER_THREAD))
    out = np.empty((n, compiled.n_features + 1), dtype=np.float64)
    bounds = [n * k // threads for k in range(threads + 1)]
    if threads == 1:
        _explain_rows(compiled, x, out)
    else:
        with ThreadPoolExecutor(threads) as pool:
            jobs = [
                pool.submit(_explain_rows, compiled, x[a:b], out[a:b]) for a, b in itertools.pairwise(bounds)
            ]
            for job in jobs:
                job.result()
    return out


def _explain_rows(compiled: CompiledTrees, x: Floats, out: Floats) -> None:
    n = x.shape[0]
    columns = np.ascontiguousarray(x.T)
    columns[np.abs(columns) <= ZERO_THRESHOLD] = 0.0
    global_class = {f: fc.classify(columns[f]) for f, fc in compiled.classes.items()}
    phi = np.zeros((compiled.n_features + 1, n), dtype=np.float64)
    state = np.empty(n, dtype=np.intp)
    part = np.empty(n, dtype=np.intp)
    values = np.empty(n, dtype=np.float64)
    for group in compiled.groups:
        np.take(group.luts[0], global_class[group.features[0]], out=state)
        for f, lut in zip(group.features[1:], group.luts[1:], strict=True):
            np.take(lut, global_class[f], out=part)
            state += part
        for j, f in enumerate(group.features):
            np.take(group.tables[j], state, out=values)
            phi[f] += values
    phi[compiled.n_features] = compiled.base_value
    out[...] = phi.T
