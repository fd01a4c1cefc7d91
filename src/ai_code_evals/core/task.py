"""The Task model: what a version of a function is asked to do and how it is checked.

Validated with pydantic so that a task file with a wrong type in a field gets one clear
message naming the field instead of a failure deep inside a sandbox.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TestCase(BaseModel):
    """One correctness test.

    kind ``case``: call ``entry_point(*args, **kwargs)`` and compare with ``expect``
    (or expect the exception named in ``raises``).
    kind ``code``: run assert statements that call the entry point by name.
    kind ``check``: HumanEval style, ``code`` defines ``check(candidate)`` which is called
    with the entry point.
    """

    model_config = ConfigDict(extra="forbid")
    __test__ = False  # not a pytest class

    kind: Literal["case", "code", "check"] = "case"
    name: str = ""
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    expect: Any = None
    raises: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _code_needs_code(self) -> TestCase:
        if self.kind in ("code", "check") and not self.code:
            raise ValueError(f"a test of kind {self.kind!r} needs a 'code' field")
        return self


class PerfCase(BaseModel):
    """A timing case: ``setup`` is a Python expression evaluated in the sandbox that builds
    the argument list (a tuple or list of positional args), timed over ``repeats`` calls."""

    model_config = ConfigDict(extra="forbid")

    name: str = "perf"
    setup: str
    repeats: int = Field(default=5, ge=1, le=1000)
    time_limit_s: float = Field(default=5.0, gt=0)


class Weights(BaseModel):
    """Relative weight of each part of the score (renormalised over the parts a task has)."""

    model_config = ConfigDict(extra="forbid")

    correctness: float = Field(default=0.6, ge=0)
    error_handling: float = Field(default=0.15, ge=0)
    speed: float = Field(default=0.15, ge=0)
    memory: float = Field(default=0.10, ge=0)


class Task(BaseModel):
    """A function to write, with the tests that judge its versions."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    prompt: str = ""
    entry_point: str = Field(min_length=1)
    signature: str | None = None
    tests: list[TestCase] = Field(default_factory=list)
    error_cases: list[TestCase] = Field(default_factory=list)
    perf: list[PerfCase] = Field(default_factory=list)
    reference: str | None = None
    weights: Weights = Field(default_factory=Weights)
    time_limit_s: float = Field(default=3.0, gt=0, description="per-test time limit")
    source: str = Field(default="", description="file and line the task came from")
    # True when the tests were derived from docstring examples rather than given.
    tests_from_docstring: bool = False
    # HumanEval style: a candidate's program is prompt + completion.
    completion_style: bool = False

    @property
    def tests_total(self) -> int:
        return len(self.tests)
