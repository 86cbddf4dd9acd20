/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow mode (no peer): each flow pinned to a path and source-NATed to its
 * address on the way out (flow_send), the NAT undone on replies (flow_receive). */
#ifndef MB_LIB_FLOW_H
#define MB_LIB_FLOW_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "caps.h"
#include "counters.h"
#include "maps.h"
#include "packet.h"

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
	__u32 l3_len = skb->len - sizeof(struct ethhdr);
	count_packet(path_id, MB_SENT, l3_len, l3_len);
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
		return MB_NOT_OURS;
	struct mb_nat_origin *o = bpf_map_lookup_elem(&mb_nat_reverse, &f.key);
	if (!o)
		return MB_NOT_OURS;
	__u32 path_id = o->path_id;
	if (rewrite_addr(skb, &f, MB_IP_OFF + offsetof(struct iphdr, daddr), f.key.daddr,
			 o->orig_addr) < 0 ||
	    bpf_skb_store_bytes(skb, 0, cfg->bond_mac, ETH_ALEN, 0) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	__u32 l3_len = skb->len - sizeof(struct ethhdr);
	count_packet(path_id, MB_RECEIVED, l3_len, l3_len);
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
}

#endif /* MB_LIB_FLOW_H */
