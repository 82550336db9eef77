#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for the S3 tests: ferry talks to it as its endpoint
(http://127.0.0.1:PORT) and it forwards each request to the real server (Ceph RGW).

With probability --rate, seeded by --seed, a request meets one fault instead of a clean
exchange; besides, with --fault-parts N the first N part uploads (PUT ...?partNumber=...)
the proxy sees are faulted whatever the draw. The first faults take the kinds in turn, each
once (in --faults order), and only then at random: a run with at least as many faults as
kinds has had every kind, and a test's guarantees do not depend on the seed's luck. The
kinds:
  drop-before  the connection is closed before the request body was forwarded (half of the
               body read); the server never sees the request
  drop-after   the request is forwarded and answered by the server, then the connection is
               closed without the answer: the client cannot know it worked
  500          answered 500 InternalError (an S3 XML error body) without forwarding
  503          answered 503 SlowDown (an S3 XML error body) without forwarding
  stall        forwarded; then the answer's head and half its body (half the head when it
               has no body) are sent and nothing more for --stall seconds (longer than the
               client's low-speed limit), then the connection is closed
  truncate     forwarded; the answer is sent with its Content-Length but cut in the middle
               of the body (of the head when there is no body), then the connection closed
Every fault is one line in --log ("fault N KIND METHOD PATH"), every request one line
("req N METHOD PATH -> STATUS"); on SIGTERM a summary line ("summary requests=... faults=...
KIND=COUNT ...").

--bandwidth BYTES_PER_S makes the link from the client slow: request bodies (what ferry
uploads) are read from the client at that rate at most, shared by all connections, like
one slow WAN link (0: unlimited).

--control FILE switches modes at run time: "faults" (the default), "pass" (no faults),
"down" (the listening socket is closed and open connections dropped: connection refused,
like a server that is not running). The file is read every 0.2 s.

The proxy keeps the client's connection alive between requests (as curl reuses it) and opens
a fresh upstream connection per request with "Connection: close", reading the whole answer
before sending any of it: simple, and the faults are at exact places. The Host header is
passed through untouched, so the server checks the client's SigV4 signature as signed.
"""
import argparse
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse

KINDS = ["drop-before", "drop-after", "500", "503", "stall", "truncate"]


class Proxy:
    def __init__(self, args):
        self.args = args
        u = urllib.parse.urlsplit(args.upstream)
        self.up = (u.hostname, u.port or 80)
        self.rng = random.Random(args.seed)
        self.kinds = args.faults.split(",")
        for k in self.kinds:
            if k not in KINDS:
                sys.exit(f"s3-faultproxy: unknown fault {k} (known: {','.join(KINDS)})")
        self.lock = threading.Lock()
        self.n = 0
        self.parts_faulted = 0
        self.counts = {k: 0 for k in KINDS}
        self.mode = "faults"
        self.conns = set()
        self.link_free = 0.0   # --bandwidth: when the shared link can carry the next byte
        self.logf = open(args.log, "a", buffering=1) if args.log else sys.stderr

    def log(self, line):
        with self.lock:
            self.logf.write(f"{time.time():.3f} {line}\n")

    def decide(self, method, target):
        with self.lock:
            self.n += 1
            n = self.n
            kind = None
            hit = self.rng.random() < self.args.rate
            part = method == "PUT" and "partNumber=" in target
            if self.mode == "faults" and part and self.parts_faulted < self.args.fault_parts:
                self.parts_faulted += 1
                hit = True
            if self.mode == "faults" and hit:
                done = sum(self.counts.values())
                if done < len(self.kinds):
                    kind = self.kinds[done]
                else:
                    kind = self.rng.choice(self.kinds)
                self.counts[kind] += 1
        return n, kind

    def throttle(self, n):
        """Book n bytes on the shared link and sleep until they have crossed it."""
        if not self.args.bandwidth:
            return
        with self.lock:
            start = max(time.monotonic(), self.link_free)
            self.link_free = start + n / self.args.bandwidth
            until = self.link_free
        time.sleep(max(0.0, until - time.monotonic()))

    def summary(self):
        with self.lock:
            total = sum(self.counts.values())
            parts = " ".join(f"{k}={v}" for k, v in self.counts.items())
            self.logf.write(f"summary requests={self.n} faults={total} {parts}\n")


def recv_until(sock, buf, marker, limit=1 << 20):
    while marker not in buf:
        if len(buf) > limit:
            raise ValueError("head too large")
        d = sock.recv(65536)
        if not d:
            return buf, False
        buf += d
    return buf, True


def recv_exact(sock, buf, n, px=None):
    chunks = [buf]
    have = len(buf)
    while have < n:
        d = sock.recv(min(1 << 20 if px is None else 1 << 16, n - have))
        if px is not None and d:
            px.throttle(len(d))
        if not d:
            raise ConnectionError("eof in body")
        chunks.append(d)
        have += len(d)
    data = b"".join(chunks)
    return data[:n], data[n:]


def parse_head(head):
    lines = head.split(b"\r\n")
    first = lines[0].decode("latin-1")
    hdrs = []
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(b":")
        hdrs.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    return first, hdrs


def hget(hdrs, name):
    for k, v in hdrs:
        if k.lower() == name:
            return v
    return None


def error_xml(code, msg):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{msg}</Message><RequestId>faultproxy</RequestId></Error>").encode()


def simple_answer(status, reason, body):
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def serve_conn(px, c):
    buf = b""
    try:
        while True:
            buf, ok = recv_until(c, buf, b"\r\n\r\n")
            if not ok:
                return
            head, _, buf = buf.partition(b"\r\n\r\n")
            first, hdrs = parse_head(head)
            method, target = first.split(" ")[0], first.split(" ")[1]
            path = target.split("?")[0]
            clen = int(hget(hdrs, "content-length") or 0)
            if (hget(hdrs, "transfer-encoding") or "").lower() == "chunked":
                px.log(f"error chunked request {method} {path}")
                return
            if px.mode == "down":
                return
            n, kind = px.decide(method, target)
            if kind:
                px.log(f"fault {n} {kind} {method} {target}")
            if kind == "drop-before":
                recv_exact(c, buf, clen // 2) if clen else None
                return
            body, buf = recv_exact(c, buf, clen, px)
            if kind == "500":
                c.sendall(simple_answer(500, "Internal Server Error",
                                        error_xml("InternalError", "injected by s3-faultproxy")))
                continue
            if kind == "503":
                c.sendall(simple_answer(503, "Slow Down",
                                        error_xml("SlowDown", "Please reduce your request rate.")))
                continue
            # forward
            out = [first]
            for k, v in hdrs:
                if k.lower() in ("connection", "keep-alive", "proxy-connection"):
                    continue
                out.append(f"{k}: {v}")
            out.append("Connection: close")
            u = socket.create_connection(px.up, timeout=600)
            try:
                u.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
                chunks = []
                while True:
                    d = u.recv(1 << 20)
                    if not d:
                        break
                    chunks.append(d)
            finally:
                u.close()
            resp = b"".join(chunks)
            rhead, sep, rbody = resp.partition(b"\r\n\r\n")
            if not sep:
                px.log(f"req {n} {method} {path} -> upstream gave no answer")
                return
            rfirst, rhdrs = parse_head(rhead)
            status = rfirst.split(" ")[1] if " " in rfirst else "?"
            px.log(f"req {n} {method} {target} -> {status}")
            framed = (hget(rhdrs, "content-length") is not None or
                      (hget(rhdrs, "transfer-encoding") or "").lower() == "chunked" or
                      method == "HEAD" or status in ("204", "304"))
            lines = [rfirst] + [f"{k}: {v}" for k, v in rhdrs
                                if not (framed and k.lower() == "connection")]
            if not framed:
                lines.append("Connection: close")
            whead = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            if kind == "drop-after":
                return
            if kind in ("stall", "truncate"):
                part = whead + rbody[:len(rbody) // 2] if rbody else whead[:len(whead) // 2]
                c.sendall(part)
                if kind == "stall":
                    time.sleep(px.args.stall)
                return
            c.sendall(whead + rbody)
            if not framed:
                return
    except (OSError, ValueError, ConnectionError, IndexError) as e:
        px.log(f"conn error {type(e).__name__}: {e}")
    finally:
        with px.lock:
            px.conns.discard(c)
        try:
            c.close()
        except OSError:
            pass


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--faults", default=",".join(KINDS))
    ap.add_argument("--stall", type=float, default=5.0)
    ap.add_argument("--fault-parts", type=int, default=0)
    ap.add_argument("--bandwidth", type=float, default=0.0)
    ap.add_argument("--log")
    ap.add_argument("--control")
    args = ap.parse_args()
    px = Proxy(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ls = listen(args.port)
    port = ls.getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    px.log(f"listening on 127.0.0.1:{port}, upstream {args.upstream}, seed {args.seed}, "
           f"rate {args.rate}, faults {','.join(px.kinds)}, fault-parts {args.fault_parts}")
    while not stop.is_set():
        if args.control:
            try:
                mode = open(args.control).read().strip() or "faults"
            except OSError:
                mode = "faults"
            if mode != px.mode:
                px.log(f"mode {mode}")
                px.mode = mode
                if mode == "down":
                    ls.close()
                    ls = None
                    with px.lock:
                        for c in list(px.conns):
                            try:
                                c.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                elif ls is None:
                    ls = listen(port)
        if ls is None:
            stop.wait(0.2)
            continue
        r, _, _ = select.select([ls], [], [], 0.2)
        if not r:
            continue
        try:
            c, _ = ls.accept()
        except OSError:
            continue
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with px.lock:
            px.conns.add(c)
        threading.Thread(target=serve_conn, args=(px, c), daemon=True).start()
    px.summary()


if __name__ == "__main__":
    main()
