#!/usr/bin/env bash
# Decode speed and memory benchmark, two generated captures side by side in one run:
#   small: an idle group's long polls (gen-capture --mode idle-polls): FRAMES small frames, PULL_MESSAGE requests
#          answered PULL_NOT_FOUND after a 15 s hold, one frame per TCP segment, CONNECTIONS connections;
#   large: consume traffic with large pull bodies (gen-capture --size-mib SIZE_MIB).
# Per capture: rmq-trace decode --format summary, text (to /dev/null) and ndjson (to /dev/null), and
# `tshark -r FILE -Y "tcp.len>0" -q`, each pinned to one core under GNU time: seconds, MB/s, frames/s, the
# ratio to tshark, peak RSS; allocations per frame (an LD_PRELOAD malloc counter, scripts/malloc-count.c, in a
# separate untimed run). Ends with one line:
#   decode: small_fps=N small_vs_tshark=R large_mbps=N peak_mb=N
#
#   scripts/bench-decode.sh                       # defaults below
#   FRAMES=4000000 SIZE_MIB=2200 scripts/bench-decode.sh
#   TSHARK_SIZE_MIB=0 scripts/bench-decode.sh     # tshark on the whole large file too (slow: minutes)
#   MEM_CHECK=1 scripts/bench-decode.sh           # also the summary on captures twice as large: RSS must stay flat
#
# Environment: FRAMES (2000000), CONNECTIONS (8), SIZE_MIB (1100), BENCH_DIR (/tmp/rmq-bench), SEED (1),
# TSHARK_SMALL_SIZE_MIB (0: tshark reads the whole small capture, as the goal says, "on the same file"; about
# 30 s), TSHARK_SIZE_MIB (200: on the large capture, whose goal is in MB/s and not against tshark, tshark is timed
# on the first N MiB and its time scaled to the whole file, which favours tshark: it slows down as a file grows;
# a whole-file run takes minutes; 0 = whole file), MEM_CHECK (0), SKIP_TSHARK (0),
# SKIP_ALLOCS (0), CPU (1: the core every timed tool is pinned to), SKIP_BUILD (0), QUIET_WAIT (180: the longest
# wait, in seconds, for the build lock to be free before a timed run; runs that had to go ahead while a build held
# it are listed at the end), RMQ_BIN (another rmq-trace
# binary to time, e.g. an older build for a before/after comparison).
#
# Goals (the issue): small capture: summary >= 30x tshark's frames/s; large capture: summary >= 1000 MB/s;
# text and ndjson >= half the summary's speed; peak RSS < 100 MB. MB = 10^6 bytes. Files are read from the
# page cache (warmed first). Builds take /tmp/rmq-swift.lock; no timed run starts while anyone holds it.
set -euo pipefail

ROOT=${BENCH_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
FRAMES=${FRAMES:-2000000}
CONNECTIONS=${CONNECTIONS:-8}
SIZE_MIB=${SIZE_MIB:-1100}
BENCH_DIR=${BENCH_DIR:-/tmp/rmq-bench}
SEED=${SEED:-1}
TSHARK_SIZE_MIB=${TSHARK_SIZE_MIB:-200}
TSHARK_SMALL_SIZE_MIB=${TSHARK_SMALL_SIZE_MIB:-0}
MEM_CHECK=${MEM_CHECK:-0}
SKIP_TSHARK=${SKIP_TSHARK:-0}
SKIP_ALLOCS=${SKIP_ALLOCS:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
CPU=${CPU:-1}
QUIET_WAIT=${QUIET_WAIT:-180}
LOCK=/tmp/rmq-swift.lock

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
    (cd "$ROOT" && flock "$LOCK" swift build -c release --product rmq-trace >"$BENCH_DIR/build.log" 2>&1) \
        || { cat "$BENCH_DIR/build.log" >&2; exit 1; }
    (cd "$ROOT/Benchmarks/DecodeBench" && flock "$LOCK" swift build -c release --product gen-capture >"$BENCH_DIR/build-gen.log" 2>&1) \
        || { cat "$BENCH_DIR/build-gen.log" >&2; exit 1; }
fi
RMQ=${RMQ_BIN:-$(cd "$ROOT" && flock "$LOCK" swift build -c release --show-bin-path)/rmq-trace}
GEN=${GEN_BIN:-$(cd "$ROOT/Benchmarks/DecodeBench" && flock "$LOCK" swift build -c release --show-bin-path)/gen-capture}

MALLOC_SO=""
if [ "$SKIP_ALLOCS" != 1 ] && command -v cc >/dev/null; then
    MALLOC_SO="$BENCH_DIR/malloc-count.so"
    if [ ! -f "$MALLOC_SO" ] || [ "$ROOT/scripts/malloc-count.c" -nt "$MALLOC_SO" ]; then
        cc -O2 -shared -fPIC -o "$MALLOC_SO" "$ROOT/scripts/malloc-count.c"
    fi
fi

# Waits until nobody holds the build lock, so that no build disturbs a timed run; on a machine whose lock is
# never free (other builds queued all the time) it gives up after QUIET_WAIT seconds and the run is marked.
DISTURBED=()
quiet() {
    local waited=0
    while ! flock -n "$LOCK" true; do
        sleep 2; waited=$((waited + 2))
        if [ "$waited" -ge "$QUIET_WAIT" ]; then QUIET_TIMED_OUT=1; return; fi
    done
}

# gen FILE PARAMS GEN-ARGS...: generates FILE unless it exists from the same parameters.
gen() {
    local file=$1 params=$2; shift 2
    if [ -f "$file" ] && [ "$(cat "$file.params" 2>/dev/null)" = "$params" ]; then
        echo "using existing $file ($(stat -c %s "$file") bytes)" >&2
        return
    fi
    echo "generating $file ($params)..." >&2
    rm -f "$file.params"
    "$GEN" --out "$file" "$@"
    echo "$params" > "$file.params"
}

# measure OUT LOG CMD...: runs CMD pinned under GNU time, stdout to OUT; sets SECS and RSS_KB. A build that
# starts during the run (the lock taken by someone) makes it run again, up to 3 times.
measure() {
    local out=$1 log=$2; shift 2
    local tries=0
    QUIET_TIMED_OUT=0
    while :; do
        quiet
        if ! "${PIN[@]}" /usr/bin/time -v -o "$log.time" "$@" > "$out" 2> "$log.err"; then
            # A prefix copy ends inside a packet: tshark says so and fails; that is expected.
            if [ "${ALLOW_CUT:-0}" != 1 ] || ! grep -qi "cut short\|truncated\|middle of a packet" "$log.err"; then
                echo "bench-decode: '$*' failed (see $log.err)" >&2; cat "$log.err" >&2; exit 1
            fi
        fi
        tries=$((tries + 1))
        if flock -n "$LOCK" true; then break; fi
        if [ $tries -ge 3 ] || [ "$QUIET_TIMED_OUT" = 1 ]; then
            DISTURBED+=("$(basename "$log")"); break
        fi
        echo "  (a build ran during the measurement; again)" >&2
    done
    local wall
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log.time")
    SECS=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.3f", s }')
    RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
}

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
fps() { awk -v f="$1" -v s="$2" 'BEGIN { printf "%.0f", f / s }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
yesno() { awk "BEGIN { print ($1) ? \"yes\" : \"NO\" }"; }
row() { printf "%-50s %9s %10s %12s %9s %11s\n" "$@"; }

PEAK_KB=0
peak() { if [ "$1" -gt "$PEAK_KB" ]; then PEAK_KB=$1; fi; }
REPORT=()

# bench NAME FILE TSHARK-MIB: times everything on FILE (tshark on its first TSHARK-MIB MiB, scaled; 0: the whole
# file); sets <NAME>_SUMMARY_SECS, _FRAMES, _TS_SECS... via globals.
bench() {
    local name=$1 file=$2 ts_mib=$3
    local bytes frames
    bytes=$(stat -c %s "$file")
    echo "warming the page cache ($file)..." >&2
    cat "$file" > /dev/null

    echo "[$name] rmq-trace decode --format summary..." >&2
    measure "$BENCH_DIR/$name.summary.out" "$BENCH_DIR/$name.summary" "$RMQ" decode --format summary "$file"
    local s_secs=$SECS s_rss=$RSS_KB; peak "$RSS_KB"
    frames=$(sed -n 's/^\([0-9][0-9]*\) frames (.*/\1/p' "$BENCH_DIR/$name.summary.out" | head -n1)
    [ -n "$frames" ] || { echo "bench-decode: no frame count in $BENCH_DIR/$name.summary.out" >&2; exit 1; }

    echo "[$name] rmq-trace decode --format text > /dev/null..." >&2
    measure /dev/null "$BENCH_DIR/$name.text" "$RMQ" decode --format text --no-color "$file"
    local t_secs=$SECS t_rss=$RSS_KB; peak "$RSS_KB"
    echo "[$name] rmq-trace decode --format ndjson > /dev/null..." >&2
    measure /dev/null "$BENCH_DIR/$name.ndjson" "$RMQ" decode --format ndjson "$file"
    local n_secs=$SECS n_rss=$RSS_KB; peak "$RSS_KB"

    local ts_secs="" ts_rss="" ts_note="skipped"
    if [ "$SKIP_TSHARK" != 1 ]; then
        local ts_file=$file ts_bytes=$bytes
        ts_note="whole file"
        if [ "$ts_mib" != 0 ] && [ $((ts_mib * 1048576)) -lt "$bytes" ]; then
            ts_file="$BENCH_DIR/$name.prefix-${ts_mib}MiB.pcap"
            if [ ! -f "$ts_file" ] || [ "$file" -nt "$ts_file" ]; then
                head -c $((ts_mib * 1048576)) "$file" > "$ts_file"   # tshark stops at the cut packet
            fi
            ts_bytes=$(stat -c %s "$ts_file")
            ts_note="first $ts_mib MiB, scaled"
            cat "$ts_file" > /dev/null
        fi
        echo "[$name] tshark -r FILE -Y \"tcp.len>0\" -q ($ts_note)..." >&2
        ALLOW_CUT=1 measure "$BENCH_DIR/$name.tshark.out" "$BENCH_DIR/$name.tshark" tshark -r "$ts_file" -Y "tcp.len>0" -q
        ts_secs=$(awk -v s="$SECS" -v a="$ts_bytes" -v b="$bytes" 'BEGIN { printf "%.3f", s * b / a }')
        ts_rss=$RSS_KB
    fi

    local allocs="-"
    if [ -n "$MALLOC_SO" ]; then
        echo "[$name] counting allocations (summary, LD_PRELOAD malloc counter, untimed)..." >&2
        MALLOC_COUNT_OUT="$BENCH_DIR/$name.mallocs" LD_PRELOAD="$MALLOC_SO" "$RMQ" decode --format summary "$file" > /dev/null
        allocs=$(awk -v f="$frames" '/^mallocs/ { printf "%.2f", $2 / f }' "$BENCH_DIR/$name.mallocs")
    fi

    local s_fps ts_fps="" ratio="-"
    s_fps=$(fps "$frames" "$s_secs")
    if [ -n "$ts_secs" ]; then ts_fps=$(fps "$frames" "$ts_secs"); ratio=$(awk -v a="$ts_secs" -v b="$s_secs" 'BEGIN { printf "%.1fx", a / b }'); fi
    REPORT+=("")
    REPORT+=("$(printf "%s capture: %s (%s bytes, %.1f MiB), %s RocketMQ frames, %s B/frame" "$name" "$file" "$bytes" \
        "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$frames" "$(awk -v b="$bytes" -v f="$frames" 'BEGIN { printf "%.0f", b / f }')")")
    REPORT+=("  ours: $(grep -m1 ' frames (' "$BENCH_DIR/$name.summary.out")")
    REPORT+=("$(row "tool" "seconds" "MB/s" "frames/s" "vs tshark" "peak RSS MB")")
    REPORT+=("$(row "rmq-trace --format summary" "$s_secs" "$(mbps "$bytes" "$s_secs")" "$s_fps" "$ratio" "$(mb "$s_rss")")")
    REPORT+=("$(row "rmq-trace --format text > /dev/null" "$t_secs" "$(mbps "$bytes" "$t_secs")" "$(fps "$frames" "$t_secs")" \
        "$([ -n "$ts_secs" ] && awk -v a="$ts_secs" -v b="$t_secs" 'BEGIN { printf "%.1fx", a / b }' || echo -)" "$(mb "$t_rss")")")
    REPORT+=("$(row "rmq-trace --format ndjson > /dev/null" "$n_secs" "$(mbps "$bytes" "$n_secs")" "$(fps "$frames" "$n_secs")" \
        "$([ -n "$ts_secs" ] && awk -v a="$ts_secs" -v b="$n_secs" 'BEGIN { printf "%.1fx", a / b }' || echo -)" "$(mb "$n_rss")")")
    if [ -n "$ts_secs" ]; then
        REPORT+=("$(row "tshark -Y \"tcp.len>0\" -q ($ts_note)" "$ts_secs" "$(mbps "$bytes" "$ts_secs")" "$ts_fps" "1.0x" "$(mb "$ts_rss")")")
    fi
    REPORT+=("  allocations per frame (summary): $allocs;  text/summary speed: $(awk -v a="$s_secs" -v b="$t_secs" 'BEGIN { printf "%.2f", a / b }'),  ndjson/summary: $(awk -v a="$s_secs" -v b="$n_secs" 'BEGIN { printf "%.2f", a / b }')")

    printf -v "${name}_BYTES" "%s" "$bytes"
    printf -v "${name}_FRAMES" "%s" "$frames"
    printf -v "${name}_S" "%s" "$s_secs"
    printf -v "${name}_T" "%s" "$t_secs"
    printf -v "${name}_N" "%s" "$n_secs"
    printf -v "${name}_TS" "%s" "$ts_secs"
}

SMALL="$BENCH_DIR/idle-polls-${FRAMES}f-${CONNECTIONS}c.pcap"
LARGE="$BENCH_DIR/consume-${SIZE_MIB}MiB.pcap"
gen "$SMALL" "mode=idle-polls frames=$FRAMES connections=$CONNECTIONS seed=$SEED" --mode idle-polls --frames "$FRAMES" --connections "$CONNECTIONS" --seed "$SEED"
gen "$LARGE" "size-mib=$SIZE_MIB seed=$SEED" --size-mib "$SIZE_MIB" --seed "$SEED"

bench small "$SMALL" "$TSHARK_SMALL_SIZE_MIB"
bench large "$LARGE" "$TSHARK_SIZE_MIB"

if [ "$MEM_CHECK" = 1 ]; then
    SMALL2="$BENCH_DIR/idle-polls-$((FRAMES * 2))f-${CONNECTIONS}c.pcap"
    LARGE2="$BENCH_DIR/consume-$((SIZE_MIB * 2))MiB.pcap"
    gen "$SMALL2" "mode=idle-polls frames=$((FRAMES * 2)) connections=$CONNECTIONS seed=$SEED" --mode idle-polls --frames $((FRAMES * 2)) --connections "$CONNECTIONS" --seed "$SEED"
    gen "$LARGE2" "size-mib=$((SIZE_MIB * 2)) seed=$SEED" --size-mib $((SIZE_MIB * 2)) --seed "$SEED"
    REPORT+=("")
    for f in "$SMALL2" "$LARGE2"; do
        cat "$f" > /dev/null
        echo "memory check: summary on $f..." >&2
        measure /dev/null "$BENCH_DIR/memcheck" "$RMQ" decode --format summary "$f"
        peak "$RSS_KB"
        REPORT+=("memory check, $(basename "$f"): $SECS s, $(mbps "$(stat -c %s "$f")" "$SECS") MB/s, peak RSS $(mb "$RSS_KB") MB")
    done
fi

# --- report --------------------------------------------------------------------------------------------
CPU_NAME=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo
echo "rmq-trace decode benchmark: $(nproc) cores ($CPU_NAME), pinned: ${PIN[*]:-no}, page cache warm"
for l in "${REPORT[@]}"; do echo "$l"; done

if [ ${#DISTURBED[@]} -gt 0 ]; then
    echo
    echo "measured while another build held $LOCK (other agents' builds; timings may be low): ${DISTURBED[*]}"
fi

SMALL_FPS=$(fps "$small_FRAMES" "$small_S")
LARGE_MBPS=$(mbps "$large_BYTES" "$large_S")
PEAK_MB=$(mb "$PEAK_KB")
SMALL_RATIO="-"
echo
printf "%-52s %12s %10s %5s\n" "goal" "measured" "target" "met"
if [ -n "$small_TS" ]; then
    SMALL_RATIO=$(awk -v a="$small_TS" -v b="$small_S" 'BEGIN { printf "%.1f", a / b }')
    printf "%-52s %12s %10s %5s\n" "small frames: summary vs tshark (frames/s)" "${SMALL_RATIO}x" ">= 30x" "$(yesno "$SMALL_RATIO >= 30")"
fi
printf "%-52s %12s %10s %5s\n" "small frames: summary frames/s" "$SMALL_FPS" "-" "-"
printf "%-52s %12s %10s %5s\n" "large bodies: summary MB/s" "$LARGE_MBPS" ">= 1000" "$(yesno "$LARGE_MBPS >= 1000")"
for cap in small large; do
    s=${cap}_S; t=${cap}_T; n=${cap}_N
    r=$(awk -v a="${!s}" -v b="${!t}" 'BEGIN { printf "%.2f", a / b }')
    printf "%-52s %12s %10s %5s\n" "$cap: text speed / summary speed" "$r" ">= 0.5" "$(yesno "$r >= 0.5")"
    r=$(awk -v a="${!s}" -v b="${!n}" 'BEGIN { printf "%.2f", a / b }')
    printf "%-52s %12s %10s %5s\n" "$cap: ndjson speed / summary speed" "$r" ">= 0.5" "$(yesno "$r >= 0.5")"
done
printf "%-52s %12s %10s %5s\n" "peak RSS over every rmq-trace run (MB)" "$PEAK_MB" "< 100" "$(yesno "$PEAK_MB < 100")"
echo
echo "decode: small_fps=$SMALL_FPS small_vs_tshark=$SMALL_RATIO large_mbps=$LARGE_MBPS peak_mb=$PEAK_MB"
