#!/bin/sh
# CPU of an idle `hookgate serve` (SQLite, embedded default) over 20 s after a 6 s warm-up, for this tree and,
# when given, a baseline tree's src/ (e.g. a `git worktree add --detach /tmp/base <rev>`), with the ratio.
# usage: sh benchmarks/idle_serve_cpu.sh [BASELINE_SRC]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python"

idle_pct() {  # $1: src dir on PYTHONPATH; prints the % of one core
  dir=$(mktemp -d)
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PYTHONPATH="$1" "$py" -m hookgate serve --data-dir "$dir" --port "$port" > "$dir/out" 2>&1 &
  pid=$!
  sleep 6
  a=$(awk '{print $14+$15}' "/proc/$pid/stat"); sleep 20; b=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  "$py" -c "print(round(($b - $a) / $(getconf CLK_TCK) / 20 * 100, 2))"
}

new=$(idle_pct "$root/src")
echo "idle hookgate serve (SQLite), this tree: $new% of a core"
if [ $# -ge 1 ]; then
  base=$(idle_pct "$1")
  echo "idle hookgate serve (SQLite), baseline: $base% of a core"
  "$py" -c "print(f'this tree / baseline: {$new / $base if $base else float(\"nan\"):.3f}')"
fi
