"""Candidates (versions of a function) and the Generator protocol that produces them."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from pydantic import BaseModel, Field

from ai_code_evals.core.task import Task


class Candidate(BaseModel):
    """One version of a task's function: a whole program that defines the entry point."""

    id: str  # "<task_id>#<k>"
    task_id: str
    code: str
    label: str = ""  # short human description, e.g. "correct, O(n log n)" or a strategy name
    strategy: str = ""  # generation strategy (openai generator) or "hand-written"/"samples"
    origin: str = "offline"  # offline | samples | openai
    error: str | None = None  # set when no usable code could be obtained (status error)
    raw_reply: str | None = None  # the model's whole reply when code came from an LLM (always kept)
    request: dict = Field(default_factory=dict)  # what the model was sent: model, messages, parameters
    extraction: dict = Field(default_factory=dict)  # {"notes": [...]} or {"error": why no code}
    duplicate_of: str | None = None  # id of an equivalent candidate (executed once)
    multiplicity: int = 1
    usage: dict = Field(default_factory=dict)


def candidate_id(task_id: str, k: int) -> str:
    return f"{task_id}#{k}"


class Generator(Protocol):
    """Produces candidates for a task. Offline generators read packs and samples files;
    the openai generator asks a model with different variation strategies."""

    name: str

    def generate(self, task: Task, n: int) -> AsyncIterator[Candidate]: ...
