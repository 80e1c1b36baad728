#!/usr/bin/env bash
# Decode speed and memory benchmark: `rmq-trace decode --format summary` against TCP-only tshark on a large
# generated capture of consume traffic, side by side in one run.
#
#   scripts/bench-decode.sh                       # 1100 MiB capture in /tmp/rmq-bench
#   SIZE_MIB=2200 scripts/bench-decode.sh         # another size
#   MEM_CHECK=1 scripts/bench-decode.sh           # also decode a 2x larger capture: peak RSS must stay flat
#   TSHARK_SIZE_MIB=300 scripts/bench-decode.sh   # time tshark on a prefix of that size only, and scale
#
# Environment: SIZE_MIB (1100), BENCH_DIR (/tmp/rmq-bench), SEED (1), TSHARK_SIZE_MIB (whole file),
# MEM_CHECK (0), SKIP_TSHARK (0), CPU (1: the core both tools are pinned to with taskset), SKIP_BUILD (0).
#
# Goals (the issue): >= 15x the TCP-only tshark's throughput, >= 500 MB/s of capture on one core, peak RSS
# < 100 MB whatever the file size. MB = 10^6 bytes. Both tools read the file from the page cache (warmed first).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1100}
BENCH_DIR=${BENCH_DIR:-/tmp/rmq-bench}
SEED=${SEED:-1}
TSHARK_SIZE_MIB=${TSHARK_SIZE_MIB:-}
MEM_CHECK=${MEM_CHECK:-0}
SKIP_TSHARK=${SKIP_TSHARK:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
CPU=${CPU:-1}
LOCK=/tmp/swiftbuild.lock

mkdir -p "$BENCH_DIR"

# --- tools ---------------------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing GNU time (apt-get install -y time)" >&2
        apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
    else
        echo "bench-decode: /usr/bin/time (GNU time) is needed: apt-get install time" >&2
        exit 1
    fi
fi
if [ "$SKIP_TSHARK" != 1 ] && ! command -v tshark >/dev/null; then
    echo "bench-decode: tshark not found (apt-get install tshark), or set SKIP_TSHARK=1" >&2
    exit 1
fi
PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt "$CPU" ]; then PIN=(taskset -c "$CPU"); fi

# --- build ---------------------------------------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
    echo "building rmq-trace (release) and gen-capture (release)..." >&2
    (cd "$ROOT" && flock "$LOCK" swift build -c release --product rmq-trace >&2)
    (cd "$ROOT/Benchmarks/DecodeBench" && flock "$LOCK" swift build -c release --product gen-capture >&2)
fi
RMQ=$(cd "$ROOT" && flock "$LOCK" swift build -c release --show-bin-path)/rmq-trace
GEN=$(cd "$ROOT/Benchmarks/DecodeBench" && flock "$LOCK" swift build -c release --show-bin-path)/gen-capture

# Waits until nobody holds the build lock, so that no build disturbs a timed run.
quiet() {
    while ! flock -n "$LOCK" true; do sleep 2; done
}

# gen SIZE FILE: generates FILE unless it exists from the same size and seed.
gen() {
    local size=$1 file=$2
    if [ -f "$file" ] && [ "$(cat "$file.params" 2>/dev/null)" = "size-mib=$size seed=$SEED" ]; then
        echo "using existing $file ($(stat -c %s "$file") bytes)" >&2
        return
    fi
    echo "generating $file ($size MiB)..." >&2
    rm -f "$file.params"
    "$GEN" --out "$file" --size-mib "$size" --seed "$SEED"
    echo "size-mib=$size seed=$SEED" > "$file.params"
}

# measure LOG CMD...: runs CMD pinned under GNU time; sets SECS and RSS_KB. A build that starts during the run
# (the lock taken by someone) makes it run again, up to 3 times.
measure() {
    local log=$1; shift
    local tries=0
    while :; do
        quiet
        if ! "${PIN[@]}" /usr/bin/time -v -o "$log.time" "$@" > "$log" 2> "$log.err"; then
            # A prefix copy ends inside a packet: tshark says so and fails; that is expected.
            if [ "${ALLOW_CUT:-0}" != 1 ] || ! grep -qi "cut short\|truncated\|middle of a packet" "$log.err"; then
                echo "bench-decode: '$*' failed (see $log.err)" >&2; cat "$log.err" >&2; exit 1
            fi
        fi
        tries=$((tries + 1))
        if flock -n "$LOCK" true || [ $tries -ge 3 ]; then break; fi
        echo "  (a build ran during the measurement; again)" >&2
    done
    local wall
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log.time")
    SECS=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.3f", s }')
    RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
}

CAPTURE="$BENCH_DIR/consume-${SIZE_MIB}MiB.pcap"
gen "$SIZE_MIB" "$CAPTURE"
BYTES=$(stat -c %s "$CAPTURE")

echo "warming the page cache..." >&2
cat "$CAPTURE" > /dev/null

# --- rmq-trace -----------------------------------------------------------------------------------------
echo "timing rmq-trace decode --format summary ($BYTES bytes)..." >&2
measure "$BENCH_DIR/rmq-trace.out" "$RMQ" decode --format summary "$CAPTURE"
OUR_SECS=$SECS; OUR_RSS_KB=$RSS_KB

# --- tshark --------------------------------------------------------------------------------------------
TS_NOTE="whole file"
if [ "$SKIP_TSHARK" != 1 ]; then
    TS_FILE=$CAPTURE
    TS_BYTES=$BYTES
    if [ -n "$TSHARK_SIZE_MIB" ] && [ $((TSHARK_SIZE_MIB * 1048576)) -lt "$BYTES" ]; then
        TS_FILE="$BENCH_DIR/prefix-${TSHARK_SIZE_MIB}MiB-of-${SIZE_MIB}.pcap"
        if [ ! -f "$TS_FILE" ] || [ "$CAPTURE" -nt "$TS_FILE" ]; then
            head -c $((TSHARK_SIZE_MIB * 1048576)) "$CAPTURE" > "$TS_FILE"   # tshark stops at the cut packet
        fi
        TS_BYTES=$(stat -c %s "$TS_FILE")
        TS_NOTE="first $TSHARK_SIZE_MIB MiB, time scaled"
        cat "$TS_FILE" > /dev/null
    fi
    echo "timing tshark -r FILE -Y \"tcp.len>0\" -q ($TS_NOTE)..." >&2
    ALLOW_CUT=1 measure "$BENCH_DIR/tshark.out" tshark -r "$TS_FILE" -Y "tcp.len>0" -q
    TS_SECS=$(awk -v s="$SECS" -v a="$TS_BYTES" -v b="$BYTES" 'BEGIN { printf "%.3f", s * b / a }')
    TS_RSS_KB=$RSS_KB
fi

# --- memory check: a 2x larger capture ------------------------------------------------------------------
if [ "$MEM_CHECK" = 1 ]; then
    BIG_MIB=$((SIZE_MIB * 2))
    BIG="$BENCH_DIR/consume-${BIG_MIB}MiB.pcap"
    gen "$BIG_MIB" "$BIG"
    BIG_BYTES=$(stat -c %s "$BIG")
    cat "$BIG" > /dev/null
    echo "timing rmq-trace on the ${BIG_MIB} MiB capture (memory check)..." >&2
    measure "$BENCH_DIR/rmq-trace-big.out" "$RMQ" decode --format summary "$BIG"
    BIG_SECS=$SECS; BIG_RSS_KB=$RSS_KB
fi

# --- report --------------------------------------------------------------------------------------------
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
yesno() { awk "BEGIN { print ($1) ? \"yes\" : \"NO\" }"; }

OUR_MBPS=$(mbps "$BYTES" "$OUR_SECS")
OUR_RSS=$(mb "$OUR_RSS_KB")
echo
echo "rmq-trace decode benchmark: $CAPTURE"
echo "capture: $BYTES bytes ($(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MiB), pinned: ${PIN[*]:-no}, $(nproc) cores"
echo "our summary: $(grep -m1 ' frames (' "$BENCH_DIR/rmq-trace.out")"
echo
printf "%-44s %10s %12s %14s\n" "tool" "seconds" "MB/s" "peak RSS MB"
printf "%-44s %10s %12s %14s\n" "rmq-trace decode --format summary" "$OUR_SECS" "$OUR_MBPS" "$OUR_RSS"
if [ "$SKIP_TSHARK" != 1 ]; then
    TS_MBPS=$(mbps "$BYTES" "$TS_SECS")
    TS_RSS=$(mb "$TS_RSS_KB")
    printf "%-44s %10s %12s %14s\n" "tshark -Y \"tcp.len>0\" -q ($TS_NOTE)" "$TS_SECS" "$TS_MBPS" "$TS_RSS"
fi
if [ "$MEM_CHECK" = 1 ]; then
    printf "%-44s %10s %12s %14s\n" "rmq-trace, ${BIG_MIB} MiB capture (memory check)" "$BIG_SECS" "$(mbps "$BIG_BYTES" "$BIG_SECS")" "$(mb "$BIG_RSS_KB")"
fi
echo
printf "%-44s %12s %10s %6s\n" "goal" "measured" "target" "met"
if [ "$SKIP_TSHARK" != 1 ]; then
    RATIO=$(awk -v a="$OUR_MBPS" -v b="$TS_MBPS" 'BEGIN { printf "%.1f", a / b }')
    printf "%-44s %12s %10s %6s\n" "throughput vs TCP-only tshark (ours/tshark)" "${RATIO}x" ">= 15x" "$(yesno "$RATIO >= 15")"
    RSS_RATIO=$(awk -v a="$TS_RSS" -v b="$OUR_RSS" 'BEGIN { printf "%.1f", a / b }')
    printf "%-44s %12s %10s %6s\n" "peak memory, tshark/ours" "${RSS_RATIO}x" "-" "-"
fi
printf "%-44s %12s %10s %6s\n" "throughput on one core (MB/s)" "$OUR_MBPS" ">= 500" "$(yesno "$OUR_MBPS >= 500")"
printf "%-44s %12s %10s %6s\n" "peak RSS (MB)" "$OUR_RSS" "< 100" "$(yesno "$OUR_RSS < 100")"
if [ "$MEM_CHECK" = 1 ]; then
    BIG_RSS=$(mb "$BIG_RSS_KB")
    printf "%-44s %12s %10s %6s\n" "peak RSS on the 2x capture (MB)" "$BIG_RSS" "< 100" "$(yesno "$BIG_RSS < 100")"
    printf "%-44s %12s %10s %6s\n" "peak RSS growth, 2x capture vs 1x" \
        "$(awk -v a="$BIG_RSS" -v b="$OUR_RSS" 'BEGIN { printf "%+.1f MB", a - b }')" "flat" \
        "$(yesno "$BIG_RSS - $OUR_RSS < 10")"
fi
echo
echo "first lines of our summary:"
head -n 8 "$BENCH_DIR/rmq-trace.out" | sed 's/^/  /'
