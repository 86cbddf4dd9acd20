/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The steps of mb_decap with a peer: recognising a meshbpf packet, checking
 * its headers, and stripping them for delivery into the bond device. */
#ifndef MB_LIB_DECAP_H
#define MB_LIB_DECAP_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "packet.h"

/* What mb_decap reads of a packet's outer headers. */
struct outer_seen {
	__u8 v6;          /* the outer header is IPv6 */
	__u8 tos;         /* its traffic class (ECN for decap_ecn) */
	__u8 l3_len;      /* the outer IP header's length (a byte: bounds packet offsets for the verifier) */
	__u32 outer_len;  /* the outer IP packet's length, as its header gives it */
	__be32 saddr;     /* IPv4 */
	__be32 daddr;
	struct mb_ip6 saddr6; /* IPv6 */
	struct mb_ip6 daddr6;
	struct udphdr udp;
};

/* outer_seen of an IPv4 packet. Returns 1 for UDP that is not a fragment. */
static __always_inline int read_outer4(struct __sk_buff *skb, struct outer_seen *o)
{
	const struct iphdr *ip = packet_bytes(skb, sizeof(struct ethhdr), sizeof(*ip));

	if (!ip || ip->protocol != IPPROTO_UDP || ip->ihl < 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	o->tos = ip->tos;
	o->l3_len = ip->ihl * 4;
	o->outer_len = bpf_ntohs(ip->tot_len);
	o->saddr = ip->saddr;
	o->daddr = ip->daddr;
	return 1;
}

/*
 * outer_seen of an IPv6 packet. Returns 1 for UDP right after the fixed
 * header: the sender (mb_encap) adds no extension header, and a fragment
 * header means a fragment, which meshbpf never sends.
 */
static __always_inline int read_outer6(struct __sk_buff *skb, struct outer_seen *o)
{
	const struct ipv6hdr *ip6 = packet_bytes(skb, sizeof(struct ethhdr), sizeof(*ip6));

	if (!ip6 || ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
		return 0;
	o->v6 = 1;
	o->tos = (__u8)((ip6->priority << 4) | (ip6->flow_lbl[0] >> 4));
	o->l3_len = sizeof(*ip6);
	o->outer_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	__builtin_memcpy(o->saddr6.addr, &ip6->saddr, sizeof(o->saddr6.addr));
	__builtin_memcpy(o->daddr6.addr, &ip6->daddr, sizeof(o->daddr6.addr));
	return 1;
}

/*
 * Reads the outer IPv4 or IPv6 and UDP headers. Returns 1 when the packet
 * is addressed to meshbpf (UDP to the listen port, not fragmented), 0 when
 * it is the host's.
 */
static __always_inline int read_outer(struct __sk_buff *skb, const struct mb_config *cfg,
				      struct outer_seen *o)
{
	__builtin_memset(o, 0, sizeof(*o));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (!read_outer4(skb, o))
			return 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (!read_outer6(skb, o))
			return 0;
	} else {
		return 0;
	}
	const struct udphdr *udph = packet_bytes(skb, sizeof(struct ethhdr) + o->l3_len,
						 sizeof(o->udp));
	if (!udph)
		return 0;
	o->udp = *udph;
	return o->udp.dest == bpf_htons(cfg->listen_port);
}

/* Whether the outer source is a peer's (mb_peers, mb_peers6). */
static __always_inline int from_known_peer(const struct outer_seen *o)
{
	if (o->v6)
		return bpf_map_lookup_elem(&mb_peers6, &o->saddr6) != NULL;
	return bpf_map_lookup_elem(&mb_peers, &o->saddr) != NULL;
}

/*
 * Reads mb_wire_hdr at `off` and the inner packet's first byte, which
 * follows the whole tunnel header (`wire_len` bytes: mb_wire_hdr, and
 * mb_auth_hdr when `authenticate`). Returns 0, or the drop reason. Both
 * ends must agree on authentication: a version 1 packet is refused when it
 * is on, a version 2 packet when it is off.
 */
static __always_inline int read_wire_hdr(struct __sk_buff *skb, __u32 off, __u32 wire_len,
					 __u8 authenticate, struct mb_wire_hdr *mb,
					 __u8 *inner_version)
{
	const struct mb_wire_hdr *mbh;

	if (wire_len > sizeof(*mb) + sizeof(struct mb_auth_hdr)) /* bounds the read for the verifier */
		return MB_DROP_BAD_HEADER;
	mbh = packet_bytes(skb, off, wire_len + 1);
	if (!mbh)
		return MB_DROP_TRUNCATED;
	*mb = *mbh;
	*inner_version = *((const __u8 *)mbh + wire_len);
	if (authenticate && mb->version == MB_WIRE_VERSION)
		return MB_DROP_AUTH_MISSING;
	if (mb->version != (authenticate ? MB_WIRE_VERSION_AUTH : MB_WIRE_VERSION) ||
	    mb->path_id >= MB_MAX_PATHS)
		return MB_DROP_BAD_HEADER;
	return 0;
}

/*
 * A session handshake message (MB_WIRE_VERSION_HANDSHAKE at `off`, where a
 * tunnel packet has its version): the agent's, passed up to its socket.
 */
static __always_inline int is_handshake(struct __sk_buff *skb, __u32 off)
{
	const __u8 *version = packet_bytes(skb, off, 1);

	return version && *version == MB_WIRE_VERSION_HANDSHAKE;
}

/*
 * The inner packet's Ethernet type, from its IP version; it starts at
 * `inner_off`. Returns 0, or the drop reason for another version or a
 * packet too short for its L3 header.
 */
static __always_inline int read_inner_proto(const struct __sk_buff *skb, __u32 inner_off,
					    __u8 inner_version, __be16 *proto)
{
	switch (inner_version >> 4) {
	case 4:
		*proto = bpf_htons(ETH_P_IP);
		break;
	case 6:
		*proto = bpf_htons(ETH_P_IPV6);
		break;
	default:
		return MB_DROP_UNSUPPORTED_L3;
	}
	__u32 min_inner = *proto == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr)
							: sizeof(struct ipv6hdr);
	if (skb->len < inner_off + min_inner)
		return MB_DROP_TRUNCATED;
	return 0;
}

/*
 * Cryptokey routing: the inner packet (at `inner_off`, of `inner_proto`)
 * must come from one of the peer's allowed prefixes. Returns 0, or the
 * drop reason.
 */
static __always_inline int check_inner_source(struct __sk_buff *skb, __u32 inner_off,
					      __be16 inner_proto)
{
	if (inner_proto == bpf_htons(ETH_P_IP)) {
		struct mb_prefix_v4 key = {.prefixlen = 32};
		if (bpf_skb_load_bytes(skb, inner_off + offsetof(struct iphdr, saddr), &key.addr,
				       sizeof(key.addr)) < 0)
			return MB_DROP_TRUNCATED;
		return bpf_map_lookup_elem(&mb_allowed_v4, &key) ? 0 : MB_DROP_INNER_SOURCE;
	}
	struct mb_prefix_v6 key = {.prefixlen = 128};
	if (bpf_skb_load_bytes(skb, inner_off + offsetof(struct ipv6hdr, saddr), key.addr,
			       sizeof(key.addr)) < 0)
		return MB_DROP_TRUNCATED;
	return bpf_map_lookup_elem(&mb_allowed_v6, &key) ? 0 : MB_DROP_INNER_SOURCE;
}

/*
 * Strips the outer headers, leaving the inner packet as the frame to
 * deliver into the bond device's ingress. Its stack re-derives the protocol
 * and packet type from the Ethernet header, so that header must name the
 * bond's MAC and the inner L3 protocol. Returns 0 or the drop reason.
 */
static __always_inline int strip_outer(struct __sk_buff *skb, const struct mb_config *cfg,
				       __u32 hdr_len, __be16 inner_proto)
{
	if (bpf_skb_adjust_room(skb, -(__s32)hdr_len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
		return MB_DROP_DECAP_FAILED;

	const struct ethhdr *delivered = packet_bytes(skb, 0, sizeof(struct ethhdr));
	if (!delivered)
		return MB_DROP_DECAP_FAILED;
	struct ethhdr eth;
	__builtin_memcpy(eth.h_dest, cfg->bond_mac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, delivered->h_source, ETH_ALEN);
	eth.h_proto = inner_proto;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0)
		return MB_DROP_DECAP_FAILED;
	return 0;
}

/*
 * Passes congestion a router marked on the outer header (CE) into the inner
 * packet, whose ECN field mb_encap copied outside (RFC 6040 normal mode).
 * The inner packet starts at `inner_off`. Returns 0, or
 * MB_DROP_CE_NOT_ECT for CE on a packet whose sender does not do ECN: the
 * mark cannot be passed on, and the router meant it as a drop (RFC 6040 4.2).
 */
static __always_inline int decap_ecn(struct __sk_buff *skb, __u8 outer_tos, __u32 inner_off,
				     __be16 inner_proto)
{
	if ((outer_tos & MB_ECN_MASK) != MB_ECN_CE)
		return 0;
	const __u8 *l3 = packet_bytes(skb, inner_off, 2);
	if (!l3)
		return MB_DROP_TRUNCATED;
	__u8 first[2] = {l3[0], l3[1]};
	if (inner_proto == bpf_htons(ETH_P_IP)) {
		if (!(first[1] & MB_ECN_MASK))
			return MB_DROP_CE_NOT_ECT;
		if ((first[1] & MB_ECN_MASK) == MB_ECN_CE)
			return 0;
		__u8 marked[2] = {first[0], first[1] | MB_ECN_CE};
		__be16 from, to;
		__builtin_memcpy(&from, first, 2);
		__builtin_memcpy(&to, marked, 2);
		/* The header sum stays the same: no skb->csum to fix. */
		if (bpf_l3_csum_replace(skb, inner_off + offsetof(struct iphdr, check), from, to, 2) ||
		    bpf_skb_store_bytes(skb, inner_off + 1, &marked[1], 1, 0))
			return MB_DROP_DECAP_FAILED;
		return 0;
	}
	/* IPv6: the traffic class's low 4 bits are byte 1's high nibble. */
	__u8 ecn = (first[1] >> 4) & MB_ECN_MASK;
	if (!ecn)
		return MB_DROP_CE_NOT_ECT;
	if (ecn == MB_ECN_CE)
		return 0;
	__u8 marked = first[1] | (MB_ECN_CE << 4);
	if (bpf_skb_store_bytes(skb, inner_off + 1, &marked, 1, BPF_F_RECOMPUTE_CSUM))
		return MB_DROP_DECAP_FAILED;
	return 0;
}

#endif /* MB_LIB_DECAP_H */
