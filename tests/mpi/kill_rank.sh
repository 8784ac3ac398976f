#!/bin/bash
# The fault test's launcher (tests/mpi_train_test.cc): starts `mpirun ARGS...`, waits until FILE
# exists (the first checkpoint), kills rank RANK of that job with SIGKILL and waits for mpirun.
# Prints "killed_pid=P", then "exit=CODE seconds=S" (S from the kill to mpirun's exit) on stdout,
# and mpirun's own output on stderr; exits 3 if the file never appears, 4 if no rank RANK was
# found, 5 if mpirun outlives TIMEOUT seconds after the kill (it is then killed).
# usage: kill_rank.sh FILE RANK TIMEOUT mpirun ARGS...
set -u
file=$1 rank=$2 timeout=$3
shift 3
"$@" >&2 &
launcher=$!

for _ in $(seq 600); do
  [ -e "$file" ] && break
  if ! kill -0 "$launcher" 2>/dev/null; then wait "$launcher"; echo "exit=$? seconds=0 (finished before $file appeared)"; exit 3; fi
  sleep 0.1
done
[ -e "$file" ] || { kill -9 "$launcher"; echo "$file never appeared"; exit 3; }

# The rank's process: a descendant of our mpirun whose environment says it is rank RANK.
victim=
for pid in $(pgrep -P "$launcher") $(for p in $(pgrep -P "$launcher"); do pgrep -P "$p"; done); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank"; then victim=$pid; break; fi
done
[ -n "$victim" ] || { kill -9 "$launcher"; echo "no rank $rank under mpirun $launcher"; exit 4; }
echo "killed_pid=$victim"
start=$(date +%s.%N)
kill -9 "$victim"

for _ in $(seq $((timeout * 10))); do
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$launcher" 2>/dev/null; then
  kill -9 "$launcher"
  echo "mpirun still running ${timeout}s after rank $rank was killed"
  exit 5
fi
wait "$launcher"
code=$?
echo "exit=$code seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')"
