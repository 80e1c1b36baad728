#!/bin/bash
# Skeleton of the broker benchmark (a later step): starts `rmq-trace broker` on loopback, sends N messages with
# Apache's C++ client (the interop driver of the interop branch) and reads them back with one push consumer,
# and prints the elapsed times. Not yet: a Java client run, latency percentiles, the real broker side by side.
#
#   scripts/bench-broker.sh [N] [--store]      (RMQ_TRACE_BIN: a built rmq-trace; INTEROP_ROOT: the folder with Tests/Interop/cpp_client.py and
#                                               .venv-interop; default ../wt-interop)
set -eu
N=${1:-2000}; STORE=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IROOT=${INTEROP_ROOT:-$ROOT/../wt-interop}
PY=$IROOT/.venv-interop/bin/python
DRV=$IROOT/Tests/Interop/cpp_client.py
[ -x "$PY" ] && [ -f "$DRV" ] || { echo "bench-broker: needs $DRV and $PY (scripts/interop-venv.sh there)" >&2; exit 2; }
# RMQ_TRACE_BIN: use this binary instead of building the release one.
BIN=${RMQ_TRACE_BIN:-}
if [ -z "$BIN" ]; then
  flock /tmp/rmq-swift.lock swift build -c release --product rmq-trace >/tmp/bench-broker-build.log 2>&1 || { tail -20 /tmp/bench-broker-build.log; exit 1; }
  BIN=$ROOT/.build/release/rmq-trace
fi
NSP=${NSP:-29876}; BP=${BP:-30911}
OPTS=()
if [ "$STORE" = "--store" ]; then D=$(mktemp -d /tmp/bench-broker-store.XXXXXX); OPTS=(--store "$D" --fsync always); fi
"$BIN" broker --namesrv-port "$NSP" --broker-port "$BP" "${OPTS[@]}" 2>/tmp/bench-broker.err &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
sleep 1
T=bench_$(date +%s)
t0=$(date +%s.%N)
"$PY" "$DRV" produce "$N" --topic "$T" --namesrv 127.0.0.1:$NSP >/tmp/bench-broker-produce.jsonl 2>/dev/null
t1=$(date +%s.%N)
"$PY" "$DRV" consume --topic "$T" --group "g_$T" --expect "$N" --timeout 120 --namesrv 127.0.0.1:$NSP >/tmp/bench-broker-consume.json 2>/dev/null || true
t2=$(date +%s.%N)
python3 - "$N" "$t0" "$t1" "$t2" <<'PY'
import json, sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
s = json.loads(open('/tmp/bench-broker-consume.json').read().strip().splitlines()[-1])
print("messages %d: produce %.2f s (%.0f msg/s, sync sends, one producer); consume %.2f s incl. client start-up (%d distinct received)"
      % (n, t1 - t0, n / (t1 - t0), t2 - t1, s.get("distinct", 0)))
PY
