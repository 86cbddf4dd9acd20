#!/usr/bin/env python3
"""An attacker on the path of the lab's tunnel (vmtests/test_tunnel_attacker.sh).

  attacker.py capture IFACE SRC DST PORT COUNT FILE
      records COUNT genuine tunnel packets (IPv4, SRC -> DST:PORT) seen on
      IFACE into FILE (length-prefixed IP packets); prints how many.
  attacker.py inject SRC DST PORT PROBE_PORT CAPTURE_FILE
      sends, from SRC (spoofed) to DST:PORT, 10,000 crafted packets:
        2,000 data-shaped (version 2, random epoch, counter and tag),
        2,000 probe-shaped (version 2, the captured session's epoch, inner
              UDP to PROBE_PORT, a fresh counter, a random tag),
        2,000 unauthenticated (version 1) carrying inner packets,
        1,000 handshake-shaped (version 3): well-framed initiations and
              responses with random keys and MACs, and random bytes,
        1,000 truncated (version 2, cut inside the headers),
        2,000 replays of the captured genuine packets, verbatim;
      prints a JSON line with the count of each kind.
Every forged inner packet has source 10.66.0.1, so a counter behind the
bond can tell whether any got through.
"""
import json
import os
import random
import socket
import struct
import sys

FORGED_INNER_SOURCE = "10.66.0.1"


def ip_header(src, dst, payload_len, proto=socket.IPPROTO_UDP):
    # The kernel fills in the checksum (and the id) of an IP_HDRINCL packet.
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def udp(src, dst, sport, dport, payload):
    return ip_header(src, dst, 8 + len(payload)) + struct.pack("!HHHH", sport, dport,
                                                               8 + len(payload), 0) + payload


def inner_udp(dport, size):
    payload = os.urandom(size)
    return udp(FORGED_INNER_SOURCE, "10.202.0.2", 40000, dport, payload)


def wire(version, path_id=0, flags=0, seq=None):
    seq = random.getrandbits(32) if seq is None else seq
    return struct.pack("!BBBBII", version, path_id, flags, 0, seq, seq)


def auth_header(epoch):
    return struct.pack("!III", epoch, random.getrandbits(32), random.getrandbits(32)) + os.urandom(8)


def capture(iface, src, dst, port, count, path):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sock.bind((iface, 0))
    sock.settimeout(20)
    kept = 0
    with open(path, "wb") as out:
        while kept < count:
            try:
                packet = sock.recv(65535)
            except socket.timeout:
                break
            if len(packet) < 40 or packet[9] != socket.IPPROTO_UDP:
                continue
            ihl = (packet[0] & 0x0F) * 4
            if packet[12:16] != socket.inet_aton(src) or packet[16:20] != socket.inet_aton(dst):
                continue
            if struct.unpack("!H", packet[ihl + 2:ihl + 4])[0] != port or packet[ihl + 8] != 2:
                continue
            out.write(struct.pack("!I", len(packet)) + packet)
            kept += 1
    print(kept)


def read_capture(path):
    packets = []
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at + 4 <= len(data):
        (length,) = struct.unpack("!I", data[at:at + 4])
        packets.append(data[at + 4:at + 4 + length])
        at += 4 + length
    return packets


def inject(src, dst, port, probe_port, capture_path):
    captured = read_capture(capture_path)
    if not captured:
        sys.exit("no captured packets to replay or take the epoch from")
    epoch = struct.unpack("!I", captured[0][20 + 8 + 12:20 + 8 + 16])[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sent = {}

    def send(kind, packet):
        sock.sendto(packet, (dst, 0))
        sent[kind] = sent.get(kind, 0) + 1

    for i in range(2000):
        send("data", udp(src, dst, port, port,
                         wire(2, i % 2) + auth_header(random.getrandbits(32)) + inner_udp(9100, 200)))
        send("probe", udp(src, dst, port, port,
                          wire(2, i % 2, 0x02) + auth_header(epoch) + inner_udp(probe_port, 60)))
        send("unauthenticated", udp(src, dst, port, port, wire(1, i % 2) + inner_udp(9100, 200)))
        send("replay", captured[i % len(captured)])
        if i % 4 == 0:  # an initiation's or a response's frame (88 or 92 bytes)
            kind = 1 + i // 4 % 2
            send("handshake", udp(src, dst, port, port, bytes([3, kind, 0, 0]) + os.urandom(80 + 4 * kind)))
        elif i % 2 == 0:
            send("handshake", udp(src, dst, port, port, bytes([3]) + os.urandom(71 + i % 9)))
        else:
            cut = wire(2, 0) + auth_header(epoch)
            send("truncated", udp(src, dst, port, port, cut[:random.randrange(1, len(cut))]))
    print(json.dumps(sent))


def main():
    if sys.argv[1] == "capture":
        iface, src, dst, port, count, path = sys.argv[2:8]
        capture(iface, src, dst, int(port), int(count), path)
    elif sys.argv[1] == "inject":
        src, dst, port, probe_port, path = sys.argv[2:7]
        inject(src, dst, int(port), int(probe_port), path)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
