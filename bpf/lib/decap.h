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

#include "counters.h"
#include "maps.h"
#include "packet.h"

/*
 * Reads the outer IPv4 and UDP headers. Returns 1 when the packet is
 * addressed to meshbpf (UDP to the listen port, not fragmented), 0 when it
 * is the host's.
 */
static __always_inline int read_outer(struct __sk_buff *skb, const struct mb_config *cfg,
				      struct iphdr *ip, struct udphdr *udp)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	const struct iphdr *iph = packet_bytes(skb, sizeof(struct ethhdr), sizeof(*ip));
	if (!iph)
		return 0;
	*ip = *iph;
	if (ip->protocol != IPPROTO_UDP || ip->ihl < 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	const struct udphdr *udph = packet_bytes(skb, sizeof(struct ethhdr) + ip->ihl * 4,
						 sizeof(*udp));
	if (!udph)
		return 0;
	*udp = *udph;
	return udp->dest == bpf_htons(cfg->listen_port);
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
 * Strips the outer headers, leaving the inner packet as the frame to
 * deliver into the bond device's ingress. Its stack re-derives the protocol
 * and packet type from the Ethernet header, so that header must name the
 * bond's MAC and the inner L3 protocol. Returns 0 or the drop reason.
 */
static __always_inline int strip_outer(struct __sk_buff *skb, const struct mb_config *cfg,
				       __u32 path_id, __u32 hdr_len, __be16 inner_proto)
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

	__u32 inner_len = skb->len - sizeof(struct ethhdr);
	/* Charged with the outer headers just stripped. */
	count_packet(path_id, MB_RECEIVED, inner_len, inner_len + hdr_len);
	return 0;
}

#endif /* MB_LIB_DECAP_H */
