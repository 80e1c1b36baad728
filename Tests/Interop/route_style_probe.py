#!/usr/bin/env python3
"""A stand-in name server that answers only GET_ROUTEINFO_BY_TOPIC (105), to see which route JSON styles the
C++ client accepts. Every topic gets one broker (--broker, default 127.0.0.1:10911, name broker-a) with 4 queues.

  route_style_probe.py --port 19876 --style standard|fastjson [--seconds 30]

  standard : {"brokerAddrs":{"0":"127.0.0.1:10911"}, ...}   (quoted key: what 4.9.4 sends to clients >= V4_9_4)
  fastjson : {"brokerAddrs":{0:"127.0.0.1:10911"}, ...}     (bare integer key: what 4.9.4 sends to older clients)

Other request codes get REQUEST_CODE_NOT_SUPPORTED (3). Listens on 127.0.0.1 only; stops after --seconds.
Prints one JSON line per request on stdout.
"""
import argparse
import json
import socket
import struct
import threading
import time


def route(style, broker):
    addrs = '{"0":"%s"}' % broker if style == "standard" else '{0:"%s"}' % broker
    return ('{"brokerDatas":[{"brokerAddrs":%s,"brokerName":"broker-a","cluster":"DefaultCluster"}],'
            '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,'
            '"topicSysFlag":0,"writeQueueNums":4}]}' % addrs).encode()


def frame(header, body=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">iI", 4 + len(h) + len(body), len(h)) + h + body


def serve(conn, a):
    buf = b""
    with conn:
        while True:
            d = conn.recv(65536)
            if not d:
                return
            buf += d
            while len(buf) >= 8:
                total = struct.unpack(">i", buf[:4])[0]
                if len(buf) < 4 + total:
                    break
                hl = struct.unpack(">I", buf[4:8])[0] & 0xFFFFFF
                req = json.loads(buf[8:8 + hl])
                buf = buf[4 + total:]
                print(json.dumps({"code": req.get("code"), "ext": req.get("extFields"),
                                  "version": req.get("version")}), flush=True)
                resp = {"code": 0, "flag": 1, "language": "JAVA", "opaque": req.get("opaque", 0),
                        "serializeTypeCurrentRPC": "JSON", "version": 401}
                if req.get("code") == 105:
                    conn.sendall(frame(resp, route(a.style, a.broker)))
                elif not req.get("flag", 0) & 2:
                    resp.update(code=3, remark=" request type %s not supported" % req.get("code"))
                    conn.sendall(frame(resp))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=19876)
    ap.add_argument("--style", choices=["standard", "fastjson"], required=True)
    ap.add_argument("--broker", default="127.0.0.1:10911")
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(8)
    s.settimeout(0.5)
    end = time.time() + a.seconds
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c, a), daemon=True).start()


if __name__ == "__main__":
    main()
