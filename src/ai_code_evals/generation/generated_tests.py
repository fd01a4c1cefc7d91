"""`--generate-tests`: ask the model for assert statements per task (CodeT's generated tests).

The asserts may be wrong; they are used only to let versions vote (agreement selection) and
never reported as correctness. Replies are parsed leniently and each assert is checked on its
own, so one bad line costs that line only.
"""
from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterable, Mapping

from ai_code_evals.core.events import EngineNotice, EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.generation.extract import fenced_blocks
from ai_code_evals.generation.openai_client import ChatClient, ChatError
from ai_code_evals.generation.openai_settings import OpenAISettings
from ai_code_evals.generation.prompts import tests_messages

BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
MAX_ASSERT_LINES = 12  # an assert spread over more lines than this is not a unit test


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(node))


def _as_assert(src: str, entry_point: str) -> str | None:
    """The assert in ``src`` as one canonical line, or None when it is not a usable test."""
    try:
        tree = ast.parse(src.strip())
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    node = tree.body[0]
    if not _calls(node.test, entry_point):
        return None
    return ast.unparse(ast.Assert(test=node.test, msg=None))


def _repl_pairs(lines: list[str], entry_point: str) -> list[str]:
    """Docstring style: ``>>> f(1)`` followed by the expected value."""
    out = []
    for i, line in enumerate(lines[:-1]):
        s = line.strip()
        nxt = lines[i + 1].strip()
        if s.startswith(">>> ") and nxt and not nxt.startswith(">>>"):
            test = _as_assert(f"assert ({s[4:]}) == ({nxt})", entry_point)
            if test:
                out.append(test)
    return out


def parse_asserts(reply: str, entry_point: str, limit: int = 50) -> list[str]:
    """Assert statements calling ``entry_point`` found in a reply, one line each, deduplicated."""
    blocks = [b.text for b in fenced_blocks(reply) if b.lang in ("", "python", "py", "python3", "pycon")]
    text = "\n".join(blocks) if blocks else reply
    found: list[str] = []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        for node in tree.body:
            if isinstance(node, ast.Assert):
                test = _as_assert(ast.get_source_segment(text, node) or "", entry_point)
                if test:
                    found.append(test)
    else:
        lines = [BULLET.sub("", line).strip().strip("`") for line in text.splitlines()]
        for i, line in enumerate(lines):
            if not line.startswith("assert"):
                continue
            for end in range(i + 1, min(len(lines), i + MAX_ASSERT_LINES) + 1):
                test = _as_assert("\n".join(lines[i:end]), entry_point)
                if test:
                    found.append(test)
                    break
    found += _repl_pairs(text.splitlines(), entry_point)
    unique = list(dict.fromkeys(found))
    return unique[:limit]


async def tests_for_task(task: Task, client: ChatClient, count: int) -> list[str]:
    reply = await client.chat(tests_messages(task, count), temperature=0.2)
    return parse_asserts(reply.text, task.entry_point, limit=2 * count)


async def generate_tests(tasks: Iterable[Task], settings: OpenAISettings | Mapping[str, str] | None = None,
                         *, bus: EventBus | None = None, client: ChatClient | None = None
                         ) -> dict[str, list[str]]:
    """{task_id: [assert, ...]} for every task the model gave at least one usable assert for.

    ``settings`` is an OpenAISettings or a settings mapping (None: the app settings, loaded).
    A task whose request fails is left out with a notice on ``bus``; this never raises for
    network trouble (ConfigError when nothing is configured).
    """
    if not isinstance(settings, OpenAISettings):
        settings = OpenAISettings.from_env(settings, purpose="--generate-tests")
    own = client is None
    client = client or ChatClient(settings)
    tasks = list(tasks)

    async def one(task: Task) -> tuple[str, list[str]]:
        try:
            tests = await tests_for_task(task, client, settings.tests_per_task)
        except ChatError as exc:
            if bus is not None:
                bus.publish(EngineNotice(f"{task.id}: no generated tests ({exc})"))
            return task.id, []
        if not tests and bus is not None:
            bus.publish(EngineNotice(f"{task.id}: the model's reply had no usable assert statements"))
        return task.id, tests

    try:
        pairs = await asyncio.gather(*(one(t) for t in tasks))
    finally:
        if own:
            await client.aclose()
    return {tid: tests for tid, tests in pairs if tests}


def generate_tests_sync(tasks: Iterable[Task], settings: OpenAISettings | Mapping[str, str] | None = None,
                        *, bus: EventBus | None = None) -> dict[str, list[str]]:
    """generate_tests for callers outside an event loop."""
    return asyncio.run(generate_tests(tasks, settings, bus=bus))
