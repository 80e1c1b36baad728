#!/usr/bin/env bash
# Codec benchmark (issue "RocketMQRemoting", speed section): builds and runs Benchmarks/ (package-benchmark)
# in release, pinned to one core when taskset is available, then prints ours vs the Java reference side by
# side. Speed is measured here, never in timed unit tests.
#
#   scripts/bench-codec.sh                 # all benchmarks (zero-copy path, and "via ExtFields" full path)
#   scripts/bench-codec.sh --filter JSON   # extra arguments go to `swift package benchmark`
#
# Environment: BENCH_CPU (core to pin to, default 0), BENCH_LOCK (a lock file that serialises swift builds,
# default /tmp/swiftbuild.lock; set it empty to not lock).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/Benchmarks"

lock=()
lockfile="${BENCH_LOCK-/tmp/swiftbuild.lock}"
if [[ -n "$lockfile" ]] && command -v flock >/dev/null; then lock=(flock "$lockfile"); fi
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c "${BENCH_CPU:-0}"); fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Build on all cores first; the pinned run below then finds everything built.
"${lock[@]}" swift build -c release --product CodecBenchmarks
echo "running the benchmarks${pin:+ pinned with: ${pin[*]}} ..." >&2
"${lock[@]}" "${pin[@]}" swift package --disable-sandbox benchmark --no-progress --format jmh --path "$out" "$@" >&2

python3 - "$out"/*.jmh.json <<'EOF'
import json, sys

SCALE = 1000          # frames per benchmark iteration (scalingFactor .kilo in CodecBenchmarks.swift)
RECORDS = 32          # records per FOUND response
# Apache RocketMQ 4.9.4's Java codec, one core, JIT warm (issue text); goals from the same issue.
ROWS = [  # (name fragment, label, reference frames/s, goal frames/s)
    ("PULL_MESSAGE_request,_JSON_header", "PULL_MESSAGE request, JSON header", 1.0e6, 1.5e6),
    ("PULL_MESSAGE_request,_binary_header", "PULL_MESSAGE request, binary header", 1.9e6, 4.0e6),
    ("PULL_MESSAGE_FOUND_response,_JSON_header", f"FOUND response, JSON header, {RECORDS} records", None, None),
    ("PULL_MESSAGE_FOUND_response,_binary_header", f"FOUND response, binary header, {RECORDS} records", None, None),
    # The full path (RemotingFrame.decode with ExtFields + TypedHeader), for comparison.
    ("PULL_MESSAGE_request_via_ExtFields,_JSON_header", "request via ExtFields, JSON header", 1.0e6, None),
    ("PULL_MESSAGE_request_via_ExtFields,_binary_header", "request via ExtFields, binary header", 1.9e6, None),
    ("PULL_MESSAGE_FOUND_response_via_ExtFields,_JSON_header", f"FOUND via ExtFields, JSON header, {RECORDS} records", None, None),
    ("PULL_MESSAGE_FOUND_response_via_ExtFields,_binary_header", f"FOUND via ExtFields, binary header, {RECORDS} records", None, None),
]

results = {}
for path in sys.argv[1:]:
    for e in json.load(open(path)):
        results[e["benchmark"]] = e

def find(fragment):
    for name, e in results.items():
        if fragment in name:
            return e
    return None

def fmt_rate(v):
    return f"{v / 1e6:.3f} M" if v >= 1e5 else f"{v / 1e3:.1f} k"

header = ["benchmark", "ours frames/s", "records/s", "Java 4.9.4 ref", "ours/ref", "goal", "met", "mallocs/frame"]
table = []
for fragment, label, ref, goal in ROWS:
    e = find(fragment)
    if e is None:
        continue
    # Median wall clock per iteration (μs) gives frames/s at full resolution; the throughput metric is
    # rounded to whole iterations per second.
    wall_us = e["secondaryMetrics"]["Time (wall clock)"]["scorePercentiles"]["50.0"]
    fps = SCALE / (wall_us * 1e-6)
    mallocs = e["secondaryMetrics"].get("Malloc (total)", {}).get("scorePercentiles", {}).get("50.0")
    records = fmt_rate(fps * RECORDS) if "response" in fragment else "-"
    table.append([
        label, fmt_rate(fps), records,
        fmt_rate(ref) if ref else "none", f"{fps / ref:.2f}x" if ref else "-",
        fmt_rate(goal) if goal else "-", ("yes" if fps >= goal else "no") if goal else "-",
        f"{mallocs / SCALE:.1f}" if mallocs is not None else "n/a",
    ])

widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
print(f"\nframes/s from the median wall clock of {SCALE}-frame iterations; mallocs/frame = median mallocs per "
      f"iteration / {SCALE}.")
EOF
