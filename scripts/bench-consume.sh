#!/usr/bin/env bash
# Consume throughput of `rmq-trace consume` from a backlog of N small messages (a fresh group each run, from the
# first offset), measured the way the Java drain client measures itself: messages per second from the
# consumer's start to the N-th message ("from start") and from the first message to the N-th ("from first").
#  1. the embedded broker (`rmq-trace broker`, loopback, memory store): ours with the log as the summary only, as
#     NDJSON to a file and as text to a file (the cost of logging every exchange), and Apache's C++ client
#     (PyPI rocketmq==0.4.4, the PushConsumer of Tests/Interop/cpp_client.py) on the same backlog;
#  2. the real Apache RocketMQ 4.9.4 of /work/shared/realbroker when its servers run (REAL=start starts and
#     stops them): ours side by side with its Java push consumer (`run_client.sh drain N`) on the same backlog.
# Each pair is run ROUNDS times, alternating, and the medians compared.
#
#   scripts/bench-consume.sh [N]        N small messages (100000; 64-byte bodies, produced in batches of 100)
#   RMQ_TRACE_BIN=path                  use this binary instead of building the release one
#   ROUNDS=3                            runs of each consumer
#   LOG_ROUNDS=7                        extra summary/NDJSON pairs for the cost of logging (wall and CPU time)
set -euo pipefail
N=${1:-100000}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RB=${REALBROKER:-/work/shared/realbroker}
W=$(mktemp -d /tmp/bench-consume.XXXXXX)
BIN=${RMQ_TRACE_BIN:-}
if [ -z "$BIN" ]; then
  flock /tmp/rmq-swift.lock swift build -c release --product rmq-trace >"$W/build.log" 2>&1 || { tail -20 "$W/build.log"; exit 1; }
  BIN=$ROOT/.build/release/rmq-trace
fi
PY=$ROOT/.venv-interop/bin/python
BPID=
cleanup() { [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true; }
trap cleanup EXIT

# "FROM_START_S FIRST_S RATE_FROM_START RATE_FROM_FIRST" of one run's output, whichever client wrote it.
parse() {
  python3 - "$1" "$N" <<'PY'
import json, re, sys
text = open(sys.argv[1], errors="replace").read(); n = int(sys.argv[2])
def out(total, first):
    print("%.3f %.3f %d %d" % (total, first, n / total if total else 0, n / (total - first) if total > first else 0)); sys.exit()
for line in text.splitlines():
    if line.startswith('{"event":"consumer_summary"'):             # rmq-trace consume, NDJSON
        s = json.loads(line)
        if s.get("max_messages_s"): out(s["max_messages_s"], s["first_message_s"])
    m = re.search(r"first message ([\d.]+) s after start; the \d+th at ([\d.]+) s", line)   # rmq-trace consume, text
    if m: out(float(m.group(2)), float(m.group(1)))
    m = re.search(r"DRAIN consumed=(\d+) of \d+ in ([\d.]+)s from start .*, ([\d.]+)s from first", line)   # Java drain
    if m and int(m.group(1)) == n: out(float(m.group(2)), float(m.group(2)) - float(m.group(3)))
    if line.startswith('{"received"'):                               # the C++ client (cpp_client.py consume)
        s = json.loads(line)
        if s.get("distinct", 0) >= n: out(s["elapsed_s"], s["firstMsgAfter_s"])
print("0 0 0 0")
PY
}

row() { # LABEL FILE
  read -r total first rs rf < <(parse "$2")
  printf "%-46s %9s %9s %12s %12s %10s\n" "$1" "$total" "$first" "$rs" "$rf" "$(stat -c %s "$2")"
  echo "$rs $rf" >> "$W/rates-$(printf %s "$1" | tr -c 'A-Za-z0-9' _)"
}
header() { printf "%-46s %9s %9s %12s %12s %10s\n" "run" "N-th at s" "first s" "msg/s start" "msg/s first" "out bytes"; }
median() { # FILE COLUMN
  sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print (NR ? v[int((NR+1)/2)] : 0)}'
}
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b if b else 0))" "$1" "$2"; }

echo "rmq-trace consume benchmark: $N messages of 64 bytes, from the first offset, one consumer (20 consume threads),"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $ROUNDS rounds, medians compared"
echo
echo "== embedded broker (rmq-trace broker, loopback, memory store) =="
"$BIN" broker --namesrv-port 0 --broker-port 0 --topic BenchTopic > "$W/broker.out" 2> "$W/broker.err" &
BPID=$!
for _ in $(seq 100); do grep -q "name server listening on" "$W/broker.err" && break; sleep 0.1; done
NS=$(grep -o 'name server listening on [0-9.:]*' "$W/broker.err" | awk '{print $NF}')
"$BIN" produce --namesrv "$NS" --topic BenchTopic --count "$N" --batch 100 --body-size 64
header
C=(consume --namesrv "$NS" --topic BenchTopic --from first --max-messages "$N")
for r in $(seq "$ROUNDS"); do
  "$BIN" "${C[@]}" --group "g_sum_$$_$r" --format summary > "$W/sum$r.out" 2>"$W/sum$r.err" || true
  row "rmq-trace consume, summary only" "$W/sum$r.out"
  "$BIN" "${C[@]}" --group "g_nd_$$_$r" --format ndjson > "$W/nd$r.out" 2>"$W/nd$r.err" || true
  row "rmq-trace consume, NDJSON log to a file" "$W/nd$r.out"
  "$BIN" "${C[@]}" --group "g_txt_$$_$r" --format text > "$W/txt$r.out" 2>"$W/txt$r.err" || true
  row "rmq-trace consume, text log to a file" "$W/txt$r.out"
  if [ -x "$PY" ]; then
    "$PY" "$ROOT/Tests/Interop/cpp_client.py" consume --namesrv "$NS" --topic BenchTopic --group "g_cpp_$$_$r" --expect "$N" \
      --timeout 300 > "$W/cpp$r.out" 2>"$W/cpp$r.err" || true
    row "C++ client 0.4.4 PushConsumer (Python binding)" "$W/cpp$r.out"
  fi
done
F_SUM="$W/rates-rmq_trace_consume__summary_only"
F_ND="$W/rates-rmq_trace_consume__NDJSON_log_to_a_file"
F_CPP="$W/rates-C___client_0_4_4_PushConsumer__Python_binding_"
sum_s=$(median "$F_SUM" 1); nd_s=$(median "$F_ND" 1)
# The cost of logging: on this VM a run's time moves 10-30 % from one run to the next, more than the cost
# itself, so LOG_ROUNDS more pairs (summary, then NDJSON to a file; alternating) are timed, wall and CPU
# (user + system, GNU time), and the medians of all the pairs compared.
if [ -x /usr/bin/time ]; then
  for r in $(seq "${LOG_ROUNDS:-7}"); do
    for f in summary ndjson; do
      /usr/bin/time -f "%U %S" -o "$W/cpu-$f-$r" "$BIN" "${C[@]}" --group "g_log_${f}_$$_$r" --format "$f" > "$W/log-$f-$r.out" 2>"$W/log-$f-$r.err" || true
      read -r t _ _ _ < <(parse "$W/log-$f-$r.out")
      echo "$t $(awk '{print $1 + $2}' "$W/cpu-$f-$r")" >> "$W/logcost-$f"
    done
  done
  for r in $(seq "$ROUNDS"); do   # the main rounds' times count too (no CPU figure for them)
    awk '{print $1}' <(parse "$W/sum$r.out") >> "$W/logwall-summary"; awk '{print $1}' <(parse "$W/nd$r.out") >> "$W/logwall-ndjson"
  done
  awk '{print $1}' "$W/logcost-summary" >> "$W/logwall-summary"; awk '{print $1}' "$W/logcost-ndjson" >> "$W/logwall-ndjson"
  python3 - "$W" <<'PY'
import statistics, sys
w = sys.argv[1]
def col(name, i): return [float(l.split()[i]) for l in open(f"{w}/{name}") if l.strip()]
ws, wn = col("logwall-summary", 0), col("logwall-ndjson", 0)
cs, cn = col("logcost-summary", 1), col("logcost-ndjson", 1)
print("cost of the NDJSON log (medians of %d runs each, from start): %.1f%% more time; CPU (user+sys, %d runs each): %.2f s vs %.2f s, %.1f%% more"
      % (len(ws), (statistics.median(wn) / statistics.median(ws) - 1) * 100, len(cs), statistics.median(cn), statistics.median(cs),
         (statistics.median(cn) / statistics.median(cs) - 1) * 100))
PY
else
  python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('cost of the NDJSON log (medians, from start): %.1f%% more time' % ((a/b-1)*100 if b else 0))" "$sum_s" "$nd_s"
fi
if [ -f "$F_CPP" ]; then
  echo "ours/C++ from start: $(ratio "$sum_s" "$(median "$F_CPP" 1)")x   from the first message: $(ratio "$(median "$F_SUM" 2)" "$(median "$F_CPP" 2)")x  (medians)"
else
  echo "C++ client: no venv at $ROOT/.venv-interop (scripts/interop-venv.sh makes it): skipped"
fi
cleanup; BPID=

echo
echo "== real Apache RocketMQ 4.9.4 ($RB) =="
STARTED=
if [ -x "$RB/in_netns.sh" ] && ! "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 '; then
  if [ "${REAL:-}" = start ]; then "$RB/start_servers.sh" >/dev/null; STARTED=1; fi
fi
if [ -x "$RB/in_netns.sh" ] && "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 '; then
  # The same backlog for both: TopicTest from offset 0 (what the store held, plus N more now); each consumer
  # stops at its N-th message.
  "$RB/in_netns.sh" "$BIN" produce --namesrv 127.0.0.1:9876 --topic TopicTest --create-topic 4 --count "$N" --batch 100 --body-size 64
  header
  for r in $(seq "$ROUNDS"); do
    "$RB/in_netns.sh" "$BIN" consume --namesrv 127.0.0.1:9876 --topic TopicTest --group "bench_swift_$(date +%s)_$r" --from first \
      --max-messages "$N" --format summary > "$W/real$r.out" 2>"$W/real$r.err" || true
    row "rmq-trace consume, summary only" "$W/real$r.out"
    "$RB/run_client.sh" drain "$N" > "$W/java$r.out" 2>&1 || true
    row "Java 4.9.4 DefaultMQPushConsumer (drain)" "$W/java$r.out"
  done
  F_REAL="$W/rates-rmq_trace_consume__summary_only"
  F_JAVA="$W/rates-Java_4_9_4_DefaultMQPushConsumer__drain_"
  # The summary-only rows of the embedded broker are in the same file: keep the last ROUNDS (the real broker's).
  tail -n "$ROUNDS" "$F_REAL" > "$W/real-rates"
  echo "ours/Java from start: $(ratio "$(median "$W/real-rates" 1)" "$(median "$F_JAVA" 1)")x (goal 1.5x)   from the first message: $(ratio "$(median "$W/real-rates" 2)" "$(median "$F_JAVA" 2)")x (goal 1x)  (medians)"
  echo "(Java's times are its own client's, from consumer.start(), JVM start-up excluded; ours from LiveConsumer.start)"
  [ -n "$STARTED" ] && "$RB/stop_servers.sh" >/dev/null
else
  echo "not running (start it with $RB/start_servers.sh, or REAL=start): skipped"
fi
echo
echo "outputs in $W"
