#!/usr/bin/env python3
"""Interop driver: Apache RocketMQ's C++ client (librocketmq.so, through PyPI's rocketmq==0.4.4 ctypes binding).

Run it with the python of scripts/interop-venv.sh. Every subcommand prints JSON lines on stdout (and nothing
else there: the C++ library's own output is sent to stderr) and on failure one line `cpp_client: error: ...` on
stderr with a non-zero exit code. A watchdog ends the process if anything (the C++ library included) hangs.

  produce N [--tags TagA,TagB] [--big-every K] [--start S]
      sends N messages: tag tags[i % len], keys "k-<i>", user property idx=<i>, body "body-<i>|..."; every K-th
      body (i % K == K-1) is over 4 KiB, so the C++ producer zlib-compresses it. One line a send
      {"i","msgId","offset","status","queueOffset"...}, then {"sent": N, ...}.
  consume --expect N --timeout S [--linger L] [--instance NAME] [--model clustering|broadcasting]
      a PushConsumer on the topic ('*' unless --expr); stops when N distinct messages arrived (then stays L more
      seconds, so that the client's 5 s offset persist timer runs) or at the timeout; prints a summary
      {"received","distinct","duplicates","ids",...}. Exit 2 (after the summary) if fewer than N arrived.
  consume-for S [...]
      the same consumer, runs S seconds whatever arrives, prints the same summary, exit 0.
  Both consumers: --fail-every K returns RECONSUME_LATER, once, for every message whose idx property has
  idx % K == K-1 (the client sends it back with CONSUMER_SEND_MSG_BACK and it comes again from %RETRY%<group>,
  reconsumeTimes 1; a failed delivery is counted in "failed", not in "received"); --work-ms W sleeps W ms in
  the listener per message (to have messages in flight when a consumer is killed).

Exit codes: 0 ok, 1 error, 2 consume: expectation not met, 3 watchdog fired, 4 consumer shutdown did not return.
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

PROG = "cpp_client"
BIG_SIZE = 5000          # > 4096 = the C++ producer's default compressMsgBodyOverHowmuch
FILLER = "0123456789abcdefghijklmnopqrstuvwxyz"

_out = None              # the real stdout (a dup of fd 1 taken before fd 1 is pointed at stderr)
_out_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"), sort_keys=False) + "\n"
    with _out_lock:
        _out.write(line)
        _out.flush()


def die(msg, code=1):
    try:
        sys.stderr.write("%s: error: %s\n" % (PROG, " ".join(str(msg).split())))
        sys.stderr.flush()
    finally:
        os._exit(code)


def make_body(i, big):
    head = "body-%d|" % i
    if not big:
        return head + "small"
    reps = (BIG_SIZE - len(head)) // len(FILLER) + 1
    return head + (FILLER * reps)[: BIG_SIZE - len(head)]


def start_watchdog(seconds, what):
    def fire():
        die("watchdog: %s did not finish within %.0f s" % (what, seconds), 3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def redirect_native_stdout():
    """Keep a private handle on stdout for JSON and point fd 1 at stderr, so nothing the C++ library (or
    anything else) prints can mix with the JSON lines."""
    global _out
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    _out = os.fdopen(fd, "w", buffering=1)
    sys.stdout = sys.stderr


def prepare_home(home):
    """The bundled C++ client (boost-log build) writes its log to $HOME/logs/rocketmq-cpp/ and ignores
    Set*LogPath (a no-op in that version), and keeps broadcasting offsets under $HOME/.rocketmq_offsets. So HOME is
    pointed at a scratch folder before the library loads; ROCKETMQ_CPP_LOG_DIR is for newer builds."""
    os.makedirs(os.path.join(home, "logs", "rocketmq-cpp"), exist_ok=True)
    os.environ["HOME"] = home
    os.environ["ROCKETMQ_CPP_LOG_DIR"] = os.path.join(home, "logs", "rocketmq-cpp")


def load_binding():
    try:
        from rocketmq import client, ffi
        return client, ffi
    except Exception as e:  # ImportError, OSError from ctypes
        die("cannot load the rocketmq binding / librocketmq.so: %s" % e)


def check_hostport(s):
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % s)
    return s


def log_level(ffi, name):
    return getattr(ffi._CLogLevel, name.upper())


# ------------------------------------------------------------------------------------------------ produce

def cmd_produce(a, client, ffi):
    dll = ffi.dll
    tags = [t for t in (a.tags or "").split(",") if t]
    p = client.Producer(a.group, timeout=a.send_timeout_ms)
    h = p._handle
    dll.SetProducerLogLevel(h, log_level(ffi, a.log_level))
    if a.instance:
        dll.SetProducerInstanceName(h, a.instance.encode())
    p.set_namesrv_addr(a.namesrv)
    try:
        p.start()
    except Exception as e:
        die("producer start failed: %s" % e)
    t0 = time.time()
    big_count = 0
    for n in range(a.count):
        i = a.start + n
        big = a.big_every > 0 and (i % a.big_every) == a.big_every - 1
        big_count += big
        body = make_body(i, big).encode()
        m = client.Message(a.topic)
        if tags:
            m.set_tags(tags[i % len(tags)])
        m.set_keys("k-%d" % i)
        m.set_property("idx", str(i))
        if a.run:
            m.set_property("run", a.run)
        rc = dll.SetByteMessageBody(m._handle, body, len(body))
        if rc != 0:
            die("SetByteMessageBody returned %d" % int(rc))
        try:
            r = p.send_sync(m)
        except Exception as e:
            die("send %d failed: %s" % (i, e))
        emit({"i": i, "msgId": r.msg_id, "offset": r.offset, "status": r.status.name,
              "tags": tags[i % len(tags)] if tags else None, "big": bool(big), "bodyLen": len(body)})
    elapsed = time.time() - t0
    try:
        p.shutdown()
        dll.DestroyProducer(h)
    except Exception as e:
        die("producer shutdown failed: %s" % e)
    p._handle = None  # so the binding's __del__ does not shut down / destroy a second time
    emit({"sent": a.count, "big": big_count, "topic": a.topic, "elapsed_s": round(elapsed, 3)})
    return 0


# ------------------------------------------------------------------------------------------------ consume

class Recorder:
    def __init__(self, expect):
        self.lock = threading.Lock()
        self.expect = expect
        self.done = threading.Event()
        self.received = 0
        self.order = []            # distinct ids, first-seen order
        self.seen = {}             # id -> record
        self.duplicates = 0
        self.bad_body = 0
        self.big_ok = 0
        self.callback_errors = 0
        self.first_at = None
        self.last_at = None
        self.fail_every = 0
        self.work_ms = 0
        self.failed = 0
        self.failed_idx = []

    def should_fail(self, msg):
        """RECONSUME_LATER for idx % K == K-1 on its first delivery (reconsumeTimes 0)."""
        if self.fail_every <= 0:
            return False
        try:
            idx = msg.get_property("idx")
            idx = idx.decode() if isinstance(idx, bytes) else idx
            if idx is None or not idx.isdigit() or msg.reconsume_times:
                return False
            if int(idx) % self.fail_every != self.fail_every - 1:
                return False
            with self.lock:
                self.failed += 1
                self.failed_idx.append(int(idx))
            if self.print_messages:
                emit({"failed": int(idx), "msgId": msg.id, "queueId": msg.queue_id,
                      "queueOffset": msg.queue_offset})
            return True
        except Exception:
            with self.lock:
                self.callback_errors += 1
            return False

    def on_message(self, msg, client):
        try:
            if self.work_ms > 0:
                time.sleep(self.work_ms / 1000.0)
            def s(v):
                return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
            body = msg.body or b""
            uniq = s(msg.get_property("UNIQ_KEY")) or ""
            mid = msg.id
            qid = msg.queue_id
            qoff = msg.queue_offset
            idx = s(msg.get_property("idx"))
            key = uniq or mid or "%d:%d" % (qid, qoff)
            rec = {"id": key, "msgId": mid, "queueId": qid, "queueOffset": qoff, "keys": s(msg.keys),
                   "tags": s(msg.tags), "idx": int(idx) if idx and idx.lstrip("-").isdigit() else idx,
                   "bodyLen": len(body), "bodyHead": body[:24].decode("utf-8", "replace"),
                   "reconsumeTimes": msg.reconsume_times}
            ok_body = None
            if isinstance(rec["idx"], int):
                ok_body = body.decode("utf-8", "replace") == make_body(rec["idx"], len(body) > 4096)
            now = time.time()
            with self.lock:
                self.received += 1
                if self.first_at is None:
                    self.first_at = now
                self.last_at = now
                if ok_body is False:
                    self.bad_body += 1
                elif ok_body and len(body) > 4096:
                    self.big_ok += 1
                if key in self.seen:
                    self.duplicates += 1
                else:
                    self.seen[key] = rec
                    self.order.append(key)
                if self.expect is not None and len(self.order) >= self.expect:
                    self.done.set()
            if self.print_messages:
                emit({"msg": rec, "bodyOk": ok_body})
        except Exception:  # never let an exception reach the C++ thread (the binding re-raises it there)
            with self.lock:
                self.callback_errors += 1


def run_consumer(a, client, ffi, expect, duration):
    dll = ffi.dll
    model = ffi.MessageModel.BROADCASTING if a.model == "broadcasting" else ffi.MessageModel.CLUSTERING
    rec = Recorder(expect)
    rec.print_messages = a.print_messages
    rec.fail_every = a.fail_every
    rec.work_ms = a.work_ms
    c = client.PushConsumer(a.group, message_model=model)
    h = c._handle
    dll.SetPushConsumerLogLevel(h, log_level(ffi, a.log_level))
    if a.instance:
        c.set_instance_name(a.instance)
    c.set_namesrv_addr(a.namesrv)
    c.set_thread_count(a.threads)
    c.set_message_batch_max_size(1)

    # Our own C callback instead of the binding's subscribe(): its wrapper re-raises the listener's exception
    # inside the ctypes callback, so the status returned to the C++ library cannot be RECONSUME_LATER.
    def on_c_message(consumer, msg_handle):
        try:
            m = client.RecvMessage(msg_handle)
            if rec.should_fail(m):
                return ffi._CConsumeStatus.RECONSUME_LATER.value
            rec.on_message(m, client)
        except Exception:
            with rec.lock:
                rec.callback_errors += 1
        return ffi._CConsumeStatus.CONSUME_SUCCESS.value
    ffi.dll.Subscribe(h, a.topic.encode(), a.expr.encode())
    c._register_callback(on_c_message)
    t0 = time.time()
    try:
        c.start()
    except Exception as e:
        die("push consumer start failed: %s" % e)
    if duration is not None:
        time.sleep(duration)
        timed_out = False
    else:
        timed_out = not rec.done.wait(a.timeout)
        if not timed_out and a.linger > 0:
            time.sleep(a.linger)
    stopped_at = time.time()

    # Shut down in a helper thread so a hanging ShutdownPushConsumer cannot hang us.
    result = {}

    def shut():
        try:
            result["rc"] = int(dll.ShutdownPushConsumer(h))
        except Exception as e:
            result["err"] = str(e)
    st = threading.Thread(target=shut, daemon=True)
    st.start()
    st.join(a.shutdown_timeout)
    shutdown_ok = not st.is_alive() and result.get("rc") == 0
    if shutdown_ok:
        dll.DestroyPushConsumer(h)
    c._handle = None  # the binding's __del__ must not shut down / destroy again
    c._callback_refs_keep = c._callback_refs  # keep the ctypes callback alive until exit

    with rec.lock:
        summary = {
            "received": rec.received, "distinct": len(rec.order), "duplicates": rec.duplicates,
            "ids": list(rec.order),
            "idx": sorted(r["idx"] for r in rec.seen.values() if isinstance(r["idx"], int)),
            "perQueue": {}, "badBodies": rec.bad_body, "bigBodiesOk": rec.big_ok,
            "callbackErrors": rec.callback_errors, "failed": rec.failed, "failedIdx": sorted(rec.failed_idx), "reconsumed": sum(1 for r in rec.seen.values()
                                                                     if r["reconsumeTimes"]),
            "timedOut": timed_out, "expect": expect, "group": a.group, "topic": a.topic,
            "instance": a.instance, "model": a.model, "shutdownOk": shutdown_ok,
            "elapsed_s": round(stopped_at - t0, 3),
            "firstMsgAfter_s": round(rec.first_at - t0, 3) if rec.first_at else None,
        }
        for r in rec.seen.values():
            q = str(r["queueId"])
            summary["perQueue"][q] = summary["perQueue"].get(q, 0) + 1
        if a.records:
            summary["records"] = [rec.seen[k] for k in rec.order]
    emit(summary)
    if not shutdown_ok:
        die("ShutdownPushConsumer did not return within %ss (%s)" % (a.shutdown_timeout, result), 4)
    if timed_out:
        die("expected %d distinct messages, got %d within %ss" % (expect, len(rec.order), a.timeout), 2)
    return 0


# ------------------------------------------------------------------------------------------------ main

class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 1 (2 means "expectation not met" here)
        sys.stderr.write("%s: error: %s (see --help)\n" % (PROG, message))
        sys.exit(1)


def parser():
    ap = Parser(prog="cpp_client.py", description=__doc__.split("\n")[0])
    common = Parser(add_help=False)
    common.add_argument("--namesrv", required=True, type=check_hostport, help="name server HOST:PORT")
    common.add_argument("--topic", default="TopicTest")
    common.add_argument("--log-level", default="warn", choices=["fatal", "error", "warn", "info", "debug",
                                                                 "trace"], help="C++ client log level")
    common.add_argument("--home", default=os.environ.get("RMQ_CPP_HOME") or
                        os.path.join(tempfile.gettempdir(), "rmq-interop-cpp-home"),
                        help="HOME for the C++ library: its logs go to HOME/logs/rocketmq-cpp")
    common.add_argument("--instance", default=None, help="client instance name")
    common.add_argument("--deadline", type=float, default=None, help="watchdog seconds (default: derived)")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    p = sub.add_parser("produce", parents=[common])
    p.add_argument("count", type=int)
    p.add_argument("--group", default="interop_cpp_producer")
    p.add_argument("--tags", default="TagA,TagB")
    p.add_argument("--big-every", type=int, default=0, help="every K-th body over 4 KiB (0: none)")
    p.add_argument("--start", type=int, default=0, help="first index")
    p.add_argument("--run", default=None, help="value of a 'run' user property")
    p.add_argument("--send-timeout-ms", type=int, default=5000)

    for name in ("consume", "consume-for"):
        c = sub.add_parser(name, parents=[common])
        if name == "consume":
            c.add_argument("--expect", type=int, required=True)
            c.add_argument("--timeout", type=float, required=True)
            c.add_argument("--linger", type=float, default=0.0,
                           help="seconds to keep running after the expected count (offset persist: 5 s)")
        else:
            c.add_argument("seconds", type=float)
        c.add_argument("--group", required=True)
        c.add_argument("--model", default="clustering", choices=["clustering", "broadcasting"])
        c.add_argument("--expr", default="*", help="subscription expression")
        c.add_argument("--threads", type=int, default=2)
        c.add_argument("--shutdown-timeout", type=float, default=20.0)
        c.add_argument("--print-messages", action="store_true", help="one {'msg':...} line per delivery")
        c.add_argument("--records", action="store_true", help="add every distinct record to the summary")
        c.add_argument("--fail-every", type=int, default=0,
                       help="RECONSUME_LATER once for every message with idx %% K == K-1 (0: never)")
        c.add_argument("--work-ms", type=int, default=0, help="sleep this many ms per message in the listener")
    return ap


def main():
    a = parser().parse_args()
    redirect_native_stdout()
    if a.cmd == "produce":
        deadline = a.deadline or 60 + a.count * (a.send_timeout_ms / 1000.0) * 0.2
    elif a.cmd == "consume":
        deadline = a.deadline or a.timeout + a.linger + a.shutdown_timeout + 20
    else:
        deadline = a.deadline or a.seconds + a.shutdown_timeout + 20
    start_watchdog(deadline, a.cmd)
    prepare_home(a.home)
    client, ffi = load_binding()
    try:
        if a.cmd == "produce":
            if a.count < 0:
                die("N must be >= 0")
            code = cmd_produce(a, client, ffi)
        elif a.cmd == "consume":
            code = run_consumer(a, client, ffi, a.expect, None)
        else:
            code = run_consumer(a, client, ffi, None, a.seconds)
    except SystemExit:
        raise
    except BaseException as e:
        die("%s: %s" % (type(e).__name__, e))
    _out.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown while C++ threads may still exist


if __name__ == "__main__":
    main()
