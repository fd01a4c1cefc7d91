"""Ranking versions by how they behave, when no trusted test says which one is right.

Versions that return the same thing on every probe input form a *behaviour cluster*. Three
kinds of evidence, all from runs the engine already made, rank the clusters:

- **size**: independent samples that converge on one behaviour are likely right; wrong versions
  tend to be wrong in different ways;
- **dual agreement** (CodeT, Chen et al. 2023): the model's own tests a cluster passes. Wrong
  tests rarely agree with many versions, wrong versions rarely pass many tests;
- **functional overlap** (SRank, To et al. 2024): a cluster that agrees with other clusters on
  most inputs (a right version that differs from other right ones only on an input outside the
  contract, say an empty list) is backed by them, in proportion to how much they agree.

A cluster's *evidence* is ``size x (model tests passed + 1)`` (the +1 lets size speak when there
are no usable tests); its *support* is the evidence of every cluster, itself included, weighted
by the share of probe inputs on which the two agree. The cluster with the most support wins.
Computing support costs one pass over (clusters x probes): the outputs are grouped per probe.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Version:
    """What selection knows about one version that ran."""

    id: str
    outputs: tuple[str, ...]  # one string per probe (equal strings: equal behaviour)
    passed: frozenset[int]  # indices of the model's tests it passes
    program: str = ""  # id of the program it is (itself, or the original it duplicates)


@dataclass
class Cluster:
    outputs: tuple[str, ...]
    members: list[Version]
    passed: frozenset[int]
    evidence: float = 0.0
    support: float = 0.0

    @property
    def size(self) -> int:
        return len(self.members)

    def representative(self) -> Version:
        """The program written most often in the cluster, then the first in order."""
        counts = Counter(m.program or m.id for m in self.members)
        order = {m.id: i for i, m in enumerate(self.members)}
        best = max(counts, key=lambda p: (counts[p], -order.get(p, len(order))))
        return next((m for m in self.members if m.id == best), self.members[0])

    def copies(self, program: str) -> int:
        return sum(1 for m in self.members if (m.program or m.id) == program)


@dataclass
class Ranking:
    clusters: list[Cluster]  # best first
    n_versions: int
    n_probes: int  # 0: versions were compared on the model's tests only
    n_tests: int
    test_passers: Counter = field(default_factory=Counter)  # test index -> versions passing it

    @property
    def best(self) -> Cluster | None:
        return self.clusters[0] if self.clusters else None

    @property
    def thin(self) -> bool:
        """Every cluster holds a single version: no two versions agree on anything."""
        return all(c.size == 1 for c in self.clusters)

    def disputed(self, cluster: Cluster) -> int:
        """Model tests the cluster passes that most of the other versions fail."""
        others = self.n_versions - cluster.size
        return sum(1 for t in cluster.passed if others and self.test_passers[t] - cluster.size < others / 2)

    @staticmethod
    def shared(a: Cluster, b: Cluster) -> int:
        """On how many probes two clusters give the same output."""
        return sum(1 for x, y in zip(a.outputs, b.outputs) if x == y)

    def lead(self) -> float | None:
        """The winner's support over the runner-up's (None when there is no runner-up)."""
        if len(self.clusters) < 2 or self.clusters[1].support <= 0:
            return None
        return self.clusters[0].support / self.clusters[1].support


def clusters_of(versions: Sequence[Version]) -> list[Cluster]:
    by_outputs: dict[tuple[str, ...], list[Version]] = defaultdict(list)
    for v in versions:
        by_outputs[v.outputs].append(v)
    return [Cluster(out, members, frozenset.intersection(*(m.passed for m in members)))
            for out, members in by_outputs.items()]


def rank_by_behaviour(versions: Sequence[Version], n_tests: int, *, overlap: bool = True,
                      use_tests: bool = True, from_probes: bool = True) -> Ranking:
    """Clusters of ``versions`` best first (ties: larger cluster, then the earlier version).
    ``overlap=False`` scores clusters by their own evidence only; ``use_tests=False`` ignores the
    model's tests (both for comparisons in the benchmark). ``from_probes=False``: the outputs are
    pass/fail on the model's tests, not probe outputs."""
    clusters = clusters_of(versions)
    width = max((len(c.outputs) for c in clusters), default=0)
    for c in clusters:
        c.evidence = c.size * ((len(c.passed) if use_tests else 0) + 1)
    if overlap and width:
        weight_of: list[dict[str, float]] = [defaultdict(float) for _ in range(width)]
        for c in clusters:
            for p, out in enumerate(c.outputs):
                weight_of[p][out] += c.evidence
        for c in clusters:
            c.support = sum(weight_of[p][out] for p, out in enumerate(c.outputs)) / width
    else:
        for c in clusters:
            c.support = c.evidence
    first = {v.id: i for i, v in enumerate(versions)}
    clusters.sort(key=lambda c: (-c.support, -c.size, first[c.members[0].id]))
    passers: Counter = Counter()
    for v in versions:
        passers.update(v.passed)
    return Ranking(clusters, len(versions), width if from_probes else 0, n_tests, passers)
