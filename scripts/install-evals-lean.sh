#!/usr/bin/env bash
# Install OpenAI Evals into the project's environment WITHOUT its ~4 GB of dependencies: only what
# `import evals`, `evals.cli.oaieval` and an oaieval run of the code-evals.* evals need (pinned in
# ci/evals-lean-requirements.txt). Run after `uv sync`; the packages are not in uv.lock, so an
# exact `uv sync` removes them again (`uv run` keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip install --no-deps evals==3.0.1.post1 -r ci/evals-lean-requirements.txt
OPENAI_API_KEY="${OPENAI_API_KEY:-dummy}" uv run --no-sync python -c "import evals, evals.cli.oaieval"
