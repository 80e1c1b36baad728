#!/usr/bin/env bash
# Consume throughput of `rmq-trace consume` from a backlog (from the first offset, a fresh group each run, until
# N messages were consumed; the time is the consumer's own, from start to the end of its clean shutdown):
#  1. against the embedded broker (`rmq-trace broker`, loopback, memory store), with the log as the summary only,
#     as NDJSON to a file and as text to a file (the cost of logging every exchange);
#  2. against the real Apache RocketMQ 4.9.4 of /work/shared/realbroker when its servers run (REAL=start starts
#     and stops them), side by side with its Java push consumer (`run_client.sh drain N`) on the same backlog.
#
#   scripts/bench-consume.sh [N]        N small messages (100000; 64-byte bodies, produced in batches of 100)
#   RMQ_TRACE_BIN=path                  use this binary instead of building the release one
set -euo pipefail
N=${1:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RB=${REALBROKER:-/work/shared/realbroker}
W=$(mktemp -d /tmp/bench-consume.XXXXXX)
BIN=${RMQ_TRACE_BIN:-}
if [ -z "$BIN" ]; then
  flock /tmp/rmq-swift.lock swift build -c release --product rmq-trace >"$W/build.log" 2>&1 || { tail -20 "$W/build.log"; exit 1; }
  BIN=$ROOT/.build/release/rmq-trace
fi
BPID=
cleanup() { [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true; }
trap cleanup EXIT

# Prints "SECONDS RATE" from a consume run's output (text/summary report line or the NDJSON consumer_summary).
parse() {
  python3 - "$1" "$N" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read(); n = int(sys.argv[2])
for line in text.splitlines():
    if line.startswith('{"event":"consumer_summary"'):
        s = json.loads(line); print("%.3f %d %d" % (s["seconds"], s["consumed"], s["consumed"] / s["seconds"])); break
    m = re.search(r"(\d+) messages consumed, .* in ([\d.]+) s", line)
    if m: c, sec = int(m.group(1)), float(m.group(2)); print("%.3f %d %d" % (sec, c, c / sec)); break
else: print("0 0 0")
PY
}

run_ours() { # LABEL PREFIX... -- consume args; output to $W/$LABEL.out
  local label=$1; shift
  local out="$W/$label.out"
  "$@" > "$out" 2> "$W/$label.err" || { echo "bench-consume: $label failed:"; tail -3 "$W/$label.err"; }
  read -r sec got rate < <(parse "$out")
  local size; size=$(stat -c %s "$out")
  printf "%-44s %9s %9s %10s %12s\n" "$label" "$got" "$sec" "$rate" "$size"
}

echo "rmq-trace consume benchmark: $N messages of 64 bytes, from the first offset, one consumer (20 threads), 2-core machine"
echo
echo "== embedded broker (rmq-trace broker, loopback, memory store) =="
"$BIN" broker --namesrv-port 0 --broker-port 0 --topic BenchTopic > "$W/broker.out" 2> "$W/broker.err" &
BPID=$!
for _ in $(seq 100); do grep -q "name server listening on" "$W/broker.err" && break; sleep 0.1; done
NS=$(grep -o 'name server listening on [0-9.:]*' "$W/broker.err" | awk '{print $NF}')
"$BIN" produce --namesrv "$NS" --topic BenchTopic --count "$N" --batch 100 --body-size 64
printf "%-44s %9s %9s %10s %12s\n" "run" "messages" "seconds" "msg/s" "log bytes"
C=(consume --namesrv "$NS" --topic BenchTopic --from first --max-messages "$N")
run_ours "summary only" "$BIN" "${C[@]}" --group "g_sum_$$" --format summary
run_ours "ndjson log to a file" "$BIN" "${C[@]}" --group "g_nd_$$" --format ndjson
run_ours "text log to a file" "$BIN" "${C[@]}" --group "g_txt_$$" --format text
read -r s_sum _ r_sum < <(parse "$W/summary only.out")
read -r s_nd _ r_nd < <(parse "$W/ndjson log to a file.out")
python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('cost of the NDJSON log: %.1f%% more time (%.2f s vs %.2f s)' % ((b/a-1)*100, b, a))" "$s_sum" "$s_nd"
cleanup; BPID=

echo
echo "== real Apache RocketMQ 4.9.4 ($RB) =="
STARTED=
if [ -x "$RB/in_netns.sh" ] && ! "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 '; then
  if [ "${REAL:-}" = start ]; then "$RB/start_servers.sh" >/dev/null; STARTED=1; fi
fi
if [ -x "$RB/in_netns.sh" ] && "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 '; then
  # The same backlog for both: TopicTest from offset 0 (what the store held, plus N more now).
  "$RB/in_netns.sh" "$BIN" produce --namesrv 127.0.0.1:9876 --topic TopicTest --count "$N" --batch 100 --body-size 64
  printf "%-44s %9s %9s %10s %12s\n" "run" "messages" "seconds" "msg/s" "log bytes"
  run_ours "rmq-trace consume (summary only)" "$RB/in_netns.sh" "$BIN" consume --namesrv 127.0.0.1:9876 --topic TopicTest \
    --group "bench_swift_$(date +%s)" --from first --max-messages "$N" --format summary
  "$RB/run_client.sh" drain "$N" > "$W/java.out" 2>&1 || true
  J=$(grep -o 'DRAIN consumed=.*' "$W/java.out" || echo "DRAIN consumed=0")
  read -r js jr < <(python3 -c "
import re,sys
m=re.search(r'consumed=(\d+) of \d+ in ([\d.]+)s from start \((\d+) msg/s\)', sys.argv[1])
print(m.group(2), m.group(3)) if m else print(0, 0)" "$J")
  printf "%-44s %9s %9s %10s\n" "Java 4.9.4 DefaultMQPushConsumer (drain)" "$N" "$js" "$jr"
  read -r s_real _ r_real < <(parse "$W/rmq-trace consume (summary only).out")
  python3 -c "import sys; o,j=float(sys.argv[1]),float(sys.argv[2]); print('ours/Java: %.2fx' % (o/j if j else 0))" "$r_real" "$jr"
  echo "(Java's figure is its client's, from consumer start, JVM start-up excluded; ours from start to the end of shutdown)"
  [ -n "$STARTED" ] && "$RB/stop_servers.sh" >/dev/null
else
  echo "not running (start it with $RB/start_servers.sh, or REAL=start): skipped"
fi
echo
echo "outputs in $W"
