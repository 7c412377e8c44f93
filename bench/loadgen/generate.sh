#!/usr/bin/env bash
# Regenerates kservev2/ (the KServe v2 messages and client the load generator
# sends to Triton) with grpcio-tools' protoc and the protoc-gen-go and
# protoc-gen-go-grpc plugins that scripts/setup.sh pins into .venv/bin.
set -euo pipefail
cd "$(dirname "$0")"
venv=../../.venv/bin
PATH="$PWD/$venv:$PATH" "$venv/python" -m grpc_tools.protoc -I kservev2 \
  --go_out=kservev2 --go_opt=paths=source_relative \
  --go-grpc_out=kservev2 --go-grpc_opt=paths=source_relative \
  kservev2/grpc_service.proto
