#!/bin/bash
# Usage: Tests/Interop/run_interop.sh HOST:PORT
# Interop scenarios with Apache RocketMQ's C++ client (Tests/Interop/cpp_client.py) against the name server
# HOST:PORT and the broker(s) it names: one line per scenario, "PASS name" or "FAIL name: reason", then
# "N passed, N failed"; exit 1 if any failed (2 on bad usage).
#
#   scripts/interop-venv.sh                       # once, outside any network namespace (it pip-installs)
#   /work/shared/realbroker/in_netns.sh Tests/Interop/run_interop.sh 127.0.0.1:9876   # the real 4.9.4 broker
#
# Env: INTEROP_PY (python with the binding; default .venv-interop/bin/python), INTEROP_OUT (folder for the raw
# JSON of each step; default a new temp folder, printed on stderr), INTEROP_N (default 200), INTEROP_MORE (20).
# Every run uses new topics and groups (names carry a run id), so runs do not see each other's messages.
set -u
HP=${1:-}
if [ -z "$HP" ] || [ $# -ne 1 ]; then echo "usage: run_interop.sh HOST:PORT" >&2; exit 2; fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${INTEROP_PY:-$ROOT/.venv-interop/bin/python}
[ -x "$PY" ] || { echo "run_interop: no $PY (run scripts/interop-venv.sh first)" >&2; exit 2; }
DRV="$ROOT/Tests/Interop/cpp_client.py"
N=${INTEROP_N:-200}; MORE=${INTEROP_MORE:-20}
OUT=${INTEROP_OUT:-$(mktemp -d /tmp/rmq-interop.XXXXXX)}; mkdir -p "$OUT"
echo "run_interop: raw output in $OUT" >&2
RUN=$(date +%s)-$$
T1=interop_${RUN//-/_}_a; T2=interop_${RUN//-/_}_b
G1=interop_g1_${RUN//-/_}; G2=interop_g2_${RUN//-/_}
export RMQ_CPP_HOME="$OUT/cpp-home"
pass=0; fail=0
result() { # name status reason
  if [ "$2" = 0 ]; then echo "PASS $1"; pass=$((pass+1)); else echo "FAIL $1: $3"; fail=$((fail+1)); fi
}
drv() { "$PY" "$DRV" "$@" --namesrv "$HP"; }
# check NAME PYTHON-CODE FILES...: the code sets `err` to a reason (a string) when the scenario failed
check() {
  local name=$1 code=$2; shift 2
  local reason
  reason=$(python3 - "$@" <<EOF 2>&1
import json, sys
def lines(f): return [json.loads(l) for l in open(f) if l.strip()]
def last(f):
    ls = lines(f)
    return ls[-1] if ls else {}
def sent_ids(f): return [l["msgId"] for l in lines(f) if "msgId" in l]
args = sys.argv[1:]
err = None
$code
print(err or "", end="")
EOF
)
  [ -z "$reason" ]; result "$name" $? "$reason"
  last_ok=$([ -z "$reason" ] && echo 1 || echo 0)
}
last_ok=0
errline() { tail -n 1 "$1" 2>/dev/null | tr -d '\n'; }

# 1. produce N with tags, keys, idx property and a big (compressed) body every 10th
drv produce "$N" --topic "$T1" --tags TagA,TagB --big-every 10 >"$OUT/produce1.jsonl" 2>"$OUT/produce1.err"
rc=$?
if [ $rc -ne 0 ]; then result produce 1 "driver exit $rc: $(errline "$OUT/produce1.err")"; else
check produce '
ls = lines(args[0]); res = [l for l in ls if "msgId" in l]; fin = ls[-1]
if fin.get("sent") != '"$N"': err = "final line %r" % fin
elif len(res) != '"$N"' or len(set(l["msgId"] for l in res)) != '"$N"': err = "%d results, %d distinct msgIds" % (len(res), len(set(l["msgId"] for l in res)))
elif any(l["status"] != "OK" for l in res): err = "status not OK: %r" % [l for l in res if l["status"] != "OK"][:1]
elif fin.get("big") != '"$N"' // 10: err = "big bodies sent: %r" % fin.get("big")
' "$OUT/produce1.jsonl"
fi

# 2. one consumer in a new group gets each of the N messages exactly once (intact bodies, keys, tags, idx);
#    it stays 7 s after the last one so that the 5 s offset persist timer has run
produce_ok=$last_ok; last_ok=0
if [ "$produce_ok" = 1 ]; then
  drv consume --topic "$T1" --group "$G1" --instance single --expect "$N" --timeout 90 --linger 7 --records \
    >"$OUT/single.json" 2>"$OUT/single.err"; rc=$?
fi
if [ "$produce_ok" != 1 ]; then result single-consumer-exactly-once 1 "not run: produce failed"
elif [ $rc -ne 0 ] && [ $rc -ne 2 ]; then result single-consumer-exactly-once 1 "driver exit $rc: $(errline "$OUT/single.err")"; else
check single-consumer-exactly-once '
s = last(args[1]); sent = set(sent_ids(args[0]))
recs = s.get("records", [])
if len(sent) != '"$N"': err = "step produce sent %d messages, not %d" % (len(sent), '"$N"')
elif s.get("distinct") != len(sent) or set(s.get("ids", [])) != sent: err = "distinct %s of %d sent (missing %d, unexpected %d)" % (s.get("distinct"), len(sent), len(sent - set(s.get("ids", []))), len(set(s.get("ids", [])) - sent))
elif s["duplicates"]: err = "%d duplicate deliveries" % s["duplicates"]
elif s["badBodies"] or s["bigBodiesOk"] != len(sent) // 10: err = "bodies: %d bad, %d big ok" % (s["badBodies"], s["bigBodiesOk"])
elif any(r["keys"] != "k-%d" % r["idx"] or r["tags"] != ("TagA", "TagB")[r["idx"] % 2] for r in recs): err = "keys/tags do not match idx"
elif sorted(r["idx"] for r in recs) != list(range(len(sent))): err = "idx property values wrong"
elif not s["shutdownOk"]: err = "consumer shutdown failed"
' "$OUT/produce1.jsonl" "$OUT/single.json"
fi
single_ok=$last_ok

# 3. two consumers of one group: the topic exists before they start (a consumer whose topic is missing at start
#    waits up to ~40 s for its next route refresh), they settle for 12 s, then N messages are produced: each
#    consumer gets some, none gets a message the other got, together they get all, each from its own queues
#    (the 4 warm-up messages are not checked: the first rebalance may give them all to whichever came first)
drv produce 4 --topic "$T2" --start 100000 --run warmup >"$OUT/warmup.jsonl" 2>"$OUT/warmup.err" || true
drv consume-for 40 --topic "$T2" --group "$G2" --instance twoA --records >"$OUT/twoA.json" 2>"$OUT/twoA.err" & pa=$!
drv consume-for 40 --topic "$T2" --group "$G2" --instance twoB --records >"$OUT/twoB.json" 2>"$OUT/twoB.err" & pb=$!
sleep 12
drv produce "$N" --topic "$T2" --tags TagA,TagB --big-every 10 >"$OUT/produce2.jsonl" 2>"$OUT/produce2.err"; rcp=$?
wait $pa; rca=$?; wait $pb; rcb=$?
if [ $rcp -ne 0 ] || [ $rca -ne 0 ] || [ $rcb -ne 0 ]; then
  result two-consumers-split 1 "driver exits produce=$rcp A=$rca B=$rcb: $(errline "$OUT/produce2.err")$(errline "$OUT/twoA.err")$(errline "$OUT/twoB.err")"
else
check two-consumers-split '
sent = set(sent_ids(args[0])); a = last(args[1]); b = last(args[2])
ia = [i for i in a["ids"] if i in sent]; ib = [i for i in b["ids"] if i in sent]
if not ia or not ib: err = "no split: A got %d, B got %d of %d" % (len(ia), len(ib), len(sent))
elif set(ia) & set(ib): err = "%d messages went to both consumers" % len(set(ia) & set(ib))
elif set(ia) | set(ib) != sent: err = "together %d of %d" % (len(set(ia) | set(ib)), len(sent))
elif a["duplicates"] or b["duplicates"]: err = "duplicates A=%d B=%d" % (a["duplicates"], b["duplicates"])
else:
    qa = {r["queueId"] for r in a["records"] if r["id"] in sent}; qb = {r["queueId"] for r in b["records"] if r["id"] in sent}
    if qa & qb: err = "queues read by both after settling: %r %r" % (sorted(qa), sorted(qb))
' "$OUT/produce2.jsonl" "$OUT/twoA.json" "$OUT/twoB.json"
fi

# 4. the consumer of step 2, restarted (same group and instance), gets nothing already committed
#    (4 and 5 only mean something once step 2 consumed everything)
if [ "$single_ok" != 1 ]; then
  result restart-nothing-old 1 "not run: single-consumer-exactly-once failed"
  result restart-only-new 1 "not run: single-consumer-exactly-once failed"
  echo "$pass passed, $fail failed"; exit 1
fi
drv consume-for 10 --topic "$T1" --group "$G1" --instance single >"$OUT/restart0.json" 2>"$OUT/restart0.err"; rc=$?
if [ $rc -ne 0 ]; then result restart-nothing-old 1 "driver exit $rc: $(errline "$OUT/restart0.err")"; else
check restart-nothing-old '
s = last(args[0])
if s.get("received") != 0: err = "received %s old messages (idx %r...)" % (s.get("received"), s.get("idx", [])[:5])
' "$OUT/restart0.json"
fi

# 5. MORE new messages produced, restarted again: it gets exactly those, nothing old
drv produce "$MORE" --topic "$T1" --start "$N" --tags TagA,TagB --big-every 10 >"$OUT/produce3.jsonl" 2>"$OUT/produce3.err"; rcp=$?
drv consume --topic "$T1" --group "$G1" --instance single --expect "$MORE" --timeout 60 --linger 3 \
  >"$OUT/restart1.json" 2>"$OUT/restart1.err"; rc=$?
if [ $rcp -ne 0 ]; then result restart-only-new 1 "produce exit $rcp: $(errline "$OUT/produce3.err")"
elif [ $rc -ne 0 ] && [ $rc -ne 2 ]; then result restart-only-new 1 "driver exit $rc: $(errline "$OUT/restart1.err")"; else
check restart-only-new '
sent = set(sent_ids(args[0])); s = last(args[1])
got = set(s.get("ids", []))
if got - sent: err = "%d old/unexpected messages (idx %r)" % (len(got - sent), sorted(i for i in s["idx"] if i < '"$N"')[:5])
elif got != sent: err = "got %d of %d new" % (len(got & sent), len(sent))
elif s["duplicates"]: err = "%d duplicates" % s["duplicates"]
' "$OUT/produce3.jsonl" "$OUT/restart1.json"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
