/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Relaying for other nodes (bpf/meshbpf.h, "Relaying"): forwarding an origin's
 * packets to its bonding peer and back, policed, counted and charged. */
#ifndef MB_LIB_RELAY_H
#define MB_LIB_RELAY_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "caps.h"
#include "maps.h"
#include "packet.h"

/* relay() found nothing to relay: mb_decap goes on with the packet. */
#define MB_NOT_RELAYED -1

/*
 * The outer headers of a packet to relay, as on the wire (IPv4 of ihl 5, or
 * IPv6 without extension headers, then UDP), and what relay() uses of them
 * in one form for both families.
 */
struct relay_hdr {
	union {
		struct {
			struct iphdr ip;
			struct udphdr udp;
		} v4;
		struct {
			struct ipv6hdr ip;
			struct udphdr udp;
		} v6;
	} wire;
	struct mb_addr saddr;
	struct mb_addr daddr;
	__u16 sport;         /* host order */
	__u16 dport;         /* host order */
	__u8 ttl;            /* TTL or hop limit */
	__u8 v6;             /* 1: wire.v6 */
	__u16 l3_len;        /* the outer IP header's length */
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
 * Reads the outer headers of a packet that may be one to relay into h.
 * Returns 0, or -1 for anything relay() leaves alone: another protocol,
 * IPv4 options or fragments, IPv6 extension headers (meshbpf sends none),
 * a packet too short for the headers.
 */
static __always_inline int read_relay_hdr(struct __sk_buff *skb, struct relay_hdr *h)
{
	struct udphdr *udp;

	__builtin_memset(h, 0, sizeof(*h));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = &h->wire.v4.ip;
		if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &h->wire.v4, sizeof(h->wire.v4)) < 0 ||
		    ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return -1;
		h->saddr.w[0] = ip->saddr;
		h->daddr.w[0] = ip->daddr;
		h->ttl = ip->ttl;
		h->l3_len = sizeof(*ip);
		udp = &h->wire.v4.udp;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip = &h->wire.v6.ip;
		if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &h->wire.v6, sizeof(h->wire.v6)) < 0 ||
		    ip->version != 6 || ip->nexthdr != IPPROTO_UDP)
			return -1;
		__builtin_memcpy(&h->saddr, &ip->saddr, sizeof(h->saddr));
		__builtin_memcpy(&h->daddr, &ip->daddr, sizeof(h->daddr));
		h->ttl = ip->hop_limit;
		h->v6 = 1;
		h->l3_len = sizeof(*ip);
		udp = &h->wire.v6.udp;
	} else {
		return -1;
	}
	h->sport = bpf_ntohs(udp->source);
	h->dport = bpf_ntohs(udp->dest);
	return 0;
}

/*
 * Readdresses a relayed packet, both directions, in its family: new outer
 * addresses and ports, TTL (hop limit) - 1, the IPv4 checksum recomputed,
 * UDP checksum 0 as on every meshbpf packet (over IPv6 too, see
 * MB_PATH_F_IPV6). GSO packets keep their gso_type: segmentation copies
 * these headers to every segment.
 */
static __always_inline long readdress_relayed(struct __sk_buff *skb, struct relay_hdr *h,
					      const struct mb_addr *saddr,
					      const struct mb_addr *daddr, __u16 sport, __u16 dport)
{
	struct udphdr *udp = h->v6 ? &h->wire.v6.udp : &h->wire.v4.udp;

	udp->source = bpf_htons(sport);
	udp->dest = bpf_htons(dport);
	udp->check = 0;
	if (h->v6) {
		struct ipv6hdr *ip = &h->wire.v6.ip;
		__builtin_memcpy(&ip->saddr, saddr, sizeof(ip->saddr));
		__builtin_memcpy(&ip->daddr, daddr, sizeof(ip->daddr));
		ip->hop_limit--;
		return bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h->wire.v6,
					   sizeof(h->wire.v6), BPF_F_RECOMPUTE_CSUM);
	}
	struct iphdr *ip = &h->wire.v4.ip;
	ip->saddr = saddr->w[0];
	ip->daddr = daddr->w[0];
	ip->ttl--;
	ip->check = 0;
	ip->check = ipv4_csum(ip);
	return bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h->wire.v4, sizeof(h->wire.v4),
				   BPF_F_RECOMPUTE_CSUM);
}

/*
 * Whether a packet for relay slot r is what the agent authorised, the way
 * it was announced: forward from the origin's tunnel port, arriving on the
 * LAN at our LAN address; returns from the peer's port, arriving on the
 * uplink at its address; either way a meshbpf packet. Anything else would
 * make the relay an open UDP proxy for whoever spoofs a neighbour's or the
 * peer's address. An authenticated packet's tag is the bonding peer's to
 * check: the relay holds no session key. Returns the drop reason, or -1 to relay.
 */
static __always_inline int relay_admission(struct __sk_buff *skb, const struct relay_hdr *h,
					   const struct mb_relay *r, const struct mb_addr *uplink_ip,
					   __u32 uplink_ifindex, int forward)
{
	struct mb_wire_hdr mb;
	__u32 wire_off = sizeof(struct ethhdr) + h->l3_len + sizeof(struct udphdr);

	if (skb->ingress_ifindex != (forward ? r->lan_ifindex : uplink_ifindex))
		return MB_RELAY_DROP_WRONG_INTERFACE;
	if (!addr_equal(&h->daddr, forward ? &r->lan_ip : uplink_ip))
		return MB_RELAY_DROP_WRONG_DESTINATION;
	if (h->sport != (forward ? r->origin_port : r->peer_port))
		return MB_RELAY_DROP_WRONG_SOURCE;
	/* A header and at least an inner IPv4 header behind it. */
	if (bpf_skb_load_bytes(skb, wire_off, &mb, sizeof(mb)) < 0 ||
	    skb->len < wire_off + sizeof(mb) + sizeof(struct iphdr) ||
	    (mb.version != MB_WIRE_VERSION && mb.version != MB_WIRE_VERSION_AUTH) ||
	    mb.path_id >= MB_MAX_PATHS)
		return MB_RELAY_DROP_NOT_MESHBPF;
	return -1;
}

/*
 * Relays a packet sent to one of our relay ports (bpf/meshbpf.h,
 * "Relaying"), over IPv4 or IPv6: forward from an origin to its bonding
 * peer out of our uplink, or the peer's return to the origin over the LAN.
 * Packets of no relay we serve return MB_NOT_RELAYED and go on through
 * mb_decap.
 */
static __always_inline int relay(struct __sk_buff *skb, const struct mb_config *cfg)
{
	struct relay_hdr h;

	if (read_relay_hdr(skb, &h) < 0)
		return MB_NOT_RELAYED;
	__u16 offset = h.dport - cfg->relay_port;
	if (offset >= MB_RELAY_PORT_SPAN)
		return MB_NOT_RELAYED;

	int forward = offset < MB_RELAY_RETURN_OFFSET;
	struct mb_relay_key key = { .addr = h.saddr, .port = h.dport, .ipv6 = h.v6, .pad = 0 };
	__u32 *slot_ref;
	if (forward)
		slot_ref = bpf_map_lookup_elem(&mb_relay_fwd, &key);
	else
		slot_ref = bpf_map_lookup_elem(&mb_relay_ret, &key);
	if (!slot_ref)
		return MB_NOT_RELAYED;
	__u32 slot = *slot_ref;
	struct mb_relay *r = bpf_map_lookup_elem(&mb_relays, &slot);
	/*
	 * A slot of the other family is no relay of this packet's, as a freed
	 * slot is not: an index entry the agent has yet to remove may still
	 * point at a slot it reused for a relay of the other family.
	 */
	if (!r || !r->in_use || !(r->flags & MB_RELAY_F_IPV6) != !h.v6)
		return MB_NOT_RELAYED;

	__u32 uplink_path = r->uplink_path;
	struct mb_path *uplink = bpf_map_lookup_elem(&mb_paths, &uplink_path);
	if (!uplink || uplink->ifindex == 0)
		return relay_drop(slot, MB_RELAY_DROP_UPLINK_GONE);
	/* Its family is the relay's, or the packet could not leave from its address. */
	if (!(uplink->flags & MB_PATH_F_IPV6) != !h.v6)
		return relay_drop(slot, MB_RELAY_DROP_UPLINK_FAMILY);
	struct mb_addr uplink_ip;
	path_src_addr(uplink, &uplink_ip);
	int reason = relay_admission(skb, &h, r, &uplink_ip, uplink->ifindex, forward);
	if (reason >= 0)
		return relay_drop(slot, reason);
	if (h.ttl <= 1)
		return relay_drop(slot, MB_RELAY_DROP_TTL);
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
		err = readdress_relayed(skb, &h, &uplink_ip, &r->peer_ip, r->return_port,
					r->peer_port);
	else
		err = readdress_relayed(skb, &h, &r->lan_ip, &r->origin_ip, r->relay_port,
					r->origin_port);
	if (err)
		return relay_drop(slot, MB_RELAY_DROP_REWRITE_FAILED);
	charge_cap(MB_RELAY_BUDGET, wire_len);
	charge_cap(uplink_path, wire_len);
	relay_count(slot, forward, wire_len);
	if (forward)
		return redirect_to_path(uplink);
	/*
	 * No next hop given: the FIB lookup with the LAN device as the output
	 * interface finds the origin on it, an IPv4 address in the LAN's subnet
	 * as a link-local IPv6 one (looked up on that interface only).
	 */
	return bpf_redirect_neigh(r->lan_ifindex, NULL, 0, 0);
}

#endif /* MB_LIB_RELAY_H */
