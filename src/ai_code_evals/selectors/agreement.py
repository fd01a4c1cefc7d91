"""`agreement` selection: the version whose behaviour the most evidence backs, with no trusted test.

Uses only what the engine already computed while running each version once: its outputs on the
task's probe inputs (``probe_outputs``) and the model's tests it passes (``generated_passed``).
``generation/behaviour.py`` ranks the behaviour clusters; this module picks the pool, turns the
ranking into a winner and a reason that says what decided and how sure it is, and, when a model
is configured and the top clusters are within a few percent of each other, lets the judge break
the tie. When a task has real tests, only the versions passing the most of them take part.
"""
from __future__ import annotations

from ai_code_evals.core.appclock import timed
from ai_code_evals.engine.calls import parse_generated_test
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.scoring import Selection, select_by_score
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.behaviour import Cluster, Ranking, Version, rank_by_behaviour
from ai_code_evals.selectors.codet import candidate_pool, n_generated
from ai_code_evals.selectors.judge import configured as judge_configured
from ai_code_evals.selectors.judge import select_by_judge

CLEAR_LEAD = 1.5  # winner's support over the runner-up's: "clear" above, "narrow" under NARROW_LEAD
NARROW_LEAD = 1.1
JUDGE_FIELD = 4  # at most this many near-tied clusters go to the judge


def _outputs(r: CandidateResult, n_probes: int, n_tests: int) -> tuple[str, ...]:
    """A version's behaviour signature: its probe outputs (padded with "not run"); with no probes,
    which of the model's tests it passes."""
    if n_probes:
        outs = list(getattr(r, "probe_outputs", None) or [])[:n_probes]
        return tuple(outs + ["x"] * (n_probes - len(outs)))
    passed = set(r.generated_passed)
    return tuple("v:pass" if i in passed else "v:fail" for i in range(n_tests))


def no_winner_reason(results: list[CandidateResult]) -> str:
    """Why no version can be picked: what happened to them, most common first."""
    if not results:
        return "no winner: the task has no versions"
    counts: dict[str, int] = {}
    for r in results:
        why = (r.reason or r.status).split(";")[0][:80]
        counts[why] = counts.get(why, 0) + 1
    parts = [f"{n} {why}" for why, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3]]
    return f"no winner: none of the {len(results)} versions ran ({'; '.join(parts)})"


def usable_tests(ctx: SelectionContext) -> int:
    """The model's tests that ran as literal calls (the others were dropped before running)."""
    if not ctx.generated_tests:
        return n_generated(ctx)
    return sum(1 for t in ctx.generated_tests if parse_generated_test(t, ctx.task.entry_point) is not None)


@timed("selection")
def rank_task(ctx: SelectionContext) -> tuple[Ranking, dict[str, CandidateResult]]:
    pool = candidate_pool(ctx)
    n_tests = n_generated(ctx)
    n_probes = max((len(getattr(r, "probe_outputs", None) or []) for r in pool), default=0)
    versions = [Version(r.candidate_id, _outputs(r, n_probes, n_tests), frozenset(r.generated_passed),
                        r.duplicate_of or r.candidate_id) for r in pool]
    return rank_by_behaviour(versions, n_tests, from_probes=n_probes > 0), {r.candidate_id: r for r in pool}


def _decider(ranking: Ranking, best: Cluster) -> str:
    larger = [c for c in ranking.clusters if c.size > best.size]
    if not larger:
        return "largest behaviour cluster"
    if all(len(best.passed) > len(c.passed) for c in larger):
        return "behaviour cluster passing the most model tests"
    return "behaviour cluster most backed by similar ones"


def _confidence(ranking: Ranking, judged: str | None) -> str:
    if ranking.thin and ranking.n_versions > 1:
        return "thin evidence: every behaviour cluster has one version (no two versions agree)"
    lead = ranking.lead()
    if lead is None:
        return "every version that ran behaves alike"
    first, second = ranking.clusters[0], ranking.clusters[1]
    alike = ""
    if ranking.n_probes and lead < CLEAR_LEAD:
        alike = f" (which agrees with it on {ranking.shared(first, second)} of {ranking.n_probes} inputs)"
    if judged:
        return f"narrow lead ({lead:.2f}× the next cluster's support{alike}), the judge broke the tie: {judged}"
    if lead >= CLEAR_LEAD:
        return f"clear lead: {lead:.1f}× the next cluster's support"
    if lead >= NARROW_LEAD:
        return f"moderate lead: {lead:.2f}× the next cluster's support{alike}"
    return f"narrow lead: {lead:.2f}× the next cluster's support{alike}"


def describe(ranking: Ranking, best: Cluster, winner: str, result: CandidateResult,
             judged: str | None = None, usable: int | None = None) -> str:
    inputs = f"{ranking.n_probes} inputs" if ranking.n_probes else f"{ranking.n_tests} model tests"
    if best.size == 1:
        who = f"a single version of {ranking.n_versions} (no other behaves the same on the {inputs})"
    else:
        who = f"{best.size} of {ranking.n_versions} versions agree on {inputs}"
    bits = [f"{_decider(ranking, best)}: {who}"]
    if ranking.n_tests:
        disputed = ranking.disputed(best)
        usable = ranking.n_tests if usable is None else usable
        tests = f"passes {len(best.passed)}/{usable} model tests"
        if disputed:
            tests += f", {disputed} of them disputed"
        if usable < ranking.n_tests:
            tests += f" ({ranking.n_tests - usable} of {ranking.n_tests} dropped: not a literal call)"
        bits.append(tests)
    copies = best.copies(winner)
    if copies > 1:
        bits.append(f"the same program written {copies} times")
    if result.tests_total:
        bits.append(f"passes {result.tests_passed}/{result.tests_total} tests")
    bits.append(_confidence(ranking, judged))
    return f"{winner}: " + "; ".join(bits)


async def _judge_tie(ctx: SelectionContext, ranking: Ranking, results: dict[str, CandidateResult]
                     ) -> tuple[Cluster, str] | None:
    """The judge's pick among near-tied clusters, when a model is configured; None otherwise."""
    lead = ranking.lead()
    if lead is None or lead >= NARROW_LEAD or not judge_configured():
        return None
    top = ranking.clusters[0].support
    field = [c for c in ranking.clusters[:JUDGE_FIELD] if c.support * NARROW_LEAD >= top]
    reps = {c.representative().program or c.representative().id: c for c in field}
    sub = SelectionContext(task=ctx.task, results=[results[i] for i in reps if i in results],
                           candidates=ctx.candidates, generated_tests=ctx.generated_tests)
    sel = await select_by_judge(sub)
    if sub.notices or sel.winner not in reps:
        ctx.notices.extend(f"agreement tie-break: {n}" for n in sub.notices)
        return None
    return reps[sel.winner], sel.reason.split(": ", 1)[-1]


async def select_by_agreement(ctx: SelectionContext) -> Selection:
    ranking, results = rank_task(ctx)
    if not ranking.clusters:
        return Selection(None, no_winner_reason(ctx.results))
    if not ranking.n_probes and not ranking.n_tests:
        if ctx.task.tests:
            ctx.notices.append("agreement selection found no probe input and no model test to compare "
                               "versions on; selected by score")
            return select_by_score(ctx.results)
        return Selection(None, f"no winner: {ranking.n_versions} version(s) ran, but there is nothing to tell "
                               "them apart (no test, no model test, no probe input: give the function's "
                               "signature or --generated-tests)")
    best, judged = ranking.clusters[0], None
    tie = await _judge_tie(ctx, ranking, results)
    if tie is not None:
        best, judged = tie
    rep = best.representative()
    winner = rep.program or rep.id
    return Selection(winner, describe(ranking, best, winner, results.get(winner, results[rep.id]), judged,
                                      usable_tests(ctx)))
