"""Settings: one validated object (core.settings.Settings, pydantic-settings) read from the
environment > `.env` > `ai-code-evals.toml`; `.env.example` lists exactly the settings it has; a
`.env` is honoured for every setting, including those read outside the generator (theme, theme
directory, isolation level, warm path, config file); a bad value is one line naming it."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ai_code_evals.core.config import file_config
from ai_code_evals.core.settings import Settings
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.sandbox.registry import make_backend
from ai_code_evals.tui.app import WorkspaceApp

ROOT = Path(__file__).resolve().parents[1]
ACE_NAMES = ("ACE_THEME", "ACE_THEME_DIR", "ACE_ISOLATION", "ACE_WARM", "ACE_CONFIG", "ACE_MODEL")


def names_read_by_the_app() -> set[str]:
    found: set[str] = {name.upper() for name in Settings.model_fields}
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


def test_every_listed_setting_is_a_field_of_the_one_settings_object():
    stale = set(example_settings()) - {name.upper() for name in Settings.model_fields}
    assert not stale, f".env.example lists {sorted(stale)}, which nothing reads"


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


def test_dotenv_isolation_warm_and_cgroups_reach_the_local_backend(in_project):
    """The sandbox package reads no settings: the registry's factory passes them down."""
    (in_project / ".env").write_text("ACE_ISOLATION=rlimits\nACE_WARM=0\nACE_CGROUPS=off\n")
    backend = make_backend("local", None, unsafe=True)
    assert backend._forced == "rlimits" and backend.warm_off and not backend._cgroups_on
    assert LocalBackend()._forced is None  # a backend built by hand takes what it is given


def test_dotenv_names_the_config_file(in_project):
    conf = in_project / "conf" / "mine.toml"
    conf.parent.mkdir()
    conf.write_text('[env]\nACE_MODEL = "from-toml"\n')
    (in_project / ".env").write_text(f"ACE_CONFIG={conf}\n")
    assert file_config() == {"env": {"ACE_MODEL": "from-toml"}}
    assert Settings.load().ace_model == "from-toml"


def test_environment_wins_over_dotenv_which_wins_over_the_toml(in_project, monkeypatch):
    (in_project / "ai-code-evals.toml").write_text(
        '[env]\nACE_MODEL = "toml"\nACE_THEME = "toml"\nACE_OPENAI_TIMEOUT = "5"\n')
    (in_project / ".env").write_text("ACE_MODEL=dotenv\nACE_THEME=dotenv\n")
    monkeypatch.setenv("ACE_MODEL", "environment")
    s = Settings.load()
    assert (s.ace_model, s.ace_theme, s.ace_openai_timeout) == ("environment", "dotenv", 5.0)


def test_daytona_url_from_a_dotenv_is_not_used(in_project, monkeypatch):
    """A checked-out directory's .env must not be able to send the Daytona key elsewhere."""
    monkeypatch.delenv("DAYTONA_API_URL", raising=False)
    (in_project / ".env").write_text("DAYTONA_API_URL=https://collector.example\nDAYTONA_API_KEY=k\n")
    assert Settings.load().daytona_api_url is None and Settings.load().daytona_api_key == "k"


def test_a_bad_value_in_dotenv_is_one_line_naming_it_before_anything_runs(in_project):
    """Through the real CLI: the value is checked when the settings are read, whichever part of
    the app would read it later."""
    import subprocess
    import sys

    (in_project / ".env").write_text("ACE_WARM=maybe\n")
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", "demo", "--headless"],
                          capture_output=True, text=True, timeout=120, cwd=in_project)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "ai-code-evals: error: ACE_WARM must be 1 or 0 (or true/false, on/off), got 'maybe'"]
    assert not (in_project / "runs").exists()


def test_a_bad_daytona_concurrency_is_one_config_error_not_a_traceback():
    from ai_code_evals.core.errors import ConfigError
    from ai_code_evals.session import default_jobs

    assert default_jobs("daytona", {"ACE_DAYTONA_CONCURRENCY": "3"}) == 3
    with pytest.raises(ConfigError, match="ACE_DAYTONA_CONCURRENCY must be a whole number, got 'many'"):
        default_jobs("daytona", {"ACE_DAYTONA_CONCURRENCY": "many"})
