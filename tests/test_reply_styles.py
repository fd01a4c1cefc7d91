"""Each way a chat model wraps its code (tests/reply_styles.py) keeps the code the model meant:
served by the OpenAI test double over real HTTP, streamed and not, read by the unmodified openai
client and the project's generator. The full measurement on 820 real CodeGen replies per style is
benchmarks/bench_extraction.py; these are small real-looking HumanEval problems.

Before the fix, a fenced function whose docstring held doctest examples came out as "no usable code"
(only the ``>>>`` lines were kept)."""
from __future__ import annotations

import pytest
from openai_server import OpenAITestServer, Reply
from reply_styles import STYLES, Underlying

from ai_code_evals.core.task import Task
from ai_code_evals.generation.openai_client import ChatClient
from ai_code_evals.generation.openai_gen import OpenAIGenerator
from ai_code_evals.generation.openai_settings import OpenAISettings

BELOW_ZERO = Underlying(
    prompt=('from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n'
            '    """ You\'re given a list of deposit and withdrawal operations on a bank account that starts\n'
            '    with zero balance. Your task is to detect if at any point the balance of account falls below\n'
            '    zero, and at that point function should return True. Otherwise it should return False.\n'
            '    """\n'),
    completion=("    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n"
                "            return True\n    return False\n\n"),
    entry_point="below_zero", example_call="below_zero([1, 2, -4, 5])", example_output="True")

MAKE_PALINDROME = Underlying(  # a helper in the prompt that the completion calls
    prompt=('def is_palindrome(string: str) -> bool:\n    """ Test if given string is a palindrome """\n'
            '    return string == string[::-1]\n\n\ndef make_palindrome(string: str) -> str:\n'
            '    """ Find the shortest palindrome that begins with a supplied string.\n    """\n'),
    completion=("    if not string:\n        return ''\n    beginning_of_suffix = 0\n\n"
                "    while not is_palindrome(string[beginning_of_suffix:]):\n        beginning_of_suffix += 1\n\n"
                "    return string + string[:beginning_of_suffix][::-1]\n"),
    entry_point="make_palindrome", example_call="make_palindrome('cat')", example_output="'catac'")

CHECKS = {"below_zero": [(([1, 2, -4, 5],), True), (([1, 2, 3],), False), (([],), False)],
          "make_palindrome": [(("cat",), "catac"), (("",), ""), (("cata",), "catac")]}


def run(code: str, entry: str, *args):
    ns: dict = {}
    exec(compile(code, "candidate.py", "exec"), ns)  # noqa: S102 - the test's own programs
    return ns[entry](*args)


async def generated(u: Underlying, style: str, stream: bool):
    task = Task(id=f"HumanEval/{u.entry_point}", prompt=u.prompt, entry_point=u.entry_point, completion_style=True)
    reply = STYLES[style](u)  # built here: the server's thread only sends it
    with OpenAITestServer(lambda req: Reply(reply, chunk_chars=7)) as srv:
        settings = OpenAISettings(api_key="sk-test", base_url=srv.base_url, model="m", stream=stream)
        gen = OpenAIGenerator(settings, client=ChatClient(settings))
        try:
            [cand] = [c async for c in gen.generate(task, 1)]
        finally:
            await gen.aclose()
        assert srv.requests[0].get("stream", False) is stream
    return cand


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("u", [BELOW_ZERO, MAKE_PALINDROME], ids=lambda u: u.entry_point)
async def test_every_reply_style_keeps_the_models_code(u, style, stream):
    cand = await generated(u, style, stream)
    assert cand.error is None, cand.error
    assert cand.raw_reply == STYLES[style](u)  # the reply is kept whole, streamed or not
    for args, want in CHECKS[u.entry_point]:
        assert run(cand.code, u.entry_point, *args) == want
    assert "print(" not in cand.code and "__main__" not in cand.code  # usage and demos dropped


def test_doctest_examples_in_the_docstring_are_kept_as_part_of_the_function():
    reply = STYLES["fenced+doctests"](BELOW_ZERO)
    assert ">>> below_zero([1, 2, -4, 5])" in reply
    from ai_code_evals.generation.extract import extract_program

    got = extract_program(reply, "below_zero", prompt=BELOW_ZERO.prompt)
    assert ">>> below_zero([1, 2, -4, 5])" in got.code  # the docstring is intact
    assert run(got.code, "below_zero", [1, -2]) is True
