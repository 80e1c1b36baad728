#!/usr/bin/env python3
"""List the RocketMQ remoting frames of a classic pcap file (stdlib only), one JSON line each, in capture order.

  pcap_frames.py FILE.pcap [--ports 9876,10911,10909] [--raw]

For each frame: time, connection (client port -> server port), direction, serialize type (JSON/ROCKETMQ), code,
language, version, opaque, flag, remark, extFields (as sent: value types kept), header length, whether the JSON
header text ends with a newline, body length, and for SEND requests the sysFlag and whether the body looks like
zlib. Responses get the request's code as "reqCode" (paired by connection + opaque). Used to see what a client
(here: the C++ one) sends; it is a quick tool for notes, not the project's decoder.
"""
import argparse
import json
import struct
import sys

LANG = {0: "JAVA", 1: "CPP", 2: "DOTNET", 3: "PYTHON", 4: "DELPHI", 5: "ERLANG", 6: "RUBY", 7: "OTHER",
        8: "HTTP", 9: "GO", 10: "PHP", 11: "OMS", 12: "RUST", 13: "NODE_JS"}


def packets(path):
    with open(path, "rb") as f:
        gh = f.read(24)
        magic = gh[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            e = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            e = ">"
        else:
            sys.exit("pcap_frames: not a classic pcap file (pcapng is not read)")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(e + "I", gh[20:24])[0]
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            ts, tfrac, incl, _orig = struct.unpack(e + "IIII", rh)
            data = f.read(incl)
            yield ts + tfrac / (1e9 if nano else 1e6), linktype, data


def tcp_segments(path):
    for ts, lt, d in packets(path):
        if lt == 1:        # Ethernet
            if len(d) < 14 or d[12:14] != b"\x08\x00":
                continue
            ip = d[14:]
        elif lt == 113:    # Linux cooked
            ip = d[16:]
        elif lt in (101, 228, 12):
            ip = d
        elif lt == 0:      # BSD loopback
            ip = d[4:]
        else:
            continue
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        flags = tcp[13]
        yield ts, sport, dport, seq, flags, tcp[off:]


def parse_header(t, hb):
    if t == 0:
        txt = hb.decode("utf-8", "replace")
        h = json.loads(txt)
        h["_trailingNewline"] = txt.endswith("\n")
        return h
    code, lang, ver, opaque, flag = struct.unpack(">hBhii", hb[:13])
    p = 13
    rl = struct.unpack(">i", hb[p:p + 4])[0]; p += 4
    remark = hb[p:p + rl].decode("utf-8", "replace") if rl > 0 else None; p += max(rl, 0)
    el = struct.unpack(">i", hb[p:p + 4])[0]; p += 4
    ext, end = {}, p + el
    while p < end:
        kl = struct.unpack(">h", hb[p:p + 2])[0]; p += 2
        k = hb[p:p + kl].decode(); p += kl
        vl = struct.unpack(">i", hb[p:p + 4])[0]; p += 4
        ext[k] = hb[p:p + vl].decode("utf-8", "replace"); p += vl
    h = {"code": code, "language": LANG.get(lang, lang), "version": ver, "opaque": opaque, "flag": flag}
    if remark is not None:
        h["remark"] = remark
    if el:
        h["extFields"] = ext
    return h


def frames(path, ports):
    streams = {}  # (src, dst) -> [next_seq, buffer]
    for ts, sp, dp, seq, flags, payload in tcp_segments(path):
        if sp not in ports and dp not in ports:
            continue
        key = (sp, dp)
        st = streams.get(key)
        if flags & 0x02:  # SYN
            streams[key] = [seq + 1, b""]
            continue
        if st is None:
            st = streams[key] = [seq, b""]
        if not payload:
            continue
        if seq != st[0]:
            if (seq - st[0]) & 0xFFFFFFFF > 0x7FFFFFFF:
                continue  # retransmission of bytes already seen
        st[0] = (seq + len(payload)) & 0xFFFFFFFF
        st[1] += payload
        buf = st[1]
        while len(buf) >= 8:
            total = struct.unpack(">i", buf[:4])[0]
            if len(buf) < 4 + total:
                break
            word = struct.unpack(">I", buf[4:8])[0]
            t, hl = word >> 24, word & 0xFFFFFF
            hb = buf[8:8 + hl]
            body = buf[8 + hl:4 + total]
            yield ts, sp, dp, t, hl, hb, body
            buf = buf[4 + total:]
        st[1] = buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--ports", default="9876,10911,10909")
    ap.add_argument("--raw", action="store_true", help="add the header text (JSON) / hex (ROCKETMQ)")
    a = ap.parse_args()
    ports = {int(p) for p in a.ports.split(",")}
    pending = {}
    t0 = None
    for ts, sp, dp, t, hl, hb, body in frames(a.pcap, ports):
        t0 = ts if t0 is None else t0
        try:
            h = parse_header(t, hb)
        except Exception as e:
            print(json.dumps({"t": round(ts - t0, 6), "error": str(e), "hex": hb[:64].hex()}))
            continue
        server_port = dp if dp in ports else sp
        client_port = sp if dp in ports else dp
        to_server = dp in ports
        conn = (client_port, server_port)
        resp = bool(h.get("flag", 0) & 1)
        o = {"t": round(ts - t0, 6), "conn": "%d->%d" % conn, "dir": "c2s" if to_server else "s2c",
             "ser": "JSON" if t == 0 else "ROCKETMQ" if t == 1 else t, "kind": "resp" if resp else "req",
             "code": h.get("code"), "lang": h.get("language"), "version": h.get("version"),
             "opaque": h.get("opaque"), "flag": h.get("flag"), "hlen": hl, "blen": len(body)}
        if resp:
            o["reqCode"] = pending.pop((conn, not to_server, h.get("opaque")), None)
        else:
            pending[(conn, to_server, h.get("opaque"))] = h.get("code")
        if "remark" in h:
            o["remark"] = h["remark"]
        if "extFields" in h:
            o["ext"] = h["extFields"]
        if t == 0:
            o["nl"] = h["_trailingNewline"]
            o["keys"] = [k for k in h if not k.startswith("_")]
        if not resp and h.get("code") in (10, 310, 320) and body:
            o["zlibBody"] = body[:1] == b"\x78"
        if a.raw:
            o["raw"] = hb.decode("utf-8", "replace") if t == 0 else hb.hex()
            if body and len(body) <= 2048 and not resp:
                o["body"] = body.decode("utf-8", "replace")
        print(json.dumps(o, separators=(",", ":")))


if __name__ == "__main__":
    main()
