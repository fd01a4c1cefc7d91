"""`judge` selection: an LLM reads the execution results and the code and names a winner.

The model sees what happened when each version ran (tests, bad inputs, generated tests,
agreement, errors, time, memory), not just the code. Its answer is structured output where the
server supports it and parsed from text where not; a winner that is not one of the usable
candidates, an unparsable answer or a network failure falls back to `score` with a notice.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.engine.scoring import Selection, rank_key, select_by_score
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.openai_settings import OpenAISettings
from ai_code_evals.generation.prompts import judge_messages
from ai_code_evals.selectors.codet import NOT_RUN, agreement_groups, n_generated

if TYPE_CHECKING:  # the client (and openai, ~0.5 s to import) loads only when a judge is asked
    from ai_code_evals.generation.openai_client import ChatClient

MAX_CODE_CHARS = 4000  # per version shown to the judge
MAX_TOTAL_CODE_CHARS = 40000
MAX_REASON_CHARS = 300


@dataclass
class _Config:
    settings: OpenAISettings | None = None
    client: ChatClient | None = None


_config = _Config()


def configure(settings: OpenAISettings | None = None, client: ChatClient | None = None) -> None:
    """Use these settings/client for the judge (default: from the app settings, loaded)."""
    _config.settings = settings
    _config.client = client


def configured() -> bool:
    """Whether a model was set up for judging (``agreement`` then asks it to break near-ties)."""
    return _config.settings is not None or _config.client is not None


def configure_from_env(env: Mapping[str, str] | None = None, *, model: str | None = None) -> None:
    """For a run that asked for ``--select judge``: read the endpoint now, so a missing setting
    is one ConfigError before any sandbox starts rather than a fallback at the end."""
    configure(OpenAISettings.from_env(env, model=model, purpose="--select judge"))


def verdict_schema(ids: list[str]) -> dict:
    return {"type": "json_schema", "json_schema": {
        "name": "judge_verdict", "strict": True,
        "schema": {"type": "object", "additionalProperties": False, "required": ["winner", "reason"],
                   "properties": {"winner": {"type": "string", "enum": ids},
                                  "reason": {"type": "string"}}}}}


def _cell(value) -> str:
    return "-" if value is None else str(value).replace("|", "/").replace("\n", " ")


def results_table(ctx: SelectionContext) -> str:
    """A markdown table of what each version did when it ran."""
    total_gen = n_generated(ctx)
    agree = {}
    for g in agreement_groups([r for r in ctx.results if r.status not in NOT_RUN], ctx.candidates):
        for m in g.members:
            agree[m.candidate_id] = g.weight
    head = ("| id | strategy | status | tests | bad inputs | generated tests | versions agreeing | "
            "median ms | peak KiB | score | notes |")
    lines = [head, "|" + "---|" * 11]
    for r in sorted(ctx.results, key=lambda r: r.candidate_id):
        cand = ctx.candidates.get(r.candidate_id)
        notes = r.reason
        if r.duplicate_of:
            notes = f"same program as {r.duplicate_of}"
        elif r.failures:
            f = r.failures[0]
            notes = f"{r.reason}; first failure: {f.get('group')} {f.get('name')}: {f.get('error')}"
        lines.append("| " + " | ".join(_cell(v) for v in (
            r.candidate_id, cand.strategy if cand else "", r.status,
            f"{r.tests_passed}/{r.tests_total}" if r.tests_total else "none",
            f"{r.errors_handled}/{r.errors_total}" if r.errors_total else "none",
            f"{len(r.generated_passed)}/{total_gen}" if total_gen else "none",
            agree.get(r.candidate_id, 0) if total_gen else "-",
            r.median_ms, r.peak_kib, r.score, notes[:200])) + " |")
    return "\n".join(lines)


def code_listing(ctx: SelectionContext, ids: list[str]) -> str:
    parts, used = [], 0
    for cid in ids:
        code = ctx.candidates[cid].code if cid in ctx.candidates else ""
        if len(code) > MAX_CODE_CHARS:
            code = code[:MAX_CODE_CHARS] + "\n# ... (truncated)"
        if used + len(code) > MAX_TOTAL_CODE_CHARS:
            parts.append(f"### {cid}\n(code omitted: too long for one request)")
            continue
        used += len(code)
        parts.append(f"### {cid}\n```python\n{code}\n```")
    return "\n\n".join(parts)


def parse_verdict(text: str) -> dict | None:
    """The first JSON object in ``text`` with a string ``winner``, or None."""
    text = text.strip()
    candidates = [text]
    candidates += re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", text, flags=re.DOTALL)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for chunk in candidates:
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("winner"), str):
            return data
    return None


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"


async def _ask(client: ChatClient, ctx: SelectionContext, ids: list[str], model: str) -> str:
    from ai_code_evals.generation.openai_client import ChatError

    messages = judge_messages(ctx.task, results_table(ctx), code_listing(ctx, ids))
    try:
        reply = await client.chat(messages, temperature=0.0, model=model, stream=False,
                                  response_format=verdict_schema(ids))
    except ChatError as exc:
        if not exc.response_format_refused:
            raise
        reply = await client.chat(messages, temperature=0.0, model=model, stream=False)
    return reply.text


async def select_by_judge(ctx: SelectionContext) -> Selection:
    eligible = sorted((r for r in ctx.results if r.status not in NOT_RUN and r.duplicate_of is None
                       and r.candidate_id in ctx.candidates and ctx.candidates[r.candidate_id].code),
                      key=rank_key)
    if not eligible:
        return select_by_score(ctx.results)
    if len(eligible) == 1:
        only = eligible[0]
        return Selection(only.candidate_id, f"{only.candidate_id}: the only version that ran ({only.reason})")
    ids = [r.candidate_id for r in eligible]
    from ai_code_evals.generation.openai_client import ChatClient, ChatError

    def fallback(why: str) -> Selection:
        ctx.notices.append(f"judge: {why}; selected by score")
        return select_by_score(ctx.results)

    try:
        settings = _config.settings or OpenAISettings.from_env(purpose="--select judge")
    except ConfigError as exc:
        return fallback(str(exc))
    own = _config.client is None
    client = _config.client or ChatClient(settings)
    try:
        text = await _ask(client, ctx, ids, settings.judge_model or settings.model)
    except ChatError as exc:
        return fallback(f"no answer ({exc})")
    finally:
        if own:
            await client.aclose()
    verdict = parse_verdict(text)
    if verdict is None:
        return fallback(f"the answer is not JSON with a winner: {_one_line(text)[:120]!r}")
    winner = verdict["winner"].strip()
    dup = next((r.duplicate_of for r in ctx.results if r.candidate_id == winner and r.duplicate_of), None)
    winner = dup or winner
    if winner not in ids:
        return fallback(f"the answer names {winner!r}, which is not one of the usable versions")
    reason = _one_line(verdict.get("reason") or "no reason given")
    return Selection(winner, f"{winner}: judge ({settings.judge_model or settings.model}): {reason}")
