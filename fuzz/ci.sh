#!/bin/sh
# The short, bounded fuzz run for CI (.ci/run calls this): 60 seconds unless told otherwise.
exec "$(dirname "$0")/run.sh" "${1:-60}" "${2:-}"
