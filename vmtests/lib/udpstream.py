#!/usr/bin/env python3
"""Sequence-numbered UDP stream for lab measurements.

  udpstream.py send HOST PORT COUNT INTERVAL_MS
  udpstream.py recv BIND PORT COUNT TIMEOUT_S     -> one JSON line

The receiver reports what an application would see: packets received,
unique ones, duplicates, how many arrived after a higher sequence number
(reordering), the longest gap between consecutive arrivals (outage), and
the first and last lost sequence numbers (a partial outage, e.g. one path of
a bond blackholed, loses packets without any gap in arrivals).
"""
import json
import socket
import struct
import sys
import time

HEADER = struct.Struct("!Id")  # sequence number, send time


def send(host, port, count, interval_ms):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for seq in range(count):
        target = start + seq * interval_ms / 1000.0
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(HEADER.pack(seq, time.time()).ljust(200, b"\0"), (host, port))


def recv(bind, port, count, timeout_s):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    sock.settimeout(0.5)
    seen, duplicates, reordered, highest = set(), 0, 0, -1
    reorder_samples = []  # [seq, the higher one it came after], the first few
    last_arrival, longest_gap, received = None, 0.0, 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(seen) < count:
        try:
            data = sock.recv(2048)
        except socket.timeout:
            continue
        now = time.monotonic()
        if last_arrival is not None:
            longest_gap = max(longest_gap, now - last_arrival)
        last_arrival = now
        seq, _ = HEADER.unpack_from(data)
        received += 1
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
            if len(reorder_samples) < 8:
                reorder_samples.append([seq, highest])
        highest = max(highest, seq)
    lost = [seq for seq in range(count) if seq not in seen]
    print(json.dumps({"sent": count, "received": received, "unique": len(seen),
                      "duplicates": duplicates, "reordered": reordered,
                      "reorder_samples": reorder_samples,
                      "longest_gap_ms": round(longest_gap * 1000, 1),
                      "first_lost": lost[0] if lost else None,
                      "last_lost": lost[-1] if lost else None}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 6 and sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
