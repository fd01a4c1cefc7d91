"""Shared pytest setup: `--runslow` enables tests marked slow (soak, long crash loops)."""
import signal

import pytest

# CI may start the suite in the background of a non-interactive shell, where SIGINT is ignored
# and every child inherits that: the Ctrl-C tests need children that can be interrupted.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def server():
    """The Daytona test double (tests/daytona_server.py) on a free port for one test; afterwards,
    nothing it sent may have been outside what the SDK's models accept. Test modules of the
    OpenAI test double define a ``server`` of their own, which wins there."""
    from daytona_server import DaytonaTestServer  # imported when used: the SDK is slow to import

    srv = await DaytonaTestServer().start()
    try:
        yield srv
    finally:
        await srv.close()
    assert srv.drift == [], "the test double sent something the SDK's models do not accept"
