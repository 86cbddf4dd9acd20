/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TCP MSS clamping on SYNs entering and leaving the tunnel: a connection
 * between hosts behind the bond (forwarded traffic) negotiates its MSS from
 * their own 1500-byte links, and a path may carry less than its uplink
 * (size probes); without a clamp TCP relies on ICMP "fragmentation needed",
 * which many networks filter (a PMTU black hole). */
#ifndef MB_LIB_MSS_H
#define MB_LIB_MSS_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

#include "packet.h"

#define MB_TCPOPT_EOL 0
#define MB_TCPOPT_NOP 1
#define MB_TCPOPT_MSS 2
#define MB_TCP_OPTIONS_MAX 40

/*
 * Where the TCP header of a SYN (or SYN-ACK) starts, or 0 for any other
 * packet: not TCP (IPv6: TCP right after the fixed header only), a
 * fragment, or no SYN.
 */
static __always_inline __u32 syn_tcp_offset(struct __sk_buff *skb, __be16 l3_proto)
{
	__u32 off;

	if (l3_proto == bpf_htons(ETH_P_IP)) {
		const struct iphdr *ip = packet_bytes(skb, sizeof(struct ethhdr), sizeof(*ip));
		if (!ip || ip->protocol != IPPROTO_TCP || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return 0;
		off = sizeof(struct ethhdr) + ip->ihl * 4;
	} else if (l3_proto == bpf_htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6 = packet_bytes(skb, sizeof(struct ethhdr), sizeof(*ip6));
		if (!ip6 || ip6->nexthdr != IPPROTO_TCP)
			return 0;
		off = sizeof(struct ethhdr) + sizeof(*ip6);
	} else {
		return 0;
	}
	const struct tcphdr *tcp = packet_bytes(skb, off, sizeof(*tcp));
	return tcp && tcp->syn ? off : 0;
}

/*
 * Lowers the MSS option of a SYN to what the bond carries: its MTU less
 * the IP and TCP headers. The frame starts with an Ethernet header and
 * carries `l3_proto`. Any other packet, and a SYN already at or below, is
 * left alone. Returns 0, or -1 if the packet could not be rewritten.
 * mb_encap clamps SYNs going out (what the far end may send us), mb_decap
 * those coming in (what we may send: the paths' sizes are ours to know).
 */
static __always_inline int clamp_mss(struct __sk_buff *skb, __be16 l3_proto, __u16 bond_mtu)
{
	__u32 tcp_off = syn_tcp_offset(skb, l3_proto);
	__u8 opts[MB_TCP_OPTIONS_MAX];

	if (!tcp_off || !bond_mtu)
		return 0;
	const struct tcphdr *tcp = packet_bytes(skb, tcp_off, sizeof(*tcp));
	if (!tcp)
		return 0;
	__u32 opt_len = tcp->doff * 4 - sizeof(*tcp);
	if (tcp->doff < 5 || opt_len == 0 || opt_len > MB_TCP_OPTIONS_MAX)
		return 0;
	__u32 ip_len = l3_proto == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	if (bond_mtu <= ip_len + sizeof(*tcp))
		return 0;
	__u16 max_mss = bond_mtu - ip_len - sizeof(*tcp);
	__u32 opts_off = tcp_off + sizeof(*tcp);
	if (bpf_skb_load_bytes(skb, opts_off, opts, opt_len))
		return 0;
	for (__u32 i = 0; i + 3 < opt_len && i < MB_TCP_OPTIONS_MAX - 3;) {
		__u8 kind = opts[i];
		if (kind == MB_TCPOPT_EOL)
			return 0;
		if (kind == MB_TCPOPT_NOP) {
			i++;
			continue;
		}
		__u8 len = opts[i + 1];
		if (len < 2)
			return 0; /* malformed: leave it to the end host */
		if (kind == MB_TCPOPT_MSS && len == 4) {
			__u16 mss = (__u16)opts[i + 2] << 8 | opts[i + 3];
			if (mss <= max_mss)
				return 0;
			__be16 from = bpf_htons(mss), to = bpf_htons(max_mss);
			if (bpf_l4_csum_replace(skb, tcp_off + offsetof(struct tcphdr, check), from, to, 2) ||
			    bpf_skb_store_bytes(skb, opts_off + i + 2, &to, sizeof(to), 0))
				return -1;
			return 0;
		}
		i += len;
	}
	return 0;
}

#endif /* MB_LIB_MSS_H */
