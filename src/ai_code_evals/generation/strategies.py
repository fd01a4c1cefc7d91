"""Variation strategies: why the versions of one function genuinely differ.

Asking a model N times with the same prompt mostly returns the same function N times. Each
requested version therefore gets its own strategy (a written instruction appended to the prompt)
and its own temperature. Strategies are cycled for N larger than the list; each further cycle
raises the temperature a little so the repeats still differ.
"""
from __future__ import annotations

from dataclasses import dataclass

from ai_code_evals.core.errors import ConfigError


@dataclass(frozen=True)
class Strategy:
    name: str  # short id, recorded as Candidate.strategy
    title: str  # human description, shown as the candidate's label
    addendum: str  # appended to the user prompt
    temperature: float


STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "simplest", "simplest correct version",
        "Write the simplest correct implementation: straightforward control flow, no cleverness, "
        "easy to review. Correctness on every valid input matters more than speed.",
        0.2),
    Strategy(
        "fastest", "fastest for large inputs",
        "Optimise for large inputs: choose the algorithm with the best time complexity you know, "
        "avoid repeated work and quadratic loops, and prefer built-ins implemented in C.",
        0.5),
    Strategy(
        "defensive", "most defensive about bad input",
        "Be defensive: validate the arguments and raise TypeError or ValueError with a clear "
        "message for invalid input, and handle edge cases (empty input, zero, negative numbers, "
        "None, very large values) explicitly while keeping valid behaviour exactly as specified.",
        0.4),
    Strategy(
        "alternative", "a different algorithm than the obvious one",
        "Use a different algorithm or approach than the most obvious one (for example recursion "
        "instead of a loop, a mathematical identity, sorting, a dictionary, or two pointers), "
        "while staying correct on every valid input.",
        0.9),
    Strategy(
        "memory-lean", "memory-lean",
        "Minimise memory use: process the input in a single pass where possible, avoid building "
        "intermediate lists or copies, and prefer generators and in-place updates.",
        0.5),
    Strategy(
        "idiomatic", "idiomatic Python",
        "Write idiomatic, Pythonic code that uses the standard library well (comprehensions, "
        "itertools, collections, functools) while staying correct on edge cases.",
        0.7),
    Strategy(
        "iterative", "iterative, no recursion",
        "Do not use recursion: write an iterative implementation that cannot hit the recursion "
        "limit on deep or long inputs.",
        0.6),
    Strategy(
        "careful-edges", "careful about edge cases",
        "Before writing the code, think about the boundary cases the description implies (empty "
        "input, a single element, duplicates, ties, off-by-one limits) and make sure each is "
        "handled exactly as the description says.",
        0.3),
)

BY_NAME = {s.name: s for s in STRATEGIES}
TEMPERATURE_STEP = 0.15  # added per repeat cycle
MAX_TEMPERATURE = 1.3


@dataclass(frozen=True)
class PlannedVersion:
    k: int  # index of the version within its task, from 0
    strategy: Strategy
    temperature: float

    @property
    def label(self) -> str:
        return f"{self.strategy.title} (T={self.temperature:.2f})"


def choose(names: list[str] | None) -> tuple[Strategy, ...]:
    """The strategies to cycle through: all of them, or the named ones in the given order."""
    if not names:
        return STRATEGIES
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(f"unknown generation strategy {unknown[0]!r} "
                          f"(choose from {', '.join(BY_NAME)})")
    return tuple(BY_NAME[n] for n in names)


def plan(n: int, strategies: tuple[Strategy, ...] = STRATEGIES) -> list[PlannedVersion]:
    """One (strategy, temperature) per requested version, cycling the strategies."""
    out = []
    for k in range(max(0, n)):
        strategy = strategies[k % len(strategies)]
        cycle = k // len(strategies)
        temperature = min(MAX_TEMPERATURE, strategy.temperature + cycle * TEMPERATURE_STEP)
        out.append(PlannedVersion(k, strategy, round(temperature, 2)))
    return out
