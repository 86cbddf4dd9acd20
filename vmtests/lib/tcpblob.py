#!/usr/bin/env python3
"""One file over one TCP connection, for integrity checks in the lab.

  tcpblob.py listen  BIND PORT [FILE]   accept one connection
  tcpblob.py connect HOST PORT [FILE]   connect once

The side given FILE sends it and closes; the other side reads to EOF and
prints one JSON line: {"bytes", "sha256", "seconds", "mbit_s"}. So either end
can be the sender (upload or download) without a second tool.
"""
import hashlib
import json
import socket
import sys
import time

TIMEOUT_S = 60


def send(sock, path):
    with open(path, "rb") as f:
        sock.sendfile(f)
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)  # wait for the receiver to close: all bytes were taken


def receive(sock):
    digest, size, start = hashlib.sha256(), 0, time.monotonic()
    while chunk := sock.recv(1 << 16):
        digest.update(chunk)
        size += len(chunk)
    seconds = time.monotonic() - start
    print(json.dumps({"bytes": size, "sha256": digest.hexdigest(), "seconds": round(seconds, 3),
                      "mbit_s": round(size * 8 / max(seconds, 1e-9) / 1e6, 1)}))


def main(role, host, port, path=None):
    if role == "listen":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = socket.create_server((host, int(port)), family=family)
        server.settimeout(TIMEOUT_S)
        sock, _ = server.accept()
    else:
        sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
    sock.settimeout(TIMEOUT_S)
    with sock:
        send(sock, path) if path else receive(sock)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("listen", "connect"):
        sys.exit(__doc__)
    main(*sys.argv[1:])
