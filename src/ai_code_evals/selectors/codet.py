"""`codet` selection (the baseline of `agreement`): execution agreement on generated tests.

CodeT (Chen et al., ICLR 2023) groups sampled programs by the set of generated tests they pass
and scores a group by (number of programs in it) x (number of tests it passes): wrong programs
rarely agree with each other, and wrong tests rarely agree with many programs. This needs no
ground-truth tests. When a task does have tests, only the versions passing the most of them take
part, so agreement breaks ties among the best instead of overruling real tests.
"""
from __future__ import annotations

from dataclasses import dataclass

from ai_code_evals.core.appclock import timed
from ai_code_evals.core.candidate import Candidate
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.scoring import Selection, rank_key, select_by_score
from ai_code_evals.engine.selection import SelectionContext

NOT_RUN = ("error", "skipped")  # never reached the tests: no vote


@dataclass
class Group:
    tests: frozenset[int]  # indices of the generated tests every member passes
    members: list[CandidateResult]
    weight: int  # members counted with multiplicity (duplicates are members too)

    @property
    def score(self) -> int:
        return self.weight * len(self.tests)

    def copies(self, cid: str) -> int:
        """How many members are this very program (itself plus its duplicates)."""
        return sum(1 for r in self.members if r.candidate_id == cid or r.duplicate_of == cid)

    def best(self) -> CandidateResult:
        """The program written most often within the group (independent samples converging on
        the same code is evidence the tests cannot give), then the ranking score."""
        originals = [r for r in self.members if r.duplicate_of is None] or self.members
        return min(originals, key=lambda r: (-self.copies(r.candidate_id), rank_key(r)))


def _weight(r: CandidateResult, candidates: dict[str, Candidate]) -> int:
    cand = candidates.get(r.candidate_id)
    return max(1, cand.multiplicity) if cand else 1


@timed("selection")
def agreement_groups(results: list[CandidateResult], candidates: dict[str, Candidate] | None = None
                     ) -> list[Group]:
    """Groups of versions that pass exactly the same generated tests, best first: by score, then
    tests passed, then the rank of the group's best member (deterministic)."""
    candidates = candidates or {}
    by_set: dict[frozenset[int], list[CandidateResult]] = {}
    for r in results:
        by_set.setdefault(frozenset(r.generated_passed), []).append(r)
    groups = [Group(tests, members, sum(_weight(m, candidates) for m in members))
              for tests, members in by_set.items()]
    groups.sort(key=lambda g: (-g.score, -len(g.tests), rank_key(g.best())))
    return groups


def candidate_pool(ctx: SelectionContext) -> list[CandidateResult]:
    """The versions selection may pick from: those that ran, and of a task with tests, only
    those passing the most of them."""
    ran = [r for r in ctx.results if r.status not in NOT_RUN]
    if ctx.task.tests and ran:
        top = max(r.tests_passed for r in ran)
        ran = [r for r in ran if r.tests_passed == top]
    return ran


def n_generated(ctx: SelectionContext) -> int:
    return len(ctx.generated_tests) or max((r.generated_total for r in ctx.results), default=0)


async def select_by_codet(ctx: SelectionContext) -> Selection:
    total_gen = n_generated(ctx)
    if total_gen == 0:
        ctx.notices.append("codet selection needs generated tests and this task has none "
                           "(use --generate-tests or --generated-tests); selected by score")
        return select_by_score(ctx.results)
    pool = candidate_pool(ctx)
    groups = agreement_groups(pool, ctx.candidates)
    if not groups or groups[0].score == 0:
        ctx.notices.append("no version passes any generated test; selected by score")
        return select_by_score(ctx.results)
    best = groups[0]
    winner = best.best()
    everyone = sum(_weight(r, ctx.candidates) for r in ctx.results)
    reason = (f"{winner.candidate_id}: {best.weight} of {everyone} versions agree on "
              f"{len(best.tests)}/{total_gen} generated tests (group score {best.score}")
    if len(groups) > 1:
        reason += f", next {groups[1].weight}×{len(groups[1].tests)}={groups[1].score}"
    reason += ")"
    if best.copies(winner.candidate_id) > 1:
        reason += f"; {best.copies(winner.candidate_id)} of them are this same program"
    if ctx.task.tests:
        reason += f"; passes {winner.tests_passed}/{winner.tests_total} tests"
    return Selection(winner.candidate_id, reason)
