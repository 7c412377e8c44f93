#!/usr/bin/env bash
# Regenerates kservev2/ (the KServe v2 messages and client the load generator
# sends to Triton) with grpcio-tools' protoc and the protoc-gen-go and
# protoc-gen-go-grpc plugins that scripts/setup.sh pins into .venv/bin.
# `generate.sh DIR` writes into DIR instead (tests compare the two).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-kservev2}
venv="$PWD/../../.venv/bin"
PATH="$venv:$PATH" "$venv/python" -m grpc_tools.protoc -I kservev2 \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  kservev2/grpc_service.proto
