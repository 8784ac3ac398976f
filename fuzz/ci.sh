#!/bin/sh
# The short, bounded fuzz run for CI (.ci/run calls this): 60 seconds of each target (fuzz_load,
# fuzz_onnx) unless told otherwise.
exec "$(dirname "$0")/run.sh" "${1:-60}" "${2:-}"
