/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Relaying for other nodes (bpf/meshbpf.h, "Relaying"): forwarding an origin's
 * packets to its bonding peer and back, policed, counted and charged. */
#ifndef MB_LIB_RELAY_H
#define MB_LIB_RELAY_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "caps.h"
#include "maps.h"
#include "packet.h"

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
 * Whether a packet for relay slot r is what the agent authorised, the way
 * it was announced: forward from the origin's tunnel port, arriving on the
 * LAN at our LAN address; returns from the peer's port, arriving on the
 * uplink at its address; either way a meshbpf packet. Anything else would
 * make the relay an open UDP proxy for whoever spoofs a neighbour's or the
 * peer's address. An authenticated packet's tag is the bonding peer's to
 * check: the relay holds no session key. Returns the drop reason, or -1 to relay.
 */
static __always_inline int relay_admission(struct __sk_buff *skb, const struct mb_relay_hdr *h,
					   const struct mb_relay *r, const struct mb_path *uplink,
					   int forward)
{
	struct mb_wire_hdr mb;

	if (skb->ingress_ifindex != (forward ? r->lan_ifindex : uplink->ifindex))
		return MB_RELAY_DROP_WRONG_INTERFACE;
	if (h->ip.daddr != (forward ? r->lan_ip : uplink->src_ip))
		return MB_RELAY_DROP_WRONG_DESTINATION;
	if (h->udp.source != bpf_htons(forward ? r->origin_port : r->peer_port))
		return MB_RELAY_DROP_WRONG_SOURCE;
	/* A header and at least an inner IPv4 header behind it. */
	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + sizeof(*h), &mb, sizeof(mb)) < 0 ||
	    skb->len < sizeof(struct ethhdr) + sizeof(*h) + sizeof(mb) + sizeof(struct iphdr) ||
	    (mb.version != MB_WIRE_VERSION && mb.version != MB_WIRE_VERSION_AUTH) ||
	    mb.path_id >= MB_MAX_PATHS)
		return MB_RELAY_DROP_NOT_MESHBPF;
	return -1;
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

	__u32 uplink_path = r->uplink_path;
	struct mb_path *uplink = bpf_map_lookup_elem(&mb_paths, &uplink_path);
	if (!uplink || uplink->ifindex == 0)
		return relay_drop(slot, MB_RELAY_DROP_UPLINK_GONE);
	int reason = relay_admission(skb, &h, r, uplink, forward);
	if (reason >= 0)
		return relay_drop(slot, reason);
	if (h.ip.ttl <= 1)
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

#endif /* MB_LIB_RELAY_H */
