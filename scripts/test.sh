#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check and test: ruff, mypy --strict, pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check contracts_core codegen compat_checks contracts_cli tests bench runtime/python
.venv/bin/ruff format --check contracts_core codegen compat_checks contracts_cli tests bench runtime/python
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
