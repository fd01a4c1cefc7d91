"""The words sent to the model: one place to read and tune every prompt."""
from __future__ import annotations

from ai_code_evals.core.task import Task
from ai_code_evals.generation.strategies import PlannedVersion

CODE_SYSTEM = (
    "You are an expert Python programmer. You write one complete, self-contained Python function "
    "that satisfies the specification exactly. Reply with a single ```python code block containing "
    "the full function definition (with its imports and any helper functions), then nothing else: "
    "no tests, no example calls, no explanation."
)

TESTS_SYSTEM = (
    "You write unit tests as plain Python assert statements. Each assert calls the function by "
    "name with concrete arguments and compares the result with the exact expected value. Reply "
    "with one assert per line inside a single ```python code block and nothing else."
)

JUDGE_SYSTEM = (
    "You are a senior engineer choosing which of several versions of a function to ship. You are "
    "given each version's code and the results of running it in a sandbox: ground-truth tests, bad "
    "inputs handled, machine-generated tests (which may themselves be wrong), how many versions "
    "agree with it, timings and memory. Prefer versions that are correct, then robust, then fast "
    "and lean. Answer with JSON only: {\"winner\": \"<candidate id>\", \"reason\": \"<one sentence>\"}."
)


def task_spec(task: Task) -> str:
    """What the function must do, as the model should read it."""
    parts = []
    if task.prompt.strip():
        parts.append(task.prompt.rstrip())
    if task.signature and task.signature not in task.prompt:
        parts.append(f"Signature: {task.signature}")
    parts.append(f"The function must be named `{task.entry_point}`.")
    return "\n\n".join(parts)


def version_messages(task: Task, version: PlannedVersion) -> list[dict]:
    user = (f"{task_spec(task)}\n\n"
            f"Strategy for this version ({version.strategy.title}): {version.strategy.addendum}\n"
            "Other versions are written with other strategies, so follow this one.")
    return [{"role": "system", "content": CODE_SYSTEM}, {"role": "user", "content": user}]


def tests_messages(task: Task, count: int) -> list[dict]:
    user = (f"{task_spec(task)}\n\n"
            f"Write {count} assert statements that check `{task.entry_point}` on typical inputs and on "
            "edge cases (empty input, boundaries, duplicates, negative numbers where they make sense). "
            "Do not implement the function.")
    return [{"role": "system", "content": TESTS_SYSTEM}, {"role": "user", "content": user}]


def judge_messages(task: Task, table: str, code: str) -> list[dict]:
    user = (f"Specification:\n{task_spec(task)}\n\nExecution results:\n{table}\n\n"
            f"Code of each version:\n{code}\n\n"
            "Which version should be shipped? Name exactly one candidate id from the table.")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
