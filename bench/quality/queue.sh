#!/usr/bin/env bash
# The order the benchmark was run in on a shared 2-core machine (each step appends its wall time).
set -u
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
step() { local t0=$(date +%s); echo "== $* ($(date -u +%H:%M:%S))"; "$PY" bench/quality/run.py "$@"; echo "== done $* in $(( $(date +%s) - t0 )) s"; }
step simulated --variants soft
step gold
step simulated --variants hard soft-filtered
step local
step causal --limit 200 --test-limit 300
step simulated --variants hard-filtered
