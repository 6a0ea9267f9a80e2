#!/usr/bin/env bash
# Regenerates everything derived from proto/:
#   gen/**/*.ts    ts-proto stubs for @grpc/grpc-js (buf.gen.yaml)
#   gen/rag.binpb  FileDescriptorSet with imports and source info, loaded by
#                  Envoy's grpc_json_transcoder and the Node gateway
# Offline: buf and protoc-gen-ts_proto both come from node_modules.
# Deterministic: running it twice yields byte-identical files
# (tests/contracts.test.ts checks that gen/ is fresh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# protoc-gen-ts_proto is found on PATH by buf.gen.yaml.
export PATH="$PWD/node_modules/.bin:$PATH"

scripts/buf lint
scripts/buf generate
scripts/buf build --as-file-descriptor-set -o gen/rag.binpb
