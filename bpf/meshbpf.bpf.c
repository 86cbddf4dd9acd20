// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshbpf data path.
 *
 * mb_encap runs at TC ingress of the far end of the bond veth pair: every
 * packet an application routes into the bond device arrives here. It picks
 * a path, prepends outer IPv4 + UDP + struct mb_wire_hdr and redirects the
 * packet out of the path's uplink with bpf_redirect_neigh.
 *
 * mb_decap runs at TC ingress of every uplink. meshbpf packets from known
 * peers are stripped of their outer headers and delivered into the bond
 * device's ingress, as if the bond were a tunnel device; everything else
 * passes untouched.
 *
 * In flow mode (no peer) nothing is encapsulated: mb_encap pins each flow to
 * a path and source-NATs it to that path's address, mb_decap undoes the NAT
 * on the replies and delivers them into the bond (see flow_send/flow_receive).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "meshbpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, struct mb_path);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_sched);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_sched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct mb_path_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_dedup);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_dedup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be32);
	__type(value, struct mb_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_FLOW_ENTRIES);
	__type(key, struct mb_flow_key);
	__type(value, struct mb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_FLOW_ENTRIES);
	__type(key, struct mb_flow_key);
	__type(value, struct mb_nat_origin);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_nat_reverse SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_BUDGET_SLOTS);
	__type(key, __u32);
	__type(value, struct mb_budget);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_budget SEC(".maps");

/* Relaying (bpf/meshbpf.h, "Relaying"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_RELAYS);
	__type(key, __u32);
	__type(value, struct mb_relay);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relays SEC(".maps");

/* Twice the relays: the agent adds new index entries before stale ones are gone. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MB_MAX_RELAYS);
	__type(key, struct mb_relay_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MB_MAX_RELAYS);
	__type(key, struct mb_relay_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_ret SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_MAX_RELAYS);
	__type(key, __u32);
	__type(value, struct mb_relay_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_relay_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_bucket SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, struct mb_learned_source);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_learned SEC(".maps");

/*
 * Virtual backlogs are kept relative to the least-loaded path: the minimum
 * is never more than MB_SCHED_HORIZON_NS ahead of now (so the numbers stay
 * bounded under sustained overload without changing any decision), and no
 * path runs more than MB_SCHED_SPREAD_NS ahead of that minimum (so a path
 * coming back from idle or from being disabled is not flooded to "catch up").
 */
#define MB_SCHED_HORIZON_NS (50ULL * 1000 * 1000)
#define MB_SCHED_SPREAD_NS (100ULL * 1000 * 1000)

static __always_inline void count_drop(__u32 slot, enum mb_drop_reason reason)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &slot);

	if (c && reason < MB_DROP_REASONS)
		c->drops[reason]++;
}

static __always_inline int drop(__u32 slot, enum mb_drop_reason reason)
{
	count_drop(slot, reason);
	return TC_ACT_SHOT;
}

/* Hides a value from clang, which would turn sign-bit arithmetic back into branches. */
#define MB_OPAQUE(x) asm volatile("" : "+r"(x))

/*
 * The state the scheduler sees for a path with data cap b: its own while the
 * cap is not spent; once spent, DISABLED, or with the last-resort policy
 * BACKUP (unless DISABLED anyway). Arithmetic, not branches: every branch
 * here would leave a constant in the state for the verifier to tell apart,
 * and choose_paths, which runs this for every path, would exceed its
 * 1M-instruction budget.
 */
static __always_inline __u8 cap_limited_state(const struct mb_path *p, const struct mb_budget *b)
{
	__u64 state = p->state;
	__s64 neg_limit = -(__s64)b->limit_bytes;
	__s64 left_minus_one = b->remaining_bytes - 1;

	MB_OPAQUE(neg_limit);
	MB_OPAQUE(left_minus_one);
	/* 1 when capped (limit > 0) and nothing is left (remaining <= 0). */
	__u64 spent = ((__u64)left_minus_one >> 63) & ((__u64)neg_limit >> 63);
	MB_OPAQUE(spent);
	__u64 in_service = (state + 1) >> 1; /* DISABLED 0, ACTIVE 1, BACKUP 2 -> 0, 1, 1 */
	__u64 spent_state = (b->policy & in_service) * MB_PATH_BACKUP; /* policy 1: last resort */

	return (__u8)(state ^ ((state ^ spent_state) & -spent));
}

static __always_inline int cap_spent(__u32 path_id)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	return b && b->limit_bytes != 0 && b->remaining_bytes <= 0;
}

/* Charges `wire_len` bytes sent or received on a path to its data cap. */
static __always_inline void charge_cap(__u32 path_id, __u32 wire_len)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	if (b && b->limit_bytes)
		__sync_fetch_and_add(&b->remaining_bytes, -(__s64)wire_len);
}

/*
 * What choose_paths decided for one packet: the paths to send it on (one,
 * or every active path in redundant mode), each with its per-path sequence
 * number, and the bond sequence number all copies share.
 */
struct mb_choice {
	__u32 bond_seq;
	__u8 send[MB_MAX_PATHS];     /* 1: send a copy on this path */
	__u32 path_seq[MB_MAX_PATHS];
};

/* Cost of a path that must not be chosen; large, but safe to add to a time. */
#define MB_COST_UNUSABLE (~0ULL >> 2)

/* How a packet is to be placed on the paths. */
enum mb_placement {
	MB_PLACE_EARLIEST_ARRIVAL, /* bulk: bonded across paths */
	MB_PLACE_LOWEST_DELAY,     /* urgent: the path with the least one-way delay */
	MB_PLACE_ALL,              /* redundant: a copy on every active path */
};

/*
 * Path selection: earliest expected arrival.
 *
 * Plain or weighted round-robin over links of different speed reorders TCP
 * badly and can make the bond slower than its best link. Instead each path
 * has a virtual clock (busy_until_ns) that advances by the time the path
 * needs to serialise what was put on it (wire_len / rate). A packet goes to
 * the path where it is expected to arrive first:
 *     max(now, busy_until) + wire_len / rate + one-way delay
 * which fills paths in proportion to their rates, keeps packets of one burst
 * in order at the receiver, and uses a slow or far path only once the fast
 * one has enough queued that the slow one would still win.
 *
 * Urgent packets (latency mode) skip the queue model and take the path with
 * the least one-way delay; they still advance its clock so bulk traffic
 * accounts for them. Redundant packets go on every active path.
 *
 * ACTIVE paths are used. When none is, the lowest-numbered BACKUP path
 * carries everything (the agent keeps only the next backup in that state).
 * A path whose data cap is spent is DISABLED, or with the last-resort
 * policy a BACKUP (see cap_limited_state).
 */
static __always_inline int choose_paths(__u32 wire_len, enum mb_placement placement,
					struct mb_choice *out)
{
	/*
	 * Per path: the time to serialise this packet (tx_ns) and that plus
	 * the one-way delay (cost_ns). Unusable paths get MB_COST_UNUSABLE
	 * rather than a bit in a mask: a mask built bit by bit is a constant to
	 * the verifier, which then walks every combination of paths.
	 */
	__u64 tx_ns[MB_MAX_PATHS];
	__u64 cost_ns[MB_MAX_PATHS];
	int have_active = 0;
	__s32 backup = -1;
	__u64 now = bpf_ktime_get_ns();
	__u32 key = 0;
	struct mb_sched *s;

	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);

		tx_ns[i] = 0;
		cost_ns[i] = MB_COST_UNUSABLE;
		out->send[i] = 0;
		if (!p || p->ifindex == 0)
			continue;
		struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &id);
		if (!b)
			continue;
		__u8 state = cap_limited_state(p, b);
		if (state == MB_PATH_ACTIVE && p->rate_kbps > 0) {
			tx_ns[i] = (__u64)wire_len * 8000000ULL / p->rate_kbps;
			cost_ns[i] = tx_ns[i] + (__u64)p->owd_us * 1000;
			have_active = 1;
		} else if (state == MB_PATH_BACKUP && backup < 0) {
			backup = i;
		}
	}

	s = bpf_map_lookup_elem(&mb_sched, &key);
	if (!s)
		return -1;

	if (!have_active) {
		if (backup < 0 || backup >= MB_MAX_PATHS)
			return -1;
		out->send[backup] = 1;
		bpf_spin_lock(&s->lock);
		out->path_seq[backup] = ++s->path_seq[backup];
		out->bond_seq = ++s->bond_seq;
		bpf_spin_unlock(&s->lock);
		return 0;
	}

	/*
	 * The loops under the lock are unrolled: an empty or unusable slot then
	 * costs one compare rather than a loop iteration (8 slots, often 2 used).
	 */
	bpf_spin_lock(&s->lock);
	__u64 min_busy = ~0ULL;
#pragma unroll
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		if (cost_ns[i] == MB_COST_UNUSABLE)
			continue;
		__u64 b = s->busy_until_ns[i] > now ? s->busy_until_ns[i] : now;
		if (b < min_busy)
			min_busy = b;
	}
	__u64 base = min_busy < now + MB_SCHED_HORIZON_NS ? min_busy : now + MB_SCHED_HORIZON_NS;
	__u64 shift = min_busy - base;
	__u64 best_arrival = ~0ULL;
	__u32 best = 0;
#pragma unroll
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		if (cost_ns[i] == MB_COST_UNUSABLE)
			continue;
		__u64 b = s->busy_until_ns[i] > now ? s->busy_until_ns[i] : now;
		b -= shift;
		if (b > base + MB_SCHED_SPREAD_NS)
			b = base + MB_SCHED_SPREAD_NS;
		if (placement == MB_PLACE_ALL) {
			s->busy_until_ns[i] = b + tx_ns[i];
			out->path_seq[i] = ++s->path_seq[i];
			out->send[i] = 1;
			continue;
		}
		s->busy_until_ns[i] = b;
		__u64 arrival = placement == MB_PLACE_LOWEST_DELAY ? cost_ns[i] : b + cost_ns[i];
		if (arrival < best_arrival) {
			best_arrival = arrival;
			best = i;
		}
	}
	/*
	 * Constant indices: clang turns out->send[best] into a pointer OR that
	 * the verifier rejects.
	 */
#pragma unroll
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		if (placement == MB_PLACE_ALL || i != best)
			continue;
		s->busy_until_ns[i] += tx_ns[i];
		out->path_seq[i] = ++s->path_seq[i];
		out->send[i] = 1;
	}
	out->bond_seq = ++s->bond_seq;
	bpf_spin_unlock(&s->lock);
	return 0;
}

/*
 * A probe for one path: that path only, numbered like any other packet.
 * Not on a path whose cap is spent with the stop policy: that saves the
 * probes' bytes, and the peer, whose probes go unanswered, takes the path
 * out too and stops sending on it.
 */
static __always_inline int force_path(__u32 path_id, struct mb_choice *out)
{
	__u32 key = 0;
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &path_id);
	struct mb_sched *s = bpf_map_lookup_elem(&mb_sched, &key);
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	/* dst_ip 0: a relayed or learned path whose far end is not known yet. */
	if (!p || p->ifindex == 0 || p->dst_ip == 0 || !s || path_id >= MB_MAX_PATHS)
		return -1;
	if (b && b->limit_bytes != 0 && b->remaining_bytes <= 0 && b->policy == MB_CAP_STOP)
		return -1;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		out->send[i] = i == path_id;
	bpf_spin_lock(&s->lock);
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		if (i == path_id)
			out->path_seq[i] = ++s->path_seq[i];
	out->bond_seq = ++s->bond_seq;
	bpf_spin_unlock(&s->lock);
	return 0;
}

static __always_inline __u16 ipv4_csum(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * What mb_encap writes in front of the inner L3 packet: the Ethernet type
 * (now IPv4) and the outer headers, stored with one helper call from h_proto
 * on. `pad` keeps ip 4-byte aligned as the Ethernet header does.
 */
struct mb_outer {
	__u8 pad[2];
	__be16 h_proto;
	struct iphdr ip;
	struct udphdr udp;
	struct mb_wire_hdr mb;
};
#define MB_OUTER_STORE_LEN (sizeof(struct mb_outer) - offsetof(struct mb_outer, h_proto))

static __always_inline void build_outer(struct mb_outer *o, const struct mb_path *p,
					__u32 path_id, __u8 tos, __u16 outer_len,
					const struct mb_choice *choice, __u8 flags)
{
	__builtin_memset(o, 0, sizeof(*o));
	o->h_proto = bpf_htons(ETH_P_IP);
	o->ip.version = 4;
	o->ip.ihl = 5;
	o->ip.tos = tos;
	o->ip.tot_len = bpf_htons(outer_len);
	o->ip.frag_off = bpf_htons(0x4000); /* DF: never fragment, the bond MTU fits */
	o->ip.ttl = 64;
	o->ip.protocol = IPPROTO_UDP;
	o->ip.saddr = p->src_ip;
	o->ip.daddr = p->dst_ip;
	o->ip.check = ipv4_csum(&o->ip);
	o->udp.source = bpf_htons(p->src_port);
	o->udp.dest = bpf_htons(p->dst_port);
	o->udp.len = bpf_htons(outer_len - sizeof(struct iphdr));
	o->udp.check = 0; /* legal on IPv4; the inner packet has its own checksum */
	o->mb.version = MB_WIRE_VERSION;
	o->mb.path_id = (__u8)path_id;
	o->mb.flags = flags;
	o->mb.bond_seq = bpf_htonl(choice->bond_seq);
	o->mb.path_seq = bpf_htonl(choice->path_seq[path_id & (MB_MAX_PATHS - 1)]);
}

/* Counts a packet sent on a path; wire_len (what the uplink carries) goes to its data cap. */
static __always_inline void count_tx(__u32 path_id, __u32 inner_len, __u32 wire_len)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);

	if (c) {
		c->tx_packets++;
		c->tx_bytes += inner_len;
	}
	charge_cap(path_id, wire_len);
}

/*
 * Sends a clone of the encapsulated skb out of path p, keeping the original
 * for the next path. bpf_clone_redirect does not resolve neighbours, so the
 * MACs come from the path entry, which the agent keeps current from the
 * neighbour table; until it has them the copy is skipped and counted.
 */
static __always_inline int send_clone(struct __sk_buff *skb, const struct mb_path *p)
{
	const __u8 *dmac = p->next_hop_mac;

	if (!(dmac[0] | dmac[1] | dmac[2] | dmac[3] | dmac[4] | dmac[5]))
		return -1;
	/* uplink_mac follows next_hop_mac as h_source follows h_dest: one store. */
	_Static_assert(__builtin_offsetof(struct mb_path, uplink_mac) ==
			       __builtin_offsetof(struct mb_path, next_hop_mac) + ETH_ALEN,
		       "mb_path MACs are in Ethernet header order");
	if (bpf_skb_store_bytes(skb, 0, p->next_hop_mac, 2 * ETH_ALEN, 0) < 0)
		return -1;
	return bpf_clone_redirect(skb, p->ifindex, 0);
}

static __always_inline long redirect_to_path(const struct mb_path *p)
{
	if (p->gateway) {
		struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = p->gateway };
		return bpf_redirect_neigh(p->ifindex, &nh, sizeof(nh), 0);
	}
	return bpf_redirect_neigh(p->ifindex, NULL, 0, 0);
}

/*
 * Packet pointer to `len` bytes at `off`, for direct reads: a helper call
 * per header costs about as much as the rest of the parsing. Pulls the bytes
 * into the linear area if a driver left them paged; NULL if the packet is
 * shorter. Any helper call that changes the packet invalidates the pointer.
 */
static __always_inline void *packet_bytes(struct __sk_buff *skb, __u32 off, __u32 len)
{
	/* Reload data and data_end: a copy clang kept is no packet pointer to the verifier. */
	asm volatile("" ::: "memory");
	void *p = (void *)(long)skb->data + off;

	if (p + len <= (void *)(long)skb->data_end)
		return p;
	if (bpf_skb_pull_data(skb, off + len) < 0)
		return NULL;
	p = (void *)(long)skb->data + off;
	return p + len <= (void *)(long)skb->data_end ? p : NULL;
}

/* ------------------------------------------------------------ flow mode */

#define MB_IP_OFF sizeof(struct ethhdr)
#define MB_ICMP_ECHO_REPLY 0
#define MB_ICMP_ECHO_REQUEST 8

/* Where a packet's IPv4 header and its flow key are, and what to fix up. */
struct mb_flow_pkt {
	struct mb_flow_key key;
	__u32 l4_off;
	__u32 csum_off;      /* TCP/UDP checksum offset; 0 = no pseudo-header checksum */
	__u64 csum_flags;    /* BPF_F_MARK_MANGLED_0 for UDP: checksum 0 stays 0 */
};

/*
 * Reads the IPv4 flow key (see struct mb_flow_key). `outgoing` decides on
 * which side an ICMP echo identifier goes: the local side is the source
 * going out and the destination coming back. Returns -1 if the packet is
 * shorter than the headers it announces.
 */
static __always_inline int parse_flow(struct __sk_buff *skb, int outgoing, struct mb_flow_pkt *out)
{
	struct iphdr ip;

	__builtin_memset(out, 0, sizeof(*out));
	if (bpf_skb_load_bytes(skb, MB_IP_OFF, &ip, sizeof(ip)) < 0 || ip.ihl < 5)
		return -1;
	out->key.saddr = ip.saddr;
	out->key.daddr = ip.daddr;
	out->key.proto = ip.protocol;
	out->l4_off = MB_IP_OFF + ip.ihl * 4;
	/* Offset 0: the transport header is here (first or only fragment). */
	int has_l4 = (ip.frag_off & bpf_htons(0x1fff)) == 0;
	/* Not fragmented at all: ports identify the flow. */
	int keyed_by_ports = (ip.frag_off & bpf_htons(0x3fff)) == 0;

	if (ip.protocol == IPPROTO_TCP || ip.protocol == IPPROTO_UDP) {
		__be16 ports[2];
		if (!has_l4)
			return 0;
		if (bpf_skb_load_bytes(skb, out->l4_off, ports, sizeof(ports)) < 0)
			return -1;
		if (ip.protocol == IPPROTO_TCP) {
			out->csum_off = out->l4_off + offsetof(struct tcphdr, check);
		} else {
			out->csum_off = out->l4_off + offsetof(struct udphdr, check);
			out->csum_flags = BPF_F_MARK_MANGLED_0;
		}
		if (keyed_by_ports) {
			out->key.sport = ports[0];
			out->key.dport = ports[1];
		}
	} else if (ip.protocol == IPPROTO_ICMP && keyed_by_ports) {
		__u8 icmp[6]; /* type, code, checksum, identifier */
		if (bpf_skb_load_bytes(skb, out->l4_off, icmp, sizeof(icmp)) < 0)
			return -1;
		if (icmp[0] == MB_ICMP_ECHO_REQUEST || icmp[0] == MB_ICMP_ECHO_REPLY) {
			__be16 id = (__be16)(icmp[4] | icmp[5] << 8);
			if (outgoing)
				out->key.sport = id;
			else
				out->key.dport = id;
		}
	}
	/* ICMP's checksum covers no addresses: nothing to fix beyond L3. */
	return 0;
}

/*
 * Replaces the IPv4 address at `addr_off` (source or destination), fixing
 * the header checksum and, for TCP/UDP, the pseudo-header part of theirs.
 */
static __always_inline int rewrite_addr(struct __sk_buff *skb, const struct mb_flow_pkt *f,
					__u32 addr_off, __be32 from, __be32 to)
{
	if (f->csum_off &&
	    bpf_l4_csum_replace(skb, f->csum_off, from, to,
				BPF_F_PSEUDO_HDR | sizeof(to) | f->csum_flags) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, MB_IP_OFF + offsetof(struct iphdr, check), from, to,
				sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0);
}

static __always_inline __u32 mix32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	x ^= x >> 16;
	return x;
}

static __always_inline __u32 flow_hash(const struct mb_flow_key *k)
{
	__u32 h = mix32(k->saddr ^ 0x9e3779b9);
	h = mix32(h ^ k->daddr);
	h = mix32(h ^ ((__u32)k->sport << 16 | k->dport));
	return mix32(h ^ k->proto);
}

/*
 * A path can take new flows when it is ACTIVE with a rate; a flow already on
 * a path stays there while the path is ACTIVE or BACKUP and still has the
 * address the flow was NATed to. (A flow that fell back to the backup stays
 * on it when active paths return: moving it would change its source address
 * and break it.) A path whose data cap is spent keeps no flow: they move (and
 * break) rather than run up the bill; with the last-resort policy it is a
 * BACKUP for new flows (see cap_limited_state).
 */
static __always_inline __u8 flow_path_state(const struct mb_path *p, __u32 path_id)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	return b ? cap_limited_state(p, b) : MB_PATH_DISABLED;
}

static __always_inline int path_takes_new_flows(const struct mb_path *p, __u32 path_id)
{
	return p->ifindex != 0 && flow_path_state(p, path_id) == MB_PATH_ACTIVE && p->rate_kbps > 0;
}

static __always_inline int path_keeps_flow(const struct mb_path *p, const struct mb_flow *f)
{
	return p->ifindex != 0 && p->src_ip == f->nat_addr && !cap_spent(f->path_id) &&
	       (path_takes_new_flows(p, f->path_id) || p->state == MB_PATH_BACKUP);
}

/*
 * Picks a path for a new flow: the hash, scaled onto the sum of the active
 * paths' rates, falls into one path's share, so flows spread in proportion
 * to rate_kbps and a flow whose pin was evicted gets the same path again.
 * With no active path, the lowest-numbered BACKUP path takes every flow.
 */
static __always_inline int pick_flow_path(__u32 hash, __u32 *out)
{
	__u64 total = 0;
	__s32 backup = -1;

	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p || p->ifindex == 0)
			continue;
		__u8 state = flow_path_state(p, i);
		if (state == MB_PATH_ACTIVE && p->rate_kbps > 0)
			total += p->rate_kbps;
		else if (state == MB_PATH_BACKUP && backup < 0)
			backup = i;
	}
	if (total == 0) {
		if (backup < 0)
			return -1;
		*out = backup;
		return 0;
	}
	__u64 point = ((__u64)hash * total) >> 32;
	__s32 last = -1;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p || !path_takes_new_flows(p, i))
			continue;
		last = i;
		if (point < p->rate_kbps) {
			*out = i;
			return 0;
		}
		point -= p->rate_kbps;
	}
	/* The agent changed rates between the two passes: any active path will do. */
	if (last < 0)
		return -1;
	*out = last;
	return 0;
}

/* mb_encap in flow mode: pin, source-NAT and send an IPv4 packet. */
static __always_inline int flow_send(struct __sk_buff *skb)
{
	struct mb_flow_pkt f;
	struct mb_flow *pinned;
	struct mb_path *p = NULL;
	struct mb_flow pin;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return drop(MB_NO_PATH, MB_DROP_UNSUPPORTED_L3);
	if (parse_flow(skb, 1, &f) < 0)
		return drop(MB_NO_PATH, MB_DROP_TRUNCATED);

	pinned = bpf_map_lookup_elem(&mb_flows, &f.key);
	if (pinned) {
		pin = *pinned;
		__u32 id = pin.path_id;
		p = bpf_map_lookup_elem(&mb_paths, &id);
		if (p && !path_keeps_flow(p, &pin))
			p = NULL;
	}
	if (!p) {
		__u32 id;
		if (pick_flow_path(flow_hash(&f.key), &id) < 0)
			return drop(MB_NO_PATH, MB_DROP_NO_PATH);
		p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p)
			return drop(MB_NO_PATH, MB_DROP_NO_PATH);
		pin.path_id = id;
		pin.nat_addr = p->src_ip;
		/* A failed pin only costs a re-pick, which lands on the same path. */
		bpf_map_update_elem(&mb_flows, &f.key, &pin, BPF_ANY);
	}
	__u32 path_id = pin.path_id;

	struct mb_flow_key reply = {
		.saddr = f.key.daddr,
		.daddr = pin.nat_addr,
		.sport = f.key.dport,
		.dport = f.key.sport,
		.proto = f.key.proto,
	};
	struct mb_nat_origin *known = bpf_map_lookup_elem(&mb_nat_reverse, &reply);
	if (!known || known->orig_addr != f.key.saddr || known->path_id != path_id) {
		struct mb_nat_origin origin = { .orig_addr = f.key.saddr, .path_id = path_id };
		/* Without it the replies would not find their way back. */
		if (bpf_map_update_elem(&mb_nat_reverse, &reply, &origin, BPF_ANY) < 0)
			return drop(path_id, MB_DROP_ENCAP_FAILED);
	}

	/* No overhead here: the bond MTU is the smallest uplink's. */
	__u32 mtu_len = 0;
	if (bpf_check_mtu(skb, p->ifindex, &mtu_len, 0, 0) != 0)
		return drop(path_id, MB_DROP_TOO_BIG);
	if (f.key.saddr != pin.nat_addr &&
	    rewrite_addr(skb, &f, MB_IP_OFF + offsetof(struct iphdr, saddr), f.key.saddr,
			 pin.nat_addr) < 0)
		return drop(path_id, MB_DROP_ENCAP_FAILED);
	count_tx(path_id, skb->len - sizeof(struct ethhdr), skb->len - sizeof(struct ethhdr));
	return redirect_to_path(p);
}

/*
 * mb_decap in flow mode: replies to a NATed flow get their bond-side
 * destination back and enter the bond; everything else is the host's.
 */
static __always_inline int flow_receive(struct __sk_buff *skb, const struct mb_config *cfg)
{
	struct mb_flow_pkt f;

	if (skb->protocol != bpf_htons(ETH_P_IP) || parse_flow(skb, 0, &f) < 0)
		return TC_ACT_OK;
	struct mb_nat_origin *o = bpf_map_lookup_elem(&mb_nat_reverse, &f.key);
	if (!o)
		return TC_ACT_OK;
	__u32 path_id = o->path_id;
	if (rewrite_addr(skb, &f, MB_IP_OFF + offsetof(struct iphdr, daddr), f.key.daddr,
			 o->orig_addr) < 0 ||
	    bpf_skb_store_bytes(skb, 0, cfg->bond_mac, ETH_ALEN, 0) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);
	if (c) {
		c->rx_packets++;
		c->rx_bytes += skb->len - sizeof(struct ethhdr);
	}
	charge_cap(path_id, skb->len - sizeof(struct ethhdr));
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
}

/* DSCP Expedited Forwarding (46), the usual marking of voice. */
#define MB_DSCP_EF 0xb8

SEC("tc")
int mb_encap(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	struct mb_choice choice = {};
	const __u8 *inner_first = NULL;
	__u8 tos;

	if (!cfg || !cfg->configured)
		return drop(MB_NO_PATH, MB_DROP_NO_CONFIG);
	/* Probe marks do not apply: without a peer there is nobody to reflect them. */
	if (cfg->mode == MB_MODE_FLOW)
		return flow_send(skb);
	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return drop(MB_NO_PATH, MB_DROP_UNSUPPORTED_L3);
	__u32 min_l3 = skb->protocol == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr)
							       : sizeof(struct ipv6hdr);
	if (skb->len >= sizeof(struct ethhdr) + min_l3)
		inner_first = packet_bytes(skb, sizeof(struct ethhdr), 2);
	if (!inner_first)
		return drop(MB_NO_PATH, MB_DROP_TRUNCATED);
	/* Carry the inner DSCP outside so uplink QoS still sees it. */
	if (skb->protocol == bpf_htons(ETH_P_IP))
		tos = inner_first[1] & 0xfc;
	else
		tos = (__u8)((inner_first[0] << 4) | (inner_first[1] >> 4)) & 0xfc;

	__u32 inner_len = skb->len - sizeof(struct ethhdr);
	enum mb_placement placement = MB_PLACE_EARLIEST_ARRIVAL;
	if (cfg->mode == MB_MODE_REDUNDANT)
		placement = MB_PLACE_ALL;
	else if (cfg->mode == MB_MODE_LATENCY && (inner_len <= cfg->latency_bytes || tos == MB_DSCP_EF))
		placement = MB_PLACE_LOWEST_DELAY;
	__u8 flags = placement == MB_PLACE_ALL ? MB_FLAG_REDUNDANT : 0;

	/*
	 * Charge each path for what its link really carries (inner packet,
	 * our headers, Ethernet header): if the model drained faster than the
	 * link, it would see idle queues under load and pile onto the fastest
	 * path, which then lags and reorders TCP.
	 */
	if ((skb->mark & MB_PROBE_MARK_MASK) == MB_PROBE_MARK) {
		if (force_path(skb->mark & ~MB_PROBE_MARK_MASK, &choice) < 0)
			return drop(MB_NO_PATH, MB_DROP_NO_PATH);
	} else if (choose_paths(skb->len + MB_ENCAP_OVERHEAD, placement, &choice) < 0) {
		return drop(MB_NO_PATH, MB_DROP_NO_PATH);
	}

	/*
	 * The bond MTU leaves room for the overhead, so this only fails when
	 * someone raised it: drop and count rather than let the uplink drop
	 * the packet silently. GSO packets always pass (the helper checks
	 * segments only with BPF_MTU_CHK_SEGS, which refuses a len_diff): the
	 * bond MTU bounds their segments. All copies need the same room, so the
	 * first chosen path's MTU decides and the agent gives the bond the
	 * smallest.
	 */
	__u32 first = 0;
	for (__u32 i = MB_MAX_PATHS; i > 0; i--)
		if (choice.send[i - 1])
			first = i - 1;
	struct mb_path *fp = bpf_map_lookup_elem(&mb_paths, &first);
	__u32 mtu_len = 0;
	if (!fp || bpf_check_mtu(skb, fp->ifindex, &mtu_len, MB_ENCAP_OVERHEAD, 0) != 0)
		return drop(first, MB_DROP_TOO_BIG);

	/*
	 * ENCAP flags make GSO packets segment as UDP tunnels; FIXED_GSO keeps
	 * gso_size so each segment grows by exactly the overhead (which the
	 * bond MTU reserves) instead of drifting.
	 */
	if (bpf_skb_adjust_room(skb, MB_ENCAP_OVERHEAD, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
					BPF_F_ADJ_ROOM_FIXED_GSO))
		return drop(first, MB_DROP_ENCAP_FAILED);

	__u16 outer_len = (__u16)(skb->len - sizeof(struct ethhdr));
	struct mb_outer outer;
	__s32 last = -1;
	/*
	 * One copy per chosen path: every copy but the last goes out as a
	 * clone; the last takes the skb itself. Headers are stored with
	 * bpf_skb_store_bytes because a clone invalidates packet pointers.
	 */
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		if (!choice.send[i])
			continue;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p)
			continue;
		if (last >= 0) {
			/* A later path exists: the previous one gets a clone. */
			__u32 prev = last & (MB_MAX_PATHS - 1);
			struct mb_path *pp = bpf_map_lookup_elem(&mb_paths, &prev);
			if (pp && send_clone(skb, pp) == 0)
				count_tx(prev, inner_len, outer_len);
			else
				count_drop(prev, MB_DROP_CLONE_FAILED);
		}
		build_outer(&outer, p, i, tos, outer_len, &choice, flags);
		if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &outer.h_proto,
					MB_OUTER_STORE_LEN, 0))
			return drop(i, MB_DROP_ENCAP_FAILED);
		last = i;
	}

	__u32 last_id = last & (MB_MAX_PATHS - 1);
	struct mb_path *lp = bpf_map_lookup_elem(&mb_paths, &last_id);
	if (last < 0 || !lp)
		return drop(MB_NO_PATH, MB_DROP_NO_PATH);
	count_tx(last_id, inner_len, outer_len);
	return redirect_to_path(lp);
}

/*
 * Redundant copies share a bond_seq. Returns 0 for the first copy, or the
 * drop reason. The compare-and-swap makes two copies racing on two CPUs
 * agree on which one is first.
 */
static __always_inline int dedup(__u32 seq)
{
	__u32 key = 0;
	struct mb_dedup *d = bpf_map_lookup_elem(&mb_dedup, &key);

	if (!d)
		return 0;
	__s32 ahead = (__s32)(seq - d->newest_seq); /* wrap-around safe */
	if (ahead <= -MB_DEDUP_WINDOW)
		return MB_DROP_TOO_OLD;
	if (ahead > 0)
		d->newest_seq = seq;
	__u32 *slot = &d->slot[seq & (MB_DEDUP_WINDOW - 1)];
	__u32 old = *slot;
	if (old == seq || __sync_val_compare_and_swap(slot, old, seq) != old)
		return MB_DROP_DUPLICATE;
	return 0;
}

/* ------------------------------------------------------------ relaying */

/* relay() found nothing to relay: mb_decap goes on with the packet. */
#define MB_NOT_RELAYED -1

/* The outer headers of a relayed packet: only ihl 5 (ours) is relayed. */
struct mb_relay_hdr {
	struct iphdr ip;
	struct udphdr udp;
};

static __always_inline int relay_drop(__u32 slot, enum mb_relay_drop_reason reason)
{
	struct mb_relay_counters *c = bpf_map_lookup_elem(&mb_relay_counters, &slot);

	if (c && reason < MB_RELAY_DROP_REASONS)
		c->drops[reason]++;
	return TC_ACT_SHOT;
}

static __always_inline void relay_count(__u32 slot, int forward, __u32 wire_len)
{
	struct mb_relay_counters *c = bpf_map_lookup_elem(&mb_relay_counters, &slot);

	if (!c)
		return;
	if (forward) {
		c->fwd_packets++;
		c->fwd_bytes += wire_len;
	} else {
		c->ret_packets++;
		c->ret_bytes += wire_len;
	}
}

/*
 * Token bucket of relay_max_kbps (0 = no limit) over all relayed traffic.
 * Its depth, 100 ms of the rate but at least 64 KiB (one GSO packet), lets
 * TCP's bursts through, so relayed TCP is policed rather than starved.
 * Returns 1 when `len` bytes may pass and takes them.
 */
static __always_inline int relay_rate_allows(__u32 kbps, __u32 len)
{
	__u32 key = 0;
	struct mb_relay_bucket *b;
	int pass = 0;

	if (!kbps)
		return 1;
	b = bpf_map_lookup_elem(&mb_relay_bucket, &key);
	if (!b)
		return 0;
	/* kbps = 125 bytes per ms; one byte takes 8e6 / kbps ns. */
	__u64 depth = (__u64)kbps * 125 / 10;
	if (depth < 65536)
		depth = 65536;
	__u64 fill_ns = depth * 8000000ULL / kbps;
	__u64 now = bpf_ktime_get_ns();

	bpf_spin_lock(&b->lock);
	/* Not when another CPU, with a later clock reading, refilled already. */
	if (now > b->last_ns) {
		__u64 elapsed = now - b->last_ns;
		__u64 add = elapsed < fill_ns ? elapsed * kbps / 8000000ULL : depth;
		if (b->tokens_bytes + add >= depth) {
			b->tokens_bytes = depth;
			b->last_ns = now;
		} else {
			b->tokens_bytes += add;
			/* Only the time the whole bytes stand for: small packets must not lose the rest. */
			b->last_ns += add * 8000000ULL / kbps;
		}
	}
	if (b->tokens_bytes >= len) {
		b->tokens_bytes -= len;
		pass = 1;
	}
	bpf_spin_unlock(&b->lock);
	return pass;
}

/*
 * Readdresses a relayed packet, both directions: new outer addresses and
 * ports, TTL - 1, IPv4 checksum recomputed, UDP checksum 0 as on every
 * meshbpf packet. GSO packets keep their gso_type: segmentation copies
 * these headers to every segment.
 */
static __always_inline long readdress_relayed(struct __sk_buff *skb, struct mb_relay_hdr *h,
					      __be32 saddr, __be32 daddr, __u16 sport, __u16 dport)
{
	h->ip.saddr = saddr;
	h->ip.daddr = daddr;
	h->ip.ttl--;
	h->ip.check = 0;
	h->ip.check = ipv4_csum(&h->ip);
	h->udp.source = bpf_htons(sport);
	h->udp.dest = bpf_htons(dport);
	h->udp.check = 0;
	return bpf_skb_store_bytes(skb, sizeof(struct ethhdr), h, sizeof(*h), BPF_F_RECOMPUTE_CSUM);
}

/*
 * Relays a packet sent to one of our relay ports (bpf/meshbpf.h,
 * "Relaying"): forward from an origin to its bonding peer out of our
 * uplink, or the peer's return to the origin over the LAN. Packets of no
 * relay we serve return MB_NOT_RELAYED and go on through mb_decap.
 */
static __always_inline int relay(struct __sk_buff *skb, const struct mb_config *cfg)
{
	struct mb_relay_hdr h;

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h)) < 0)
		return MB_NOT_RELAYED;
	__u16 port = bpf_ntohs(h.udp.dest);
	__u16 offset = port - cfg->relay_port;
	if (offset >= MB_RELAY_PORT_SPAN || h.ip.version != 4 || h.ip.ihl != 5 ||
	    h.ip.protocol != IPPROTO_UDP || (h.ip.frag_off & bpf_htons(0x3fff)))
		return MB_NOT_RELAYED;

	int forward = offset < MB_RELAY_RETURN_OFFSET;
	struct mb_relay_key key = { .addr = h.ip.saddr, .port = port, .pad = 0 };
	__u32 *slot_ref;
	if (forward)
		slot_ref = bpf_map_lookup_elem(&mb_relay_fwd, &key);
	else
		slot_ref = bpf_map_lookup_elem(&mb_relay_ret, &key);
	if (!slot_ref)
		return MB_NOT_RELAYED;
	__u32 slot = *slot_ref;
	struct mb_relay *r = bpf_map_lookup_elem(&mb_relays, &slot);
	if (!r || !r->in_use)
		return MB_NOT_RELAYED;

	if (!forward && h.udp.source != bpf_htons(r->peer_port))
		return relay_drop(slot, MB_RELAY_DROP_WRONG_SOURCE);
	if (h.ip.ttl <= 1)
		return relay_drop(slot, MB_RELAY_DROP_TTL);
	__u32 uplink_path = r->uplink_path;
	struct mb_path *uplink = bpf_map_lookup_elem(&mb_paths, &uplink_path);
	if (!uplink || uplink->ifindex == 0)
		return relay_drop(slot, MB_RELAY_DROP_UPLINK_GONE);
	if (cap_spent(MB_RELAY_BUDGET))
		return relay_drop(slot, MB_RELAY_DROP_SHARE_SPENT);
	/* Our own cap stops relaying whatever its policy: the relay is no last resort of ours. */
	if (cap_spent(uplink_path))
		return relay_drop(slot, MB_RELAY_DROP_CAP_SPENT);
	__u32 mtu_len = 0;
	if (bpf_check_mtu(skb, forward ? uplink->ifindex : r->lan_ifindex, &mtu_len, 0, 0) != 0)
		return relay_drop(slot, MB_RELAY_DROP_TOO_BIG);
	__u32 wire_len = skb->len - sizeof(struct ethhdr);
	if (!relay_rate_allows(cfg->relay_max_kbps, wire_len))
		return relay_drop(slot, MB_RELAY_DROP_RATE);

	long err;
	if (forward)
		err = readdress_relayed(skb, &h, uplink->src_ip, r->peer_ip, r->return_port,
					r->peer_port);
	else
		err = readdress_relayed(skb, &h, r->lan_ip, r->origin_ip, r->relay_port,
					r->origin_port);
	if (err)
		return relay_drop(slot, MB_RELAY_DROP_REWRITE_FAILED);
	charge_cap(MB_RELAY_BUDGET, wire_len);
	charge_cap(uplink_path, wire_len);
	relay_count(slot, forward, wire_len);
	if (forward)
		return redirect_to_path(uplink);
	return bpf_redirect_neigh(r->lan_ifindex, NULL, 0, 0);
}

/*
 * A learned path (MB_PATH_F_LEARN) takes data only from its endpoint
 * (dst_ip:dst_port). From elsewhere only a probe passes, and its outer
 * source goes to mb_learned for the agent, which adopts it once the probe
 * has authenticated. Returns 1 for such a probe (delivered although its
 * source is not in mb_peers yet), 0 when the path has nothing to learn from
 * the packet, -1 to drop it.
 */
static __always_inline int check_learned_path(struct __sk_buff *skb, const struct mb_config *cfg,
					      __u32 path_id, const struct iphdr *ip,
					      const struct udphdr *udp, __u32 inner_off)
{
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &path_id);
	struct iphdr inner;
	__be16 inner_dport;

	if (!p || !(p->flags & MB_PATH_F_LEARN) ||
	    (ip->saddr == p->dst_ip && udp->source == bpf_htons(p->dst_port)))
		return 0;
	if (bpf_skb_load_bytes(skb, inner_off, &inner, sizeof(inner)) < 0 || inner.version != 4 ||
	    inner.protocol != IPPROTO_UDP || (inner.frag_off & bpf_htons(0x1fff)) ||
	    bpf_skb_load_bytes(skb, inner_off + inner.ihl * 4 + offsetof(struct udphdr, dest),
			       &inner_dport, sizeof(inner_dport)) < 0 ||
	    inner_dport != bpf_htons(cfg->probe_port))
		return -1;
	struct mb_learned_source seen = {
		.saddr = ip->saddr,
		.daddr = ip->daddr,
		.sport = bpf_ntohs(udp->source),
		.ifindex = skb->ifindex, /* at TC ingress: the device it arrived on */
		.seen_ns = bpf_ktime_get_ns(),
	};
	bpf_map_update_elem(&mb_learned, &path_id, &seen, BPF_ANY);
	return 1;
}

SEC("tc")
int mb_decap(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct mb_config *cfg;
	struct iphdr ip;
	struct udphdr udp;
	struct mb_wire_hdr mb;
	__u8 inner_version;

	cfg = bpf_map_lookup_elem(&mb_config, &key);
	if (!cfg || !cfg->configured)
		return TC_ACT_OK;
	/* First: a node relays in any mode. */
	if (cfg->relay_port) {
		int verdict = relay(skb, cfg);
		if (verdict != MB_NOT_RELAYED)
			return verdict;
	}
	if (cfg->mode == MB_MODE_FLOW)
		return flow_receive(skb, cfg);
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	const struct iphdr *iph = packet_bytes(skb, sizeof(struct ethhdr), sizeof(ip));
	if (!iph)
		return TC_ACT_OK;
	ip = *iph;
	if (ip.protocol != IPPROTO_UDP || ip.ihl < 5 || (ip.frag_off & bpf_htons(0x3fff)))
		return TC_ACT_OK;

	__u32 ip_len = ip.ihl * 4;
	__u32 udp_off = sizeof(struct ethhdr) + ip_len;
	const struct udphdr *udph = packet_bytes(skb, udp_off, sizeof(udp));
	if (!udph)
		return TC_ACT_OK;
	udp = *udph;

	if (udp.dest != bpf_htons(cfg->listen_port))
		return TC_ACT_OK;

	/* From here on the packet is addressed to meshbpf: never pass it up. */
	int known_source = bpf_map_lookup_elem(&mb_peers, &ip.saddr) != NULL;
	/* A learned path's probe may come from a source not known yet: decided below. */
	if (!known_source && !cfg->learn_paths)
		return drop(MB_NO_PATH, MB_DROP_UNKNOWN_SOURCE);

	__u32 hdr_len = ip_len + sizeof(udp) + sizeof(mb);
	const struct mb_wire_hdr *mbh = packet_bytes(skb, udp_off + sizeof(udp), sizeof(mb) + 1);
	if (!mbh)
		return drop(MB_NO_PATH, MB_DROP_TRUNCATED);
	mb = *mbh;
	inner_version = *(const __u8 *)(mbh + 1);
	if (mb.version != MB_WIRE_VERSION || mb.path_id >= MB_MAX_PATHS)
		return drop(MB_NO_PATH, MB_DROP_BAD_HEADER);

	__u32 path_id = mb.path_id;
	if (cfg->learn_paths) {
		int learned = check_learned_path(skb, cfg, path_id, &ip, &udp,
						 sizeof(struct ethhdr) + hdr_len);
		if (learned < 0)
			return drop(path_id, MB_DROP_WRONG_ENDPOINT);
		known_source |= learned;
	}
	if (!known_source)
		return drop(MB_NO_PATH, MB_DROP_UNKNOWN_SOURCE);
	__be16 inner_proto;
	switch (inner_version >> 4) {
	case 4:
		inner_proto = bpf_htons(ETH_P_IP);
		break;
	case 6:
		inner_proto = bpf_htons(ETH_P_IPV6);
		break;
	default:
		return drop(path_id, MB_DROP_UNSUPPORTED_L3);
	}
	__u32 min_inner = inner_proto == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr)
							     : sizeof(struct ipv6hdr);
	if (skb->len < sizeof(struct ethhdr) + hdr_len + min_inner)
		return drop(path_id, MB_DROP_TRUNCATED);

	if (mb.flags & MB_FLAG_REDUNDANT) {
		int reason = dedup(bpf_ntohl(mb.bond_seq));
		if (reason)
			return drop(path_id, reason);
	}

	if (bpf_skb_adjust_room(skb, -(__s32)hdr_len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
		return drop(path_id, MB_DROP_DECAP_FAILED);

	/*
	 * Deliver into the bond device's ingress. Its stack re-derives the
	 * protocol and packet type from the Ethernet header, so that header
	 * must name the bond's MAC and the inner L3 protocol.
	 */
	const struct ethhdr *delivered = packet_bytes(skb, 0, sizeof(struct ethhdr));
	if (!delivered)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	struct ethhdr eth;
	__builtin_memcpy(eth.h_dest, cfg->bond_mac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, delivered->h_source, ETH_ALEN);
	eth.h_proto = inner_proto;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);

	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);
	if (c) {
		c->rx_packets++;
		c->rx_bytes += skb->len - sizeof(struct ethhdr);
	}
	/*
	 * Charged with the outer headers just stripped. A spent cap does not
	 * refuse it: the uplink has carried it already.
	 */
	charge_cap(path_id, skb->len - sizeof(struct ethhdr) + hdr_len);
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
}
