#!/usr/bin/env bash
# The embedded broker against the real Apache RocketMQ 4.9.4 (/work/shared/realbroker), the same load with the
# same client (rmq-trace produce and rmq-trace consume) in one run:
#  1. end to end: a consumer (new group, fresh topic of 4 queues) runs while a producer sends N messages; the
#     rate is N over the time from the producer's start to the consumer's N-th message; pull latency p50/p99
#     of the answered PULL_MESSAGEs that carried messages (FOUND), from the consumer's own NDJSON log;
#     once with single sends (SEND_MESSAGE_V2, SENDERS concurrent senders) and once batched (SEND_BATCH_MESSAGE
#     of BATCH messages);
#     and the CPU time per message (user + system, microseconds) of the broker process (from the consumer's
#     start to its last message: ours holds its name server too) and of the two clients together (GNU time);
#     a 2-core machine runs all three, so the end-to-end rate is bounded by their sum;
#  2. produce alone: the producer's own rate for the same N;
#  3. memory: the broker's RSS sampled every 10 s during SOAK seconds of steady produce and consume at RATE
#     messages a second (0 skips), with --store and the interval fsync policy, and with the memory store.
# The real broker runs with its distribution's defaults as ../shared/realbroker sets it up (ASYNC_FLUSH,
# JVM -Xms1g -Xmx1g); ours with --store DIR --fsync interval (the same durability class) unless STORE=memory.
#
#   scripts/bench-broker.sh [N]             N messages (default 100000, 64-byte bodies)
#   RMQ_TRACE_BIN=path                      a built rmq-trace instead of building the release one
#   SENDERS=4 BATCH=32 SOAK=300 RATE=20000  load knobs; REAL=start starts (and stops) the real broker
#   BATCH_SENDERS=1                         concurrent senders of batches (each one batch in flight)
#   CONSUMER_THREADS=0                      the consumer's --threads: 0 (default) runs its counting listener on
#                                           its event loop, no consume pool: the lightest client, the same for
#                                           both brokers (on 2 cores the clients' CPU is taken from the broker
#                                           under test); 20 is Java's consume pool (a quarter more client CPU)
#   BROKER_ARGS="--loop-threads 1"          more options for our broker (printed in the header)
#   ROUNDS=3                                rounds of the end-to-end loads, ours and the real broker in turn
#                                           (one row each); the ratios are of the medians, with the spread
#   WARMUP=1                                first a round of N/4 messages per broker, not counted (the real
#                                           broker's JIT warms up; 0: none, as before)
#   PAUSE_OTHER=1                           the broker not under load is paused (SIGSTOP, then SIGCONT) while
#                                           the other runs: each has the two cores to itself, the real one stays
#                                           warm (an idle JVM alongside took 5-15 % off our rates; 0: both run)
# On a 2-core VM one run moves 10-40 % from the next (three processes share two cores): read the medians.
set -euo pipefail
N=${1:-100000}
SENDERS=${SENDERS:-4}; BATCH=${BATCH:-32}; BATCH_SENDERS=${BATCH_SENDERS:-1}; SOAK=${SOAK:-300}; RATE=${RATE:-20000}; CONSUMER_THREADS=${CONSUMER_THREADS:-0}
ROUNDS=${ROUNDS:-3}; WARMUP=${WARMUP:-1}; PAUSE_OTHER=${PAUSE_OTHER:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RB=${REALBROKER:-/work/shared/realbroker}
W=$(mktemp -d /tmp/bench-broker.XXXXXX)
BIN=${RMQ_TRACE_BIN:-}
if [ -z "$BIN" ]; then
  flock /tmp/rmq-swift.lock swift build -c release --product rmq-trace >"$W/build.log" 2>&1 || { tail -20 "$W/build.log"; exit 1; }
  BIN=$ROOT/.build/release/rmq-trace
fi
BPID=
RB_RUN=${RB_WORK:-$HOME/.cache/rmq-realbroker}/run
# pause|resume the real broker's name server and broker JVMs (when they run), or our broker (PID).
signal_real() { for f in "$RB_RUN/namesrv.pid" "$RB_RUN/broker.pid"; do [ -f "$f" ] && kill "-$1" "$(cat "$f")" 2>/dev/null; done; true; }
cleanup() {
  signal_real CONT
  [ -n "$BPID" ] && kill -CONT "$BPID" 2>/dev/null
  [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true
}
trap cleanup EXIT

now() { date +%s.%N; }

# "RATE P50 P99" of an end-to-end run: N over producer start .. consumer's N-th message; FOUND pull latency.
e2e_stats() { # CONSUMER_NDJSON CONSUMER_LAUNCH PRODUCER_START
  python3 - "$1" "$2" "$3" "$N" <<'PY'
import json, sys
path, launch, pstart, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lat, nth = [], None
for line in open(path, errors="replace"):
    if '"request_name":"PULL_MESSAGE"' in line and '"remark":"FOUND"' in line:
        try: lat.append(json.loads(line)["latency_ms"])
        except Exception: pass
    elif line.startswith('{"event":"consumer_summary"'):
        nth = json.loads(line).get("max_messages_s")
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else 0
if nth is None: print("0 0 0"); sys.exit()
print("%d %.2f %.2f" % (n / (launch + nth - pstart), pct(0.5), pct(0.99)))
PY
}

# CPU time (user + system) of PID so far, in microseconds (0 when it cannot be read).
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000000 / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The CPU time of a finished command timed by GNU time into FILE ("%U %S"), in microseconds.
timed_us() { tail -n 1 "$1" 2>/dev/null | awk '{printf "%d", ($(NF-1) + $NF) * 1000000} END {if (NR == 0) printf "0"}'; }
# Microseconds US over N messages, per message, to a tenth.
per_msg() { awk -v us="$1" -v n="$2" 'BEGIN {printf "%.1f", us / n}'; }
TIMED=()
[ -x /usr/bin/time ] && TIMED=(/usr/bin/time -f "%U %S" -o)

# One broker's runs. BPID: the broker's process (its CPU time per message is reported); NS: its name server;
# RUN: a prefix that runs a command where the broker is reachable. ROUND: the round the rows belong to
# ("warm-up": printed, not counted).
run_load() { # LABEL BPID NS RUN...
  local label=$1 bpid=$2 ns=$3; shift 3
  local run=("$@")
  local N=$N
  [ "$ROUND" = warm-up ] && N=$((N / 4))
  for mode in single batch; do
    local topic="BenchE2E_${mode}_$(date +%s%N | cut -c1-13)"
    local pargs=(--count "$N" --body-size 64)
    [ "$mode" = batch ] && pargs+=(--batch "$BATCH" --senders "$BATCH_SENDERS") || pargs+=(--senders "$SENDERS")
    "${run[@]}" "$BIN" produce --namesrv "$ns" --topic "$topic" --create-topic 4 --count 1 --body-size 64 >/dev/null
    local ctime=() ptime=()
    [ ${#TIMED[@]} -gt 0 ] && ctime=("${TIMED[@]}" "$W/$label-$mode.ctime") && ptime=("${TIMED[@]}" "$W/$label-$mode.ptime")
    local b0; b0=$(cpu_us "$bpid")
    local launch; launch=$(now)
    "${run[@]}" "${ctime[@]}" "$BIN" consume --namesrv "$ns" --topic "$topic" --group "g_$topic" --from first --max-messages "$((N + 1))" \
      --threads "$CONSUMER_THREADS" --format ndjson > "$W/$label-$mode.ndjson" 2> "$W/$label-$mode.err" &
    local cpid=$!
    sleep 1.5
    local p0; p0=$(now)
    "${run[@]}" "${ptime[@]}" "$BIN" produce --namesrv "$ns" --topic "$topic" "${pargs[@]}" > "$W/$label-$mode.produce"
    wait $cpid || true
    local b1; b1=$(cpu_us "$bpid")
    read -r rate p50 p99 < <(e2e_stats "$W/$label-$mode.ndjson" "$launch" "$p0")
    local prate; prate=$(grep -o '([0-9]* msg/s)' "$W/$label-$mode.produce" | tr -d '()' | awk '{print $1}')
    # CPU per message: the broker process from the consumer's start to its last message; the clients (producer
    # and consumer, GNU time) over their whole runs.
    local bus="-" cus="-"
    [ "$b0" -gt 0 ] && [ "$b1" -gt 0 ] && bus=$(per_msg $((b1 - b0)) "$N")
    [ ${#TIMED[@]} -gt 0 ] && cus=$(per_msg $(( $(timed_us "$W/$label-$mode.ctime") + $(timed_us "$W/$label-$mode.ptime") )) "$N")
    printf "%-8s %-38s %-7s %10s %12s %9s %9s %10s %10s\n" "$ROUND" "$label" "$mode" "${prate:-0}" "$rate" "$p50" "$p99" "$bus" "$cus"
    [ "$ROUND" = warm-up ] || echo "$ROUND|$label|$mode|${prate:-0}|$rate|$p50|$p99|$bus|$cus" >> "$W/results"
  done
}

# RSS of PID every 10 s while a producer sends RATE msg/s (in one-second batches) and a consumer drains them.
soak() { # LABEL PID NS RUN...
  local label=$1 pid=$2 ns=$3; shift 3
  local run=("$@")
  [ "$SOAK" -gt 0 ] && [ "$RATE" -gt 0 ] || return 0
  local topic="BenchSoak_$(date +%s%N | cut -c1-13)"
  "${run[@]}" "$BIN" produce --namesrv "$ns" --topic "$topic" --create-topic 4 --count 1 --body-size 64 >/dev/null
  "${run[@]}" "$BIN" consume --namesrv "$ns" --topic "$topic" --group "g_$topic" --from first --duration "$((SOAK + 5))" \
    --format summary > "$W/$label-soak.consume" 2>&1 &
  local cpid=$!
  local samples=() t0; t0=$(date +%s)
  local end=$((t0 + SOAK)) next=$t0 sent=0
  while [ "$(date +%s)" -lt "$end" ]; do
    "${run[@]}" "$BIN" produce --namesrv "$ns" --topic "$topic" --count "$RATE" --batch 100 --senders 2 --body-size 64 >/dev/null
    sent=$((sent + RATE))
    if [ "$(date +%s)" -ge "$next" ]; then samples+=("$(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 ))"); next=$((next + 10)); fi
    local wait=$(( t0 + sent / RATE - $(date +%s) )); [ "$wait" -gt 0 ] && sleep "$wait"
  done
  wait $cpid || true
  local got; got=$(grep -o '[0-9]* messages consumed' "$W/$label-soak.consume" | awk '{print $1}')
  echo "$label: RSS MB every 10 s over ${SOAK} s at about $RATE msg/s (sent $sent, consumed ${got:-?}): ${samples[*]}"
}

echo "rmq-trace broker benchmark: $N messages of 64 bytes, 4 queues, the same client (rmq-trace produce / consume) for both brokers"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); single: SEND_MESSAGE_V2 from $SENDERS senders; batch: SEND_BATCH_MESSAGE of $BATCH from $BATCH_SENDERS sender$([ "$BATCH_SENDERS" = 1 ] || echo s); consumer --threads $CONSUMER_THREADS${BROKER_ARGS:+; our broker: $BROKER_ARGS}"
echo
printf "%-8s %-38s %-7s %10s %12s %9s %9s %10s %10s\n" "round" "broker" "sends" "produce/s" "end-to-end/s" "pull p50" "pull p99" "broker us" "clients us"

# Ours, in the root namespace on loopback.
OPTS=(--store "$W/store" --fsync interval)
OURS="rmq-trace broker (--store, interval)"
if [ "${STORE:-}" = memory ]; then OPTS=(); OURS="rmq-trace broker (memory)"; fi
# shellcheck disable=SC2206
OPTS+=(${BROKER_ARGS:-})
start_ours() {
  "$BIN" broker --namesrv-port 0 --broker-port 0 "$@" > "$W/broker.out" 2> "$W/broker.err" &
  BPID=$!
  for _ in $(seq 100); do grep -q "name server listening on" "$W/broker.err" && break; sleep 0.1; done
  NS=$(grep -o 'name server listening on [0-9.:]*' "$W/broker.err" | awk '{print $NF}')
}
start_ours "${OPTS[@]}"
OURS_PID=$BPID

# The real one, in its namespace.
REAL_UP=
if [ -x "$RB/in_netns.sh" ] && ! "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 ' && [ "${REAL:-}" = start ]; then
  "$RB/start_servers.sh" >/dev/null; STARTED=1
fi
REAL_LABEL="Apache RocketMQ 4.9.4 (ASYNC_FLUSH)"
if [ -x "$RB/in_netns.sh" ] && "$RB/in_netns.sh" ss -ltn 2>/dev/null | grep -q ':9876 '; then
  REAL_UP=1
else
  echo "(the real broker of $RB is not running: start it with $RB/start_servers.sh, or REAL=start; its rows are skipped)"
fi
# Rounds: ours, then the real broker, in turn, so that a slow spell of the machine touches both.
rounds=()
[ "$WARMUP" = 1 ] && rounds+=(warm-up)
for r in $(seq "$ROUNDS"); do rounds+=("$r"); done
pause() { [ "$PAUSE_OTHER" = 1 ] || return 0; if [ "$1" = real ]; then signal_real "$2"; else kill "-$2" "$OURS_PID"; fi; }
for ROUND in "${rounds[@]}"; do
  if [ -n "$REAL_UP" ]; then pause real STOP; fi
  run_load "$OURS" "$OURS_PID" "$NS" env
  if [ -n "$REAL_UP" ]; then
    pause real CONT
    pause ours STOP
    run_load "$REAL_LABEL" "$(cat "$RB_RUN/broker.pid" 2>/dev/null || echo 0)" 127.0.0.1:9876 "$RB/in_netns.sh"
    pause ours CONT
  fi
done
echo
python3 - "$W/results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
def col(prefix, mode, i):  # the column's numbers ("-": not measured)
    return [float(r[i]) for r in rows if r[1].startswith(prefix) and r[2] == mode and len(r) > i and r[i] not in ("-", "")]
def rounds(prefix, mode):
    return {r[0]: r for r in rows if r[1].startswith(prefix) and r[2] == mode}
med = lambda v: statistics.median(v) if v else 0
for mode in ("single", "batch"):
    o, j = col("rmq-trace", mode, 4), col("Apache", mode, 4)
    if o and j:
        po, pj = col("rmq-trace", mode, 3), col("Apache", mode, 3)
        ro, rj = rounds("rmq-trace", mode), rounds("Apache", mode)
        per = [float(ro[k][4]) / max(1, float(rj[k][4])) for k in sorted(ro, key=int) if k in rj]
        print("%-6s ours/real: produce %.2fx, end to end %.2fx (goal 2x; medians of %d rounds, %.0f vs %.0f msg/s; "
              "round by round %s), pull p99 %.2f ms vs %.2f ms" %
              (mode, med(po) / max(1, med(pj)), med(o) / max(1, med(j)), len(o), med(o), med(j),
               " ".join("%.2fx" % p for p in per), med(col("rmq-trace", mode, 6)), med(col("Apache", mode, 6))))
for mode in ("single", "batch"):
    bo, bj, co, cj = col("rmq-trace", mode, 7), col("Apache", mode, 7), col("rmq-trace", mode, 8), col("Apache", mode, 8)
    if bo and bj and med(bo) > 0:
        print("%-6s CPU per message (medians): broker %.1f us ours vs %.1f us real (%.2fx less), clients %.1f us vs %.1f us; "
              "all three processes %.1f us vs %.1f us" %
              (mode, med(bo), med(bj), med(bj) / med(bo), med(co), med(cj), med(bo) + med(co), med(bj) + med(cj)))
o = col("rmq-trace", "batch", 4)
if o: print("ours, batched, end to end: %.0f msg/s median, %.0f lowest (goal >= 50000)" % (med(o), min(o)))
PY

echo
soak "$OURS" "$OURS_PID" "$NS" env
cleanup; BPID=
if [ "${STORE:-}" != memory ] && [ "$SOAK" -gt 0 ]; then
  start_ours
  soak "rmq-trace broker (memory)" "$BPID" "$NS" env
  cleanup; BPID=
fi
if [ -n "$REAL_UP" ]; then
  JPID=$(cat "$HOME/.cache/rmq-realbroker/run/broker.pid" 2>/dev/null || echo "")
  [ -n "$JPID" ] && soak "Apache RocketMQ 4.9.4 (JVM)" "$JPID" 127.0.0.1:9876 "$RB/in_netns.sh"
fi
[ -n "${STARTED:-}" ] && "$RB/stop_servers.sh" >/dev/null
echo
echo "outputs in $W"
