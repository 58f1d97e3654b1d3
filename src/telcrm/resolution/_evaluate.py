"""Evaluation helpers for benches and tests: pairwise precision/recall/F1 and exact-cluster share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    exact_share: float  # share of true entities whose records form exactly one predicted cluster, alone

    def line(self) -> str:
        return (
            f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f} "
            f"exact={self.exact_share:.4f} (true pairs {self.true_pairs}, predicted {self.predicted_pairs})"
        )


def _pairs(groups: Mapping[tuple[str, ...], list[str]], side: Callable[[str], str] | None) -> int:
    """Number of record pairs inside groups; with ``side``, only pairs whose sides differ."""
    total = 0
    for members in groups.values():
        n = len(members)
        total += n * (n - 1) // 2
        if side is not None:
            per_side: dict[str, int] = defaultdict(int)
            for k in members:
                per_side[side(k)] += 1
            total -= sum(c * (c - 1) // 2 for c in per_side.values())
    return total


def evaluate(
    truth: Mapping[str, str],
    clusters: Mapping[str, str],
    side: Callable[[str], str] | None = None,
) -> Scores:
    """Compare predicted clusters (key -> cluster) with truth (key -> entity) over the same keys.

    With ``side`` (key -> dataset), only pairs across datasets count (a link task).
    Exact share: a true entity counts when all its records share one predicted cluster and that
    cluster holds no record of another entity.
    """
    by_truth: dict[tuple[str, ...], list[str]] = defaultdict(list)
    by_pred: dict[tuple[str, ...], list[str]] = defaultdict(list)
    by_both: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key, entity in truth.items():
        cluster = clusters[key]
        by_truth[(entity,)].append(key)
        by_pred[(cluster,)].append(key)
        by_both[(entity, cluster)].append(key)
    true_pairs, pred_pairs, tp = _pairs(by_truth, side), _pairs(by_pred, side), _pairs(by_both, side)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = sum(
        1
        for keys in by_truth.values()
        if len({clusters[k] for k in keys}) == 1 and len(by_pred[(clusters[keys[0]],)]) == len(keys)
    )
    return Scores(precision, recall, f1, true_pairs, pred_pairs, exact / max(1, len(by_truth)))


def clusters_from_pairs(keys: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Connected components of accepted pairs (each key -> smallest key of its component)."""
    parent: dict[str, str] = {k: k for k in keys}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {k: find(k) for k in parent}
