/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one definition of every shape shared by the BPF data path and the C++
 * agent/CLI: map keys and values, the wire header, constants. Included by
 * the data path (bpf/meshbpf.bpf.c, bpf/lib/) and by userspace; the C++
 * side static_asserts the sizes.
 */
#ifndef MESHBPF_H
#define MESHBPF_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

#define MB_MAX_PATHS 8
/* Counter slot for drops that belong to no path (unknown source, no config). */
#define MB_NO_PATH MB_MAX_PATHS
#define MB_COUNTER_SLOTS (MB_MAX_PATHS + 1)

#define MB_WIRE_VERSION 1
/* An authenticated packet: mb_wire_hdr is followed by struct mb_auth_hdr. */
#define MB_WIRE_VERSION_AUTH 2
/*
 * Not a tunnel packet: a session handshake message (agent/core/handshake.h)
 * to the agent, on the tunnel's addresses and ports. With authentication
 * on, mb_decap passes it up to the agent's socket; nothing else reads it.
 */
#define MB_WIRE_VERSION_HANDSHAKE 3
#define MB_DEFAULT_PORT 7201

/* Bonding modes (link_aggregation.mode). */
enum mb_mode {
	MB_MODE_LOAD_BALANCE = 0,
	MB_MODE_FLOW = 1,
	MB_MODE_REDUNDANT = 2,
	MB_MODE_ACTIVE_BACKUP = 3,
	MB_MODE_LATENCY = 4,
};

/* Why a packet was dropped; index into mb_path_counters.drops. */
enum mb_drop_reason {
	MB_DROP_NO_CONFIG = 0,     /* agent has not configured the data path */
	MB_DROP_NO_PATH,           /* no usable path for this packet */
	MB_DROP_UNSUPPORTED_L3,    /* neither IPv4 nor IPv6 */
	MB_DROP_TOO_BIG,           /* (encapsulated) packet exceeds uplink MTU */
	MB_DROP_ENCAP_FAILED,      /* rewriting the packet failed (encap or NAT) */
	MB_DROP_UNKNOWN_SOURCE,    /* meshbpf packet from an address not in mb_peers */
	MB_DROP_TRUNCATED,         /* shorter than the headers it claims */
	MB_DROP_BAD_HEADER,        /* wrong version or path id */
	MB_DROP_DECAP_FAILED,      /* bpf_skb_adjust_room on decap failed */
	MB_DROP_DUPLICATE,         /* redundant copy already delivered */
	MB_DROP_TOO_OLD,           /* redundant copy older than the de-dup window */
	MB_DROP_CLONE_FAILED,      /* a redundant copy could not be sent on a path */
	MB_DROP_WRONG_ENDPOINT,    /* learned path: data from other than its endpoint */
	/* Authentication on (mb_config.authenticate; see "Authentication" below). */
	MB_DROP_AUTH_MISSING,      /* an unauthenticated (version 1) packet */
	MB_DROP_AUTH_NO_SESSION,   /* no session key installed for this direction */
	MB_DROP_AUTH_EPOCH,        /* another session's epoch than the installed one */
	MB_DROP_AUTH_BAD_TAG,      /* the tag does not verify: forged or modified */
	MB_DROP_AUTH_REPLAY,       /* its counter was accepted before */
	MB_DROP_AUTH_TOO_OLD,      /* its counter is behind the anti-replay window */
	MB_DROP_AUTH_GSO,          /* a GSO packet: its segments could not carry one tag */
	MB_DROP_CE_NOT_ECT,        /* congestion marked outside on a packet whose sender has no ECN */
	MB_DROP_INNER_SOURCE,      /* inner source outside the peer's allowed prefixes (mb_allowed_*) */
	MB_DROP_REPAIR_STALE,      /* a repair whose kept copy was reused before it was sent */
	MB_DROP_AUTH_PLAINTEXT,    /* not encrypted, where mb_config.encrypt wants every packet so */
	MB_DROP_OTHER_FAMILY,      /* a GSO packet's copy for a path of the other outer family than its first */
	MB_DROP_LINK_SCOPE,        /* flow mode: IPv6 to or from a link-local or multicast address */
	MB_DROP_REASONS,
};

/*
 * Wire header after outer IPv4 + UDP. bond_seq numbers every packet of the
 * bond (for de-duplication); path_seq numbers packets per path so the
 * receiver measures each path's loss on its own.
 */
struct mb_wire_hdr {
	__u8 version;
	__u8 path_id;
	__u8 flags;
	/*
	 * With authentication: which copy of its packet this is (0 for the
	 * first); its counter less this is the packet's nonce (see "Encryption").
	 */
	__u8 copy;
	__be32 bond_seq;
	__be32 path_seq;
};

/*
 * Agent probes carry skb->mark MB_PROBE_MARK | path_id: mb_encap sends them
 * on exactly that path, whatever its state, so a path taken out can be seen
 * recovering and every path is measured through the real encapsulation.
 */
#define MB_PROBE_MARK 0x4d425000
#define MB_PROBE_MARK_MASK 0xffffff00

/*
 * Loss repair (docs/design/loss-repair.md): the agent sends a kept copy
 * (mb_repair_copies) into the bond again with skb->mark MB_REPAIR_MARK |
 * path << MB_REPAIR_PATH_SHIFT | (bond_seq & MB_REPAIR_SEQ_MASK); mb_encap
 * sends it on that path with the copy's own bond_seq and MB_FLAG_REPAIR.
 */
#define MB_REPAIR_MARK 0x52000000
#define MB_REPAIR_MARK_MASK 0xff000000
#define MB_REPAIR_PATH_SHIFT 21
#define MB_REPAIR_SEQ_MASK 0x1fffff

/* mb_wire_hdr.flags */
#define MB_FLAG_REDUNDANT 0x01 /* sent on several paths: de-duplicate by bond_seq */
/*
 * A probe: it takes no bond_seq of its own (it carries the last one handed
 * out) and the receiver never resequences it, so a probe lost on a failing
 * path opens no gap and a probe's delay is the path's, not the buffer's.
 */
#define MB_FLAG_UNSEQUENCED 0x02
/* A repair: the sender's copy of a bonded packet the receiver reported lost
 * (bpf/lib/repair.h), sent again with its own bond_seq. */
#define MB_FLAG_REPAIR 0x04
/* The inner packet is encrypted (see "Encryption"); only with authentication. */
#define MB_FLAG_ENCRYPTED 0x08

#define MB_OUTER_IPV4_LEN 20
#define MB_OUTER_IPV6_LEN 40
#define MB_OUTER_UDP_LEN 8
/* The overheads below are an IPv4 path's; an IPv6 path (MB_PATH_F_IPV6) adds this. */
#define MB_OUTER_IPV6_EXTRA (MB_OUTER_IPV6_LEN - MB_OUTER_IPV4_LEN)
#define MB_ENCAP_OVERHEAD (MB_OUTER_IPV4_LEN + MB_OUTER_UDP_LEN + sizeof(struct mb_wire_hdr))

/*
 * ------------------------------------------------------------ Authentication
 * (docs/design/tunnel-auth.md) With mb_config.authenticate, every tunnel
 * packet is version MB_WIRE_VERSION_AUTH: mb_wire_hdr, then this header,
 * then the inner packet. The tag is SipHash-2-4 (64-bit output) keyed with
 * the sending direction's 128-bit session key over the byte string
 *   inner packet || zeros to a multiple of 8 || mb_wire_hdr || epoch ||
 *   counter_hi || counter_lo || inner length (64-bit little-endian)
 * i.e. everything but the outer IPv4/UDP headers (which relays and NATs
 * rewrite) and the tag itself. The counter is the sender's per-direction
 * packet number, never reused under one key; the receiver accepts each
 * counter once, within an RFC 6479 window (mb_auth_rx), and only after the
 * tag verified. mb_decap checks all this before anything else reads the
 * packet; mb_encap tags every copy it sends.
 */
struct mb_auth_hdr {
	__be32 epoch;        /* the sender's session (0 is never a session) */
	__be32 counter_hi;   /* the per-direction 64-bit packet counter */
	__be32 counter_lo;
	__u8 tag[8];         /* SipHash-2-4 output, little-endian as the reference code writes it */
};
/* The authenticated part of the headers: mb_wire_hdr and mb_auth_hdr up to the tag. */
#define MB_AUTH_SIGNED_HDR_LEN (sizeof(struct mb_wire_hdr) + 12)
#define MB_AUTH_OVERHEAD (MB_ENCAP_OVERHEAD + sizeof(struct mb_auth_hdr))
#define MB_AUTH_KEY_LEN 16

/*
 * ------------------------------------------------------------ Encryption
 * (docs/design/tunnel-auth.md, "Encryption") With mb_config.encrypt the
 * sender encrypts the inner packet with ChaCha20 (RFC 8439: 256-bit key,
 * 32-bit block counter from 0, 96-bit nonce) under the direction's cipher
 * key, then tags the ciphertext as above (encrypt-then-MAC, independent
 * keys), and sets MB_FLAG_ENCRYPTED. The nonce is epoch || the packet's
 * counter (64-bit), each little-endian: the counter of its first copy,
 * which every copy finds as its own counter less mb_wire_hdr.copy (copies
 * of one packet take consecutive counters), so no nonce repeats under a
 * key. The receiver decrypts only after the tag verified and the counter
 * was accepted; with encrypt set it drops unencrypted packets
 * (MB_DROP_AUTH_PLAINTEXT), so a peer cannot be talked down to plaintext.
 */
#define MB_CIPHER_KEY_LEN 32

/* mb_auth_tx[0]: the session packets are sent in, written by the agent. */
struct mb_auth_tx {
	__u8 key[MB_AUTH_KEY_LEN];
	__u32 epoch;         /* 0: no session, packets are dropped (MB_DROP_AUTH_NO_SESSION) */
	__u32 reserved;
	/*
	 * The next counter to send, taken atomically, one per copy. The agent
	 * installs a new key with a new epoch before it could wrap (2^64).
	 */
	__u64 next_counter;
	__u8 cipher_key[MB_CIPHER_KEY_LEN]; /* see "Encryption" */
};

/*
 * mb_auth_rx[0..MB_AUTH_RX_SESSIONS): the sessions packets are received in,
 * found by epoch: the one the peer sends in and the one a handshake just
 * made, so a rekey loses no packet in flight. Each has its RFC 6479
 * anti-replay window: a bitmap of MB_AUTH_BITMAP_WORDS 64-bit words used as
 * a ring indexed by counter / 64. It accepts a counter newer than `newest`,
 * or one at most MB_AUTH_WINDOW behind it whose bit is clear; newer counters
 * clear the words they move past. The agent installs a session by writing
 * key and epoch with newest, verified = 0 and an empty bitmap; the data
 * path changes only newest, verified and bitmap, under the lock, after a
 * tag verified.
 */
#define MB_AUTH_RX_SESSIONS 2
#define MB_AUTH_BITMAP_WORDS 64
#define MB_AUTH_WINDOW ((MB_AUTH_BITMAP_WORDS - 1) * 64) /* 4032: one word is the moving edge */
struct mb_auth_rx {
	struct bpf_spin_lock lock;
	__u32 epoch;         /* 0: no session */
	__u8 key[MB_AUTH_KEY_LEN];
	__u8 cipher_key[MB_CIPHER_KEY_LEN]; /* see "Encryption" */
	__u64 newest;        /* highest counter accepted */
	__u64 verified;      /* packets accepted: the agent's key confirmation */
	__u64 bitmap[MB_AUTH_BITMAP_WORDS];
};

/* mb_config[0]: per-node settings written by the agent. */
struct mb_config {
	__u32 bond_ifindex;    /* app-facing bond device; decap delivers here */
	__u16 listen_port;     /* UDP port (host order) meshbpf packets arrive on */
	__u8 bond_mac[6];      /* dst MAC for packets delivered into the bond */
	__u8 mode;             /* enum mb_mode */
	__u8 configured;       /* 0 until the agent has written paths */
	__u16 latency_bytes;   /* latency mode: packets up to this size are urgent */
	__u32 agent_pid;       /* the agent that owns this instance, for the CLI */
	__u16 probe_port;      /* UDP port of path probes on the bond (host order) */
	__u16 relay_port;      /* first relay port (see "Relaying"); 0 = this node relays nothing */
	__u32 relay_max_kbps;  /* ceiling of all relayed traffic together; 0 = none */
	__u8 learn_paths;      /* 1 when some path has MB_PATH_F_LEARN */
	__u8 authenticate;     /* 1: every tunnel packet carries and needs a tag (mb_auth_hdr) */
	/* Resequencing: packets held at most; 0 or more than the slots: all slots. */
	__u16 reseq_window;
	/*
	 * Receive-side resequencing (bpf/lib/reseq.h): the longest a packet
	 * waits for a gap before it to fill. 0 = off: packets are delivered as
	 * they arrive.
	 */
	__u32 reseq_deadline_us;
	/*
	 * The largest inner packet every path carries (the smallest path mtu
	 * less the encapsulation): SYNs entering and leaving the tunnel get
	 * their MSS clamped to it. 0: no clamping.
	 */
	__u16 bond_mtu;
	/*
	 * 1: an inner packet from the peer must come from a prefix in
	 * mb_allowed_v4 / mb_allowed_v6 (link_aggregation.peer_allowed_sources,
	 * WireGuard's cryptokey routing), else MB_DROP_INNER_SOURCE.
	 */
	__u8 check_inner_source;
	/* 1: encrypt every tunnel packet and accept only encrypted ones ("Encryption"). */
	__u8 encrypt;
	/*
	 * Loss repair (link_aggregation.loss_repair), sending: 1 = every bonded
	 * packet's frame is kept in mb_repair_copies. The agent sets it while
	 * the peer asks for repairs (a copy costs a frame's copy per packet).
	 */
	__u8 keep_copies;
	/*
	 * Path ids the scheduler looks at: those below this (the agent writes
	 * how many paths the config has); 0 or more than MB_MAX_PATHS: all.
	 * A bond of two uplinks then asks two paths per packet, not eight.
	 */
	__u8 path_slots;
	/*
	 * Loss repair, receiving, 0 = off: a gap every path has moved beyond is
	 * reported in mb_repair_requests and waits this long for its repair
	 * before it is given up.
	 */
	__u32 repair_wait_us;
};

/* mb_allowed_v4 / mb_allowed_v6 keys (LPM tries; the value is unused). */
#define MB_ALLOWED_PREFIXES 256
struct mb_prefix_v4 {
	__u32 prefixlen;
	__be32 addr;
};
struct mb_prefix_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Path states; only MB_PATH_ACTIVE paths carry bonded traffic. */
enum mb_path_state {
	MB_PATH_DISABLED = 0,
	MB_PATH_ACTIVE = 1,
	MB_PATH_BACKUP = 2,
};

/* mb_paths[path_id]: one (local uplink, remote endpoint) pair. */
struct mb_path {
	__u32 ifindex;       /* uplink the encapsulated packet leaves through */
	__be32 src_ip;       /* outer source address (the uplink's) */
	__be32 dst_ip;       /* outer destination (the bonding peer on this path) */
	__be32 gateway;      /* next hop; 0 = FIB lookup of dst_ip */
	__u16 src_port;      /* host order */
	__u16 dst_port;      /* host order */
	__u32 mtu;           /* uplink MTU (L3) */
	__u32 rate_kbps;     /* expected capacity; the scheduler drains at this rate */
	__u32 owd_us;        /* expected one-way delay */
	__u8 state;          /* enum mb_path_state */
	__u8 flags;          /* MB_PATH_F_* */
	__u8 reserved[2];
	/*
	 * Next hop's and uplink's MACs, kept current by the agent from the
	 * neighbour table: redundant copies leave through bpf_clone_redirect,
	 * which does not resolve neighbours. All zero = not resolved yet.
	 */
	__u8 next_hop_mac[6];
	__u8 uplink_mac[6];
	/*
	 * Receive side, resequencing on: a sequenced packet arriving on this
	 * path waits this long before delivery, its one-way delay below the
	 * slowest bonded path's. Every bonded packet then reaches the end host
	 * after about the same delay, so its TCP sees one round-trip time, not
	 * the near path's (which BBR takes as the minimum, and sizes its window
	 * so small that the far path's share cannot fill it).
	 */
	__u32 reseq_hold_us;
	/*
	 * MB_PATH_F_IPV6: the outer header is IPv6, between these addresses
	 * (src_ip, dst_ip and gateway are then 0). gateway6 all zero = FIB
	 * lookup of dst_ip6.
	 */
	__u8 src_ip6[16];
	__u8 dst_ip6[16];
	__u8 gateway6[16];
};

/*
 * mb_path.flags. MB_PATH_F_LEARN (the bonding peer's side of a path relayed
 * through a mesh neighbour, interfaces.uplinks[].learn_remote): the far end
 * is not configured but learned, since it is the neighbour's uplink address.
 * mb_decap accepts packets on such a path only from dst_ip:dst_port. From
 * anywhere else pass, and have their outer source recorded in
 * mb_learned[path_id], packets that verified (authentication on) and
 * otherwise path probes (inner UDP to mb_config.probe_port); the agent
 * adopts the source as the new endpoint (a probe once it has authenticated).
 */
#define MB_PATH_F_LEARN 0x01
/*
 * MB_PATH_F_NO_BULK: the agent's floor guard took this ACTIVE path out of
 * bonded bulk traffic (it would cost the bond more than it adds, see
 * docs/design/floor-guard.md). The scheduler gives it no bulk packet; it
 * still carries probes and latency mode's urgent packets, and it is ACTIVE
 * for failover. The agent never flags every ACTIVE path.
 */
#define MB_PATH_F_NO_BULK 0x02
/*
 * MB_PATH_F_IPV6: the path's outer header is IPv6 (src_ip6, dst_ip6),
 * MB_OUTER_IPV6_EXTRA bytes longer than IPv4's. Its outer UDP checksum is
 * zero, as RFC 6935 allows for tunnels (Linux's VXLAN and Geneve do the same
 * with udp6zerocsumtx): the inner packet keeps its own checksum and, with
 * authentication, the tag covers the tunnel header and the inner packet.
 * A bond may mix IPv4 and IPv6 paths; a packet sent on several paths
 * (redundant mode) changes family between its copies, except a GSO packet,
 * whose copies for the other family are counted as MB_DROP_OTHER_FAMILY
 * (see send_on_chosen_paths; the agent turns offload off for such a bond).
 */
#define MB_PATH_F_IPV6 0x04

/* What path p's outer header adds beyond MB_ENCAP_OVERHEAD's IPv4 one
 * (both sides: the data path's MTU checks, the agent's bond MTU). */
static inline __u32 mb_path_outer_extra(const struct mb_path *p)
{
	return (p->flags & MB_PATH_F_IPV6) ? MB_OUTER_IPV6_EXTRA : 0;
}

/* An address of either family: IPv4 in word 0, the other words zero. */
struct mb_addr {
	__be32 w[4];
};

/* An IPv6 address as a map key or a field (mb_peers6, mb_learned_source). */
struct mb_ip6 {
	__u8 addr[16];
};

/* mb_learned[path_id]: the last outer source on a learned path other than
 * its endpoint, of either family (a client's IPv6 uplink roams too). */
struct mb_learned_source {
	__be32 saddr;        /* the far end's address (IPv4) */
	__be32 daddr;        /* our address it was sent to: the path's src_ip */
	__u16 sport;         /* host order: the path's dst_port */
	__u16 flags;         /* MB_LEARNED_F_IPV6: the addresses are saddr6 and daddr6 */
	__u32 ifindex;       /* where it arrived: the path's ifindex */
	__u64 seen_ns;       /* bpf_ktime_get_ns() when it arrived */
	struct mb_ip6 saddr6;
	struct mb_ip6 daddr6;
};
#define MB_LEARNED_F_IPV6 0x01

/*
 * mb_sched[0]: scheduler state, updated under the spin lock. busy_until_ns
 * is the virtual time at which each path has sent everything scheduled on it.
 */
struct mb_sched {
	struct bpf_spin_lock lock;
	__u32 bond_seq;
	__u64 busy_until_ns[MB_MAX_PATHS];
	__u32 path_seq[MB_MAX_PATHS];
};

/* mb_counters[path_id or MB_NO_PATH], per CPU; summed in userspace. */
struct mb_path_counters {
	__u64 tx_packets;
	__u64 tx_bytes;      /* bytes of inner packets sent on this path */
	__u64 rx_packets;
	__u64 rx_bytes;      /* bytes of inner packets received on this path
			      * (sound ones, also a redundant copy dropped as a
			      * duplicate) */
	__u64 drops[MB_DROP_REASONS];
};

/*
 * mb_budget[path_id]: the path's data cap (interfaces.uplinks[].data_cap).
 * The data path subtracts the wire size of every packet it sends or
 * receives on the path (the outer IPv4 packet, what the ISP meters; flow
 * mode: the IPv4 packet) from remaining_bytes, atomically. A path whose
 * budget is spent carries no bonded traffic (MB_CAP_STOP), or only when no
 * ACTIVE or BACKUP path is usable (MB_CAP_LAST_RESORT). Probes (ours and
 * the answers to the peer's) are dropped on a spent MB_CAP_STOP path, so the
 * peer sees it fail and stops sending on it; on a last-resort path they
 * still leave, and are charged.
 * The check comes when the path is chosen and the subtraction before the
 * program returns, so each CPU passes the check at most once after the
 * last byte is spent: the overshoot is at most one packet (a GSO packet:
 * up to 64 KB) per CPU. limit_bytes == 0: no cap, nothing is counted.
 * Used bytes are limit_bytes - remaining_bytes, readable without the agent.
 */
enum mb_cap_policy {
	MB_CAP_STOP = 0,
	MB_CAP_LAST_RESORT = 1,
};

struct mb_budget {
	__s64 remaining_bytes; /* <= 0: spent */
	__u64 limit_bytes;     /* the budget the agent granted for this period */
	__u32 policy;          /* enum mb_cap_policy */
	__u32 reserved;
};

/*
 * ------------------------------------------------------------ Agent liveness
 * When the agent dies, the path table freezes. The data path then keeps
 * traffic off paths that have gone quiet, from what it sees itself:
 *
 * mb_heartbeat[0]: the agent writes the time of every tick (beat_ns,
 *   bpf_ktime_get_ns's clock, CLOCK_MONOTONIC) with the two bounds below.
 *   beat_ns 0 (never written, or a clean stop) means "not stale".
 * mb_path_rx_ns[path_id]: mb_decap records when a meshbpf packet from the
 *   peer last arrived on the path. The peer's agent probes every path each
 *   failover.monitoring_interval whatever the path's state, so a working
 *   path keeps receiving even while our agent is gone.
 *
 * With a heartbeat older than stale_after_ms, mb_encap's scheduler skips
 * every ACTIVE or BACKUP path silent for longer than silent_after_ms, as
 * long as one such path is still receiving (when all are silent it cannot
 * tell which work, and keeps the table). With a fresh heartbeat the table
 * alone decides. Each packet kept off a path is counted in
 * mb_unattended_skips[path_id] (per CPU).
 *
 * Why silence and not the kernel's own view: bpf_redirect_neigh returns
 * TC_ACT_REDIRECT before the transmit, so a packet to a down uplink is
 * dropped later, out of the program's sight; bpf_fib_lookup skips a route
 * only through a device that is administratively down, a carrier loss leaves
 * it usable (unless ignore_routes_with_linkdown); and neither sees a break
 * past the first hop. Silence covers all three.
 */
struct mb_heartbeat {
	__u64 beat_ns;
	__u32 stale_after_ms;
	__u32 silent_after_ms;
};

/* mb_budget has one slot per path plus this one: the share budget of relaying. */
#define MB_RELAY_BUDGET MB_MAX_PATHS
#define MB_BUDGET_SLOTS (MB_MAX_PATHS + 1)

#ifndef __bpf__
/* Userspace sums the per-CPU copies of a counter slot with this. */
static inline void mb_counters_add(struct mb_path_counters *sum,
				   const struct mb_path_counters *c)
{
	sum->tx_packets += c->tx_packets;
	sum->tx_bytes += c->tx_bytes;
	sum->rx_packets += c->rx_packets;
	sum->rx_bytes += c->rx_bytes;
	for (int r = 0; r < MB_DROP_REASONS; r++)
		sum->drops[r] += c->drops[r];
}
#endif

/*
 * mb_dedup[0]: receive window for redundant packets. A slot holds the last
 * bond_seq that mapped to it; a packet whose seq is already there is a
 * duplicate, one more than a window behind the newest is too old to judge.
 */
#define MB_DEDUP_WINDOW 4096
struct mb_dedup {
	__u32 newest_seq;
	__u32 reserved;
	__u32 slot[MB_DEDUP_WINDOW];
};

/*
 * ------------------------------------------------------------ Resequencing
 * (docs/design/resequencing.md) With mb_config.reseq_deadline_us set,
 * mb_decap delivers bonded packets into the bond in bond_seq order. A packet
 * ahead of a gap is copied (the decapsulated Ethernet frame) into
 * mb_reseq_slots[seq % slots] and its skb dropped; when the gap
 * fills, or its head packet has waited the deadline, the held frames are
 * re-emitted in order. mb_reseq[0] is the bond's state, changed by one CPU
 * at a time (busy is a lock taken with a bounded wait).
 */
/*
 * Slots: a power of two from MB_RESEQ_WINDOW (the default, ~100 ms at 120
 * Mbit/s of 1500 B) to MB_RESEQ_SLOTS_MAX (13 MiB; ~100 ms at 1 Gbit/s).
 * The agent sizes the map from the bond's rate before loading, and sets
 * mb_reseq_slot_count (.rodata) to match.
 */
#define MB_RESEQ_WINDOW 1024
#define MB_RESEQ_SLOTS_MAX 8192
#define MB_RESEQ_FRAME_MAX 1600  /* a frame longer than this is never held */
/*
 * A gap every path is past is given up once the packet behind it has waited
 * this long: the packet may still be on its way through another CPU.
 */
#define MB_RESEQ_LOST_GRACE_NS 1000000ULL
/*
 * The agent's tick (mb_reseq_tick) acts only after this long without an
 * arrival: arrivals release what is due themselves, and a tick that took
 * the state while a packet arrived would make that packet pass unsequenced.
 */
#define MB_RESEQ_TICK_IDLE_NS 1000000ULL
/*
 * A CPU that finds the state busy waits this long for the owner's walk to
 * end before it delivers its packet unsequenced: packets of two paths often
 * arrive on two CPUs at once, and one passed early overtakes every packet
 * held before it. A walk releasing a few dozen frames ends well within
 * 50 us; the rest is for an owner whose virtual CPU the hypervisor took
 * away for a while (steal time: CI's 2-vCPU machines lose ~5%, and a 50 us
 * bound passed one or two packets of a 3,000-packet stream early). The
 * bound keeps a stalled owner from stalling softirqs for longer. An owner
 * on the waiting CPU itself (the agent's tick, which a softirq interrupted)
 * cannot end its walk while that CPU waits: then nothing is waited for.
 * SPINS is the loop's own bound (the clock is read every 64th step).
 */
#define MB_RESEQ_BUSY_WAIT_NS 500000ULL
#define MB_RESEQ_BUSY_WAIT_SPINS (1U << 20)
/*
 * A packet this many windows of slots behind the next expected one means
 * the peer restarted its sequence (4,096 with the default slots). In
 * windows, not packets: at a larger bond's rate a packet late by the same
 * time is more packets behind.
 */
#define MB_RESEQ_RESYNC_WINDOWS 4

enum mb_reseq_slot_state {
	MB_RESEQ_EMPTY = 0,
	MB_RESEQ_HELD = 1,   /* data holds the frame of seq */
	MB_RESEQ_PASSED = 2, /* seq was delivered out of order (busy, too long): only advance */
};

struct mb_reseq_slot {
	__u32 seq;
	__u16 len;           /* frame bytes in data */
	__u8 state;          /* enum mb_reseq_slot_state */
	__u8 reserved;
	__u64 arrival_ns;    /* bpf_ktime_get_ns() when held */
	__u64 due_ns;        /* not delivered before (arrival + its path's reseq_hold_us) */
	__u8 data[MB_RESEQ_FRAME_MAX];
};

struct mb_reseq {
	__u32 busy;          /* while a CPU changes this state or the slots: its number + 1 */
	__u32 synced;        /* 0 until the first packet set next_seq */
	__u32 next_seq;      /* the bond_seq delivered next */
	__u32 held;          /* slots in state MB_RESEQ_HELD */
	__u64 head_arrival_ns; /* arrival of the first held packet after the gap (held > 0) */
	__u64 last_arrival_ns; /* the latest packet the owner of the state handled */
	/*
	 * The highest bond_seq that arrived on each path (a probe carries the
	 * last one handed out before it). A path delivers in order, so once
	 * every ACTIVE path is past a missing number, that packet is lost: its
	 * gap is given up at once rather than after the deadline.
	 */
	__u32 path_top_seq[MB_MAX_PATHS];
	__u32 repair_asked_to; /* gaps below this were reported for repair */
	__u32 reserved;
	__u64 repair_asked_ns; /* when the latest report went out */
};

/* mb_reseq_counters[0], per CPU; summed in userspace. */
struct mb_reseq_counters {
	__u64 held;              /* packets that waited in a slot */
	__u64 released_in_order; /* held packets released when the gap before them filled */
	__u64 released_deadline; /* released when the head packet had waited the deadline */
	__u64 released_full;     /* released because a packet came a window ahead */
	__u64 released_lost;     /* released when every path was past the gap before them */
	__u64 gaps_skipped;      /* sequence numbers given up on (deadline, full) */
	__u64 late;              /* behind the next expected (given up on): delivered */
	__u64 duplicates;        /* a second copy of a held packet: dropped */
	__u64 passed;            /* delivered out of order: state busy, frame too long */
	__u64 resyncs;           /* the peer's sequence restarted */
	__u64 repairs_requested; /* lost sequence numbers reported to the sender */
	__u64 repaired;          /* repairs that arrived in time to fill their gap */
};

#ifndef __bpf__
static inline void mb_reseq_counters_add(struct mb_reseq_counters *sum,
					 const struct mb_reseq_counters *c)
{
	sum->held += c->held;
	sum->released_in_order += c->released_in_order;
	sum->released_deadline += c->released_deadline;
	sum->released_full += c->released_full;
	sum->released_lost += c->released_lost;
	sum->gaps_skipped += c->gaps_skipped;
	sum->late += c->late;
	sum->duplicates += c->duplicates;
	sum->passed += c->passed;
	sum->resyncs += c->resyncs;
	sum->repairs_requested += c->repairs_requested;
	sum->repaired += c->repaired;
}
#endif

/* mb_peers (IPv4, key __be32) and mb_peers6 (IPv6): remote addresses
 * allowed to send meshbpf packets. */
struct mb_peer {
	__u32 flags;
};

/*
 * Flow mode (no peer): each flow leaves on one uplink, source-NATed to that
 * path's address, and never moves while its path stays usable. An IPv4 flow
 * takes an IPv4 path (its src_ip), an IPv6 flow an IPv6 one (MB_PATH_F_IPV6,
 * its src_ip6: NAT66, as a multi-WAN router masquerades IPv6). IPv6 of link
 * scope (link-local or multicast: the bond device's own neighbour discovery
 * and MLD) is no flow and is dropped (MB_DROP_LINK_SCOPE).
 *
 * A flow is a 5-tuple of its family. sport/dport are the TCP/UDP ports; for
 * ICMP (and ICMPv6) echo the identifier stands in for the local side's port
 * (sport going out, dport coming back) and the remote side's is 0; other
 * protocols and IP fragments (which carry no ports after the first) use 0
 * for both, so all fragments of a datagram take the same path. IPv6
 * extension headers before the transport header are skipped (at most
 * MB_FLOW_IPV6_EXT_HEADERS of them; with more, the flow is keyed by its
 * addresses alone and its transport checksum is not fixed).
 *
 * mb_flows: key = the flow as it leaves the bond (before NAT).
 * mb_nat_reverse: key = the flow's replies as they arrive on the uplink
 * (remote -> the path's address), value = the address to restore.
 * Both are LRU hashes of MB_FLOW_ENTRIES: when full, the least recently used
 * entry is evicted. An evicted pin is re-made identically as long as the
 * paths are unchanged (the choice is a hash of the flow); every packet sent
 * re-records its reverse entry if it was evicted.
 *
 * Only the address is translated, not the port: two bond-side sources
 * sending from the same port to the same destination share one reverse
 * entry, and the newer flow takes it over.
 */
#define MB_FLOW_ENTRIES 65536
#define MB_FLOW_IPV6_EXT_HEADERS 4

struct mb_flow_key {
	struct mb_addr saddr;
	struct mb_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;          /* the transport protocol (IPv6: after extension headers) */
	__u8 ipv6;           /* 1: IPv6 addresses; an IPv4 key never matches an IPv6 one */
	__u8 pad[2];
};

/* mb_flows value: the path a flow is pinned to and the address it got. */
struct mb_flow {
	struct mb_addr nat_addr; /* the path's address when pinned; re-pick if it changes */
	__u32 path_id;
};

/* mb_nat_reverse value. */
struct mb_nat_origin {
	struct mb_addr orig_addr; /* destination to restore (the bond-side source) */
	__u32 path_id;                 /* counted as rx on this path */
};

/*
 * ------------------------------------------------------------ Relaying
 * A mesh node that shares an uplink (node_discovery.share_uplinks) relays
 * other nodes' tunnel packets through it, entirely in mb_decap, which the
 * agent also attaches to the LAN interfaces (node_discovery.interfaces):
 *
 *   origin O --LAN--> relay R --R's uplink--> O's bonding peer P
 *
 * forward: O sends its tunnel packet to R's LAN address at the relay port of
 *   the shared uplink (mb_config.relay_port + k for R's k-th shared uplink,
 *   announced per uplink). R finds the relay by {O's address, that port} in
 *   mb_relay_fwd, rewrites the outer IP (IPv4, or IPv6 without extension
 *   headers) + UDP header to
 *   R's uplink address:return_port -> P:peer_port (TTL - 1) and sends it
 *   out of the uplink (R's own mb_paths[uplink_path]: ifindex, src_ip, gateway).
 * return: P answers to R's uplink address:return_port (relay_port +
 *   MB_RELAY_RETURN_OFFSET + slot). R finds the relay by {P's address,
 *   return_port} in mb_relay_ret, checks P's source port, rewrites to
 *   R's LAN address:relay_port -> O:origin_port and sends it out of the LAN.
 * The inner packet and mb_wire_hdr are untouched: O and P see their own
 * path id and sequence numbers, and P learns R's uplink address as the
 * path's endpoint (MB_PATH_F_LEARN). A relay keeps the family: it is the
 * bonding peer's, O reaches R over that family on the LAN (IPv6: usually
 * link-local addresses, as discovery hears them) and R's uplink path of
 * that family carries it (MB_RELAY_F_IPV6 uses that path's src_ip6).
 *
 * Both directions are counted per relay (mb_relay_counters), charged at
 * their outer IP size to R's share budget (mb_budget[MB_RELAY_BUDGET]) and
 * to R's own data cap on the uplink (mb_budget[uplink_path]), and policed
 * together to mb_config.relay_max_kbps. A spent budget or cap drops the
 * packet: O's probes on the path then fail and O stops using it.
 * Only packets whose destination port is within
 * [relay_port, relay_port + MB_RELAY_PORT_SPAN) are looked up at all.
 */
#define MB_MAX_RELAYS 32          /* relays (origin x shared uplink) one node serves */
#define MB_RELAY_MAX_UPLINKS 8    /* shared uplinks: forward ports relay_port + 0..7 */
#define MB_RELAY_RETURN_OFFSET 32 /* return ports: relay_port + 32 + slot */
#define MB_RELAY_PORT_SPAN (MB_RELAY_RETURN_OFFSET + MB_MAX_RELAYS)

/* mb_relays[slot], written by the sharing node's agent. */
struct mb_relay {
	/*
	 * One family throughout (MB_RELAY_F_IPV6 or not): the origin reaches us
	 * in the family of its bonding peer, and our uplink carries that family.
	 */
	struct mb_addr origin_ip; /* the origin node's LAN address */
	struct mb_addr lan_ip;    /* this node's address on that LAN (return source) */
	struct mb_addr peer_ip;   /* the origin's bonding peer */
	__u32 lan_ifindex;   /* the LAN device the origin is reached through */
	__u32 uplink_path;   /* this node's path whose uplink carries the relay */
	__u16 origin_port;   /* the origin's tunnel port (host order) */
	__u16 peer_port;     /* the peer's tunnel port (host order) */
	__u16 relay_port;    /* forward: where the origin sends (host order) */
	__u16 return_port;   /* uplink side: our source port, where P answers (host order) */
	__u8 in_use;         /* 0: free slot */
	__u8 flags;          /* MB_RELAY_F_* */
	__u8 pad[2];
};
#define MB_RELAY_F_IPV6 0x01 /* the addresses, and the packets relayed, are IPv6 */

/*
 * Index of mb_relays: mb_relay_fwd {origin_ip, relay_port} and
 * mb_relay_ret {peer_ip, return_port} -> slot. Ports in host order.
 */
struct mb_relay_key {
	struct mb_addr addr;
	__u16 port;
	__u8 ipv6;           /* 1: addr is IPv6; an IPv4 key never matches an IPv6 one */
	__u8 pad;
};

/* Why a relayed packet was dropped; index into mb_relay_counters.drops. */
enum mb_relay_drop_reason {
	MB_RELAY_DROP_SHARE_SPENT = 0, /* the share budget (node_discovery.share_cap) is spent */
	MB_RELAY_DROP_CAP_SPENT,       /* the uplink's own data cap is spent */
	MB_RELAY_DROP_RATE,            /* over node_discovery.share_max_mbit */
	MB_RELAY_DROP_UPLINK_GONE,     /* the uplink's path is not configured */
	MB_RELAY_DROP_WRONG_SOURCE,    /* from other than the origin's (peer's) tunnel port */
	MB_RELAY_DROP_TOO_BIG,         /* does not fit the uplink (or LAN) MTU */
	MB_RELAY_DROP_TTL,             /* TTL expired */
	MB_RELAY_DROP_REWRITE_FAILED,  /* rewriting the outer header failed */
	MB_RELAY_DROP_WRONG_INTERFACE, /* forward not from the LAN, return not from the uplink */
	MB_RELAY_DROP_WRONG_DESTINATION, /* not to our LAN (forward) or uplink (return) address */
	MB_RELAY_DROP_NOT_MESHBPF,     /* the payload is no meshbpf packet */
	MB_RELAY_DROP_UPLINK_FAMILY,   /* the uplink's path is not of the relay's family */
	MB_RELAY_DROP_REASONS,
};

/* mb_relay_counters[slot], per CPU. Bytes are outer IP packet sizes. */
struct mb_relay_counters {
	__u64 fwd_packets;   /* origin -> peer */
	__u64 fwd_bytes;
	__u64 ret_packets;   /* peer -> origin */
	__u64 ret_bytes;
	__u64 drops[MB_RELAY_DROP_REASONS];
};

#ifndef __bpf__
/* Userspace sums the per-CPU copies of a relay's counters with this. */
static inline void mb_relay_counters_add(struct mb_relay_counters *sum,
					 const struct mb_relay_counters *c)
{
	sum->fwd_packets += c->fwd_packets;
	sum->fwd_bytes += c->fwd_bytes;
	sum->ret_packets += c->ret_packets;
	sum->ret_bytes += c->ret_bytes;
	for (int r = 0; r < MB_RELAY_DROP_REASONS; r++)
		sum->drops[r] += c->drops[r];
}
#endif

/*
 * mb_relay_bucket[0]: token bucket of mb_config.relay_max_kbps, both
 * directions and all relays together; holds at most 100 ms of the rate
 * (at least 64 KiB), so TCP through the relay is policed, not starved.
 */
struct mb_relay_bucket {
	struct bpf_spin_lock lock;
	__u32 reserved;
	__u64 tokens_bytes;
	__u64 last_ns;
};

/*
 * Loss repair (docs/design/loss-repair.md). mb_repair_copies[bond_seq &
 * (mb_reseq_slot_count - 1)]: the sender's copy of a bonded packet's frame
 * as it entered the bond, kept until the slot is reused; frames longer than
 * MB_RESEQ_FRAME_MAX (GSO) are not kept and cannot be repaired.
 */
struct mb_repair_copy {
	__u32 seq;           /* bond_seq of the frame in data; len 0: none */
	__u16 len;
	__u16 reserved;
	__u8 data[MB_RESEQ_FRAME_MAX];
};

/*
 * One record in mb_repair_requests (a ring buffer the agent reads): the
 * receiver lost first_seq + i for every bit i set in `missing`, and asks
 * the sender's agent for those copies.
 */
struct mb_repair_request {
	__u32 first_seq;
	__u32 reserved;
	__u64 missing;
};
#define MB_REPAIR_REQUEST_SPAN 64 /* bits in mb_repair_request.missing */

#endif /* MESHBPF_H */
