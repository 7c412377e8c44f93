#!/usr/bin/env bash
# Installs everything the toolchain needs, pinned, on a fresh machine:
#   - Python 3.11+ dependencies into .venv/ (pyproject.toml pins them exactly)
#   - buf from the npm package @bufbuild/buf (package-lock.json), linked into
#     .venv/bin so an activated venv finds the native binary, not the Node shim
# Re-running is cheap: nothing is reinstalled unless a pin file changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || die "python3 not found; install Python 3.11 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$("$PYTHON" --version 2>&1) is too old; Python 3.11 or newer is required"
command -v npm >/dev/null || die "npm not found; install Node.js (20 or newer) with npm"

stamp_inputs=(pyproject.toml package.json package-lock.json scripts/setup.sh generated/python/pyproject.toml contracts_core/tools.py
  runtime/python/pyproject.toml services/inference/pyproject.toml services/inference/scripts/build_models.py
  services/inference/inference/models.py services/inference/inference/build.py
  tests/clients/go.mod tests/clients/go.sum runtime/go/go.sum)
stamp=$(cat "${stamp_inputs[@]}" | sha256sum | cut -d' ' -f1)
if [[ -f .venv/.setup-stamp && "$(cat .venv/.setup-stamp)" == "$stamp" && -x .venv/bin/buf ]]; then
  exit 0
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
say "installing Python packages (pinned in pyproject.toml)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# The generated stubs are a package of their own (`contracts gen` writes it).
# compat mode installs a plain path entry, which mypy follows; the default
# editable mode uses an import hook that type checkers cannot see.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -e generated/python --config-settings editable_mode=compat
# The serving runtime services import (pinned in its own pyproject.toml), with its
# inference extra (torch, the PyPI build: CPU here, CUDA where a GPU is), and the
# flagship inference service. pip's cache keeps a re-install of torch fast.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -e 'runtime/python[inference]' --config-settings editable_mode=compat
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  -e services/inference --config-settings editable_mode=compat
# The demo models of services/inference, built from a fixed seed (never downloaded).
.venv/bin/python services/inference/scripts/build_models.py services/inference/model_repository

say "installing buf (pinned in package-lock.json)"
# `npm ci` installs exactly the lock file's versions and integrity hashes and
# never rewrites package-lock.json, so set-up leaves a clone's `git status`
# clean (and this script's stamp, which hashes the lock, stays valid). The lock
# lists every platform's optional build of buf, as npm itself writes it; only
# this platform's is downloaded. buf's install script only re-links the
# platform binary, which we link ourselves below.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
shopt -s nullglob
binaries=(node_modules/@bufbuild/buf-*/bin/buf)
[[ ${#binaries[@]} -eq 1 ]] || die "expected one platform build of buf under node_modules/@bufbuild, found ${#binaries[@]}"
ln -sf "../../${binaries[0]}" .venv/bin/buf

say "installing Go protoc plugins (pinned here, from the Go module proxy)"
command -v go >/dev/null || die "go not found; install Go 1.24 or newer"
# The pins live in contracts_core/tools.py, which `contracts doctor` checks against.
while read -r package; do
  GOBIN="$PWD/.venv/bin" GOFLAGS=-mod=mod go install "$package"
done < <(.venv/bin/python -c 'from contracts_core import tools; print("\n".join(tools.go_installs()))')

# Real clients for the runtime's tests, pinned (with go.sum) in tests/clients/go.mod.
(cd tests/clients && GOBIN="$OLDPWD/.venv/bin" GOFLAGS=-mod=readonly go install tool)

# The Go runtime module's dependencies (tests/test_frames.py vets and tests it).
(cd runtime/go && GOFLAGS=-mod=readonly go mod download)

echo "$stamp" > .venv/.setup-stamp
.venv/bin/contracts doctor >&2
