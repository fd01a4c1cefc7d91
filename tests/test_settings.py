"""Settings: `.env.example` lists every setting the app reads, and a `.env` in the working
directory is honoured for every ACE_* setting, including those read outside the generator
(theme, theme directory, isolation level, warm path, config file)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ai_code_evals.core.config import file_config, settings_env
from ai_code_evals.sandbox import warm
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.tui.app import WorkspaceApp

ROOT = Path(__file__).resolve().parents[1]
ACE_NAMES = ("ACE_THEME", "ACE_THEME_DIR", "ACE_ISOLATION", "ACE_WARM", "ACE_CONFIG", "ACE_MODEL")


def names_read_by_the_app() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "ai_code_evals").rglob("*.py"):
        found |= set(re.findall(r"[\"'](ACE_[A-Z0-9_]+|OPENAI_[A-Z_]+|DAYTONA_[A-Z_]+)[\"']", path.read_text()))
    return found


def example_settings() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(\S*)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_env_example_lists_every_setting_the_app_reads():
    missing = names_read_by_the_app() - set(example_settings())
    assert not missing, f".env.example does not list {sorted(missing)}"


def test_env_example_theme_is_a_shipped_theme():
    shipped = {tomllib.loads(p.read_text())["name"] for p in (ROOT / "themes").glob("*.toml")}
    assert example_settings()["ACE_THEME"] in shipped


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """A working directory with a .env, and none of its settings in the real environment."""
    for name in ACE_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_dotenv_theme_and_theme_dir_reach_the_app(in_project):
    themes = in_project / "mine"
    themes.mkdir()
    (themes / "sea.toml").write_text('name = "sea"\nprimary = "#0077be"\ndark = true\n')
    (in_project / ".env").write_text(f"ACE_THEME=sea\nACE_THEME_DIR={themes}\n")
    app = WorkspaceApp()
    async with app.run_test(size=(100, 30)):
        assert app.theme == "sea" and "sea" in app.theme_names


def test_dotenv_isolation_and_warm_reach_the_local_backend(in_project):
    (in_project / ".env").write_text("ACE_ISOLATION=rlimits\nACE_WARM=0\n")
    assert LocalBackend()._forced == "rlimits"
    assert warm.enabled() is False


def test_dotenv_names_the_config_file(in_project):
    conf = in_project / "conf" / "mine.toml"
    conf.parent.mkdir()
    conf.write_text('[env]\nACE_MODEL = "from-toml"\n')
    (in_project / ".env").write_text(f"ACE_CONFIG={conf}\n")
    assert file_config() == {"env": {"ACE_MODEL": "from-toml"}}
    assert settings_env()["ACE_MODEL"] == "from-toml"


def test_a_bad_daytona_concurrency_is_one_config_error_not_a_traceback():
    from ai_code_evals.core.errors import ConfigError
    from ai_code_evals.session import default_jobs

    assert default_jobs("daytona", {"ACE_DAYTONA_CONCURRENCY": "3"}) == 3
    with pytest.raises(ConfigError, match="ACE_DAYTONA_CONCURRENCY must be a whole number, got 'many'"):
        default_jobs("daytona", {"ACE_DAYTONA_CONCURRENCY": "many"})
