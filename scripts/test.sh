#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check and test: ruff, mypy --strict, pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check codegen compat_checks tests
.venv/bin/ruff format --check codegen compat_checks tests
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
