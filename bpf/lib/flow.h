/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow mode (no peer): each flow pinned to a path of its family and
 * source-NATed to the path's address on the way out (flow_send), the NAT
 * undone on replies (flow_receive). */
#ifndef MB_LIB_FLOW_H
#define MB_LIB_FLOW_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
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
#define MB_ICMPV6_ECHO_REQUEST 128
#define MB_ICMPV6_ECHO_REPLY 129

/* The ICMP of a key's family: ICMP or ICMPv6. */
static __always_inline __u8 icmp_proto_of(const struct mb_flow_key *k)
{
	return k->ipv6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

/* Where a packet's flow key is, and what to fix up when its address changes. */
struct mb_flow_pkt {
	struct mb_flow_key key;
	__u32 l4_off;
	__u32 csum_off;      /* transport checksum with a pseudo-header; 0 = none to fix */
	__u64 csum_flags;    /* BPF_F_MARK_MANGLED_0 for UDP: checksum 0 stays 0 */
};

/*
 * The transport part of the flow key (see struct mb_flow_key) and the
 * checksum to fix, once key.proto and l4_off are known. `has_l4`: the
 * transport header is here (first or only fragment); `keyed_by_ports`: not a
 * fragment at all. `outgoing` decides on which side an echo identifier goes:
 * the local side is the source going out and the destination coming back.
 */
static __always_inline int parse_transport(struct __sk_buff *skb, int outgoing, int has_l4,
					   int keyed_by_ports, struct mb_flow_pkt *out)
{
	__u8 proto = out->key.proto;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 ports[2];
		if (!has_l4)
			return 0;
		if (bpf_skb_load_bytes(skb, out->l4_off, ports, sizeof(ports)) < 0)
			return -1;
		if (proto == IPPROTO_TCP) {
			out->csum_off = out->l4_off + offsetof(struct tcphdr, check);
		} else {
			out->csum_off = out->l4_off + offsetof(struct udphdr, check);
			out->csum_flags = BPF_F_MARK_MANGLED_0;
		}
		if (keyed_by_ports) {
			out->key.sport = ports[0];
			out->key.dport = ports[1];
		}
		return 0;
	}
	/* ICMP's checksum covers no addresses; ICMPv6's covers the pseudo-header. */
	if (proto != icmp_proto_of(&out->key) || !has_l4)
		return 0;
	if (out->key.ipv6)
		out->csum_off = out->l4_off + 2;
	if (!keyed_by_ports)
		return 0;
	__u8 icmp[6]; /* type, code, checksum, identifier */
	if (bpf_skb_load_bytes(skb, out->l4_off, icmp, sizeof(icmp)) < 0)
		return -1;
	__u8 request = out->key.ipv6 ? MB_ICMPV6_ECHO_REQUEST : MB_ICMP_ECHO_REQUEST;
	__u8 reply = out->key.ipv6 ? MB_ICMPV6_ECHO_REPLY : MB_ICMP_ECHO_REPLY;
	if (icmp[0] == request || icmp[0] == reply) {
		__be16 id = (__be16)(icmp[4] | icmp[5] << 8);
		if (outgoing)
			out->key.sport = id;
		else
			out->key.dport = id;
	}
	return 0;
}

static __always_inline int parse_flow4(struct __sk_buff *skb, int outgoing, struct mb_flow_pkt *out)
{
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, MB_IP_OFF, &ip, sizeof(ip)) < 0 || ip.ihl < 5)
		return -1;
	out->key.saddr.w[0] = ip.saddr;
	out->key.daddr.w[0] = ip.daddr;
	out->key.proto = ip.protocol;
	out->l4_off = MB_IP_OFF + ip.ihl * 4;
	return parse_transport(skb, outgoing, (ip.frag_off & bpf_htons(0x1fff)) == 0,
			       (ip.frag_off & bpf_htons(0x3fff)) == 0, out);
}

static __always_inline int ip6_extension_header(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_FRAGMENT;
}

/* The IPv6 flow: the transport header is found behind the extension headers. */
static __always_inline int parse_flow6(struct __sk_buff *skb, int outgoing, struct mb_flow_pkt *out)
{
	struct ipv6hdr ip;
	int has_l4 = 1, fragmented = 0;

	if (bpf_skb_load_bytes(skb, MB_IP_OFF, &ip, sizeof(ip)) < 0)
		return -1;
	__builtin_memcpy(&out->key.saddr, &ip.saddr, sizeof(out->key.saddr));
	__builtin_memcpy(&out->key.daddr, &ip.daddr, sizeof(out->key.daddr));
	out->key.ipv6 = 1;
	__u8 next = ip.nexthdr;
	__u32 off = MB_IP_OFF + sizeof(ip);
	for (int i = 0; i < MB_FLOW_IPV6_EXT_HEADERS && ip6_extension_header(next); i++) {
		__u8 ext[4]; /* next header, length; a fragment header's offset and M flag */
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)) < 0)
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			fragmented = 1;
			has_l4 = ((ext[2] << 8 | ext[3]) & 0xfff8) == 0;
			off += 8;
		} else {
			off += (ext[1] + 1) * 8;
		}
		next = ext[0];
	}
	/* More extension headers than we walk: keyed by the addresses alone. */
	if (ip6_extension_header(next))
		has_l4 = 0;
	out->key.proto = next;
	out->l4_off = off;
	return parse_transport(skb, outgoing, has_l4, has_l4 && !fragmented, out);
}

/*
 * Reads the flow key of an IPv4 or IPv6 packet. Returns 1 for another
 * protocol, -1 if the packet is shorter than the headers it announces. A
 * global function, verified once: inlined, each way through the extension
 * headers and the transport protocols went on through the path choice, and
 * the verifier walked past its million instructions.
 */
__attribute__((noinline)) int parse_flow(struct __sk_buff *skb, int outgoing,
					 struct mb_flow_pkt *out)
{
	if (!out)
		return -1;
	__builtin_memset(out, 0, sizeof(*out));
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return parse_flow4(skb, outgoing, out);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return parse_flow6(skb, outgoing, out);
	return 1;
}

/* Link-local (fe80::/10) or multicast (ff00::/8): the bond device's own. */
static __always_inline int ip6_link_scope(const struct mb_addr *a)
{
	__u32 top = bpf_ntohl(a->w[0]);

	return (top >> 24) == 0xff || (top >> 22) == (0xfe80 >> 6);
}

/* Stores the IPv4 address `to` at `addr_off` in place of `from`, moving the
 * header checksum at `check_off` by as much. */
static __always_inline int replace_addr4(struct __sk_buff *skb, __u32 check_off, __u32 addr_off,
					 __be32 from, __be32 to)
{
	if (bpf_l3_csum_replace(skb, check_off, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0);
}

/* Stores the IPv6 address `to` at `addr_off` in place of `from`, moving the
 * checksum at `csum_off` (0: none) by the difference, with `csum_flags`. */
static __always_inline int replace_addr6(struct __sk_buff *skb, __u32 csum_off, __u64 csum_flags,
					 __u32 addr_off, const struct mb_addr *from,
					 const struct mb_addr *to)
{
	__s64 diff = bpf_csum_diff((__be32 *)from->w, sizeof(*from), (__be32 *)to->w, sizeof(*to), 0);

	if (diff < 0 || (csum_off && bpf_l4_csum_replace(skb, csum_off, 0, (__u64)diff, csum_flags) < 0))
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, to, sizeof(*to), 0);
}

/*
 * Replaces the source (`dest` 0) or destination address, fixing the
 * transport checksum's pseudo-header part and, on IPv4, the header checksum.
 */
static __always_inline int rewrite_addr(struct __sk_buff *skb, const struct mb_flow_pkt *f,
					int dest, const struct mb_addr *to)
{
	const struct mb_addr *from = dest ? &f->key.daddr : &f->key.saddr;

	if (f->key.ipv6) {
		/* No header checksum: only the transport's, by the difference of the two. */
		__u32 off = MB_IP_OFF + (dest ? offsetof(struct ipv6hdr, daddr)
					      : offsetof(struct ipv6hdr, saddr));
		return replace_addr6(skb, f->csum_off, BPF_F_PSEUDO_HDR | f->csum_flags, off, from, to);
	}
	__u32 off = MB_IP_OFF + (dest ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	if (f->csum_off &&
	    bpf_l4_csum_replace(skb, f->csum_off, from->w[0], to->w[0],
				BPF_F_PSEUDO_HDR | sizeof(to->w[0]) | f->csum_flags) < 0)
		return -1;
	return replace_addr4(skb, MB_IP_OFF + offsetof(struct iphdr, check), off, from->w[0], to->w[0]);
}

/* A packet restored to its bond-side destination goes into the bond, counted on its path. */
static __always_inline int deliver_to_bond(struct __sk_buff *skb, const struct mb_config *cfg,
					   __u32 path_id)
{
	if (bpf_skb_store_bytes(skb, 0, cfg->bond_mac, ETH_ALEN, 0) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	__u32 l3_len = skb->len - sizeof(struct ethhdr);
	count_packet(path_id, MB_RECEIVED, l3_len, l3_len);
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
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
	__u32 h = 0x9e3779b9;

	for (int i = 0; i < 4; i++)
		h = mix32(h ^ k->saddr.w[i] ^ mix32(k->daddr.w[i]));
	h = mix32(h ^ ((__u32)k->sport << 16 | k->dport));
	return mix32(h ^ k->proto);
}

/*
 * A path can take new flows of its family when it is ACTIVE with a rate; a
 * flow already on a path stays there while the path is ACTIVE or BACKUP and
 * still has the address the flow was NATed to. (A flow that fell back to the
 * backup stays on it when active paths return: moving it would change its
 * source address and break it.) A path whose data cap is spent keeps no
 * flow: they move (and break) rather than run up the bill; with the
 * last-resort policy it is a BACKUP for new flows (see cap_limited_state).
 */
static __always_inline __u8 flow_path_state(const struct mb_path *p, __u32 path_id, int ipv6)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	if (p->ifindex == 0 || !(p->flags & MB_PATH_F_IPV6) != !ipv6)
		return MB_PATH_DISABLED;
	return b ? cap_limited_state(p, b) : MB_PATH_DISABLED;
}

static __always_inline int path_takes_new_flows(const struct mb_path *p, __u32 path_id, int ipv6)
{
	return flow_path_state(p, path_id, ipv6) == MB_PATH_ACTIVE && p->rate_kbps > 0;
}

static __always_inline int path_keeps_flow(const struct mb_path *p, const struct mb_flow *f,
					   int ipv6)
{
	struct mb_addr now;
	__u8 state = flow_path_state(p, f->path_id, ipv6);

	path_src_addr(p, &now);
	return addr_equal(&now, &f->nat_addr) && !cap_spent(f->path_id) &&
	       ((state == MB_PATH_ACTIVE && p->rate_kbps > 0) || state == MB_PATH_BACKUP);
}

/*
 * Picks a path of the flow's family for a new flow: the hash, scaled onto
 * the sum of the active paths' rates, falls into one path's share, so flows
 * spread in proportion to rate_kbps and a flow whose pin was evicted gets
 * the same path again. With no active path, the lowest-numbered BACKUP path
 * takes every flow.
 */
static __always_inline int pick_flow_path(__u32 hash, int ipv6, __u32 *out)
{
	__u64 total = 0;
	__s32 backup = -1;

	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p)
			continue;
		__u8 state = flow_path_state(p, i, ipv6);
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
		if (!p || !path_takes_new_flows(p, i, ipv6))
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

/* mb_encap in flow mode: pin, source-NAT and send an IPv4 or IPv6 packet. */
__attribute__((noinline)) int flow_send(struct __sk_buff *skb)
{
	struct mb_flow_pkt f;
	struct mb_flow *pinned;
	struct mb_path *p = NULL;
	struct mb_flow pin;

	int parsed = parse_flow(skb, 1, &f);
	if (parsed > 0)
		return drop(MB_NO_PATH, MB_DROP_UNSUPPORTED_L3);
	if (parsed < 0)
		return drop(MB_NO_PATH, MB_DROP_TRUNCATED);
	int ipv6 = f.key.ipv6;
	if (ipv6 && (ip6_link_scope(&f.key.saddr) || ip6_link_scope(&f.key.daddr)))
		return drop(MB_NO_PATH, MB_DROP_LINK_SCOPE);

	pinned = bpf_map_lookup_elem(&mb_flows, &f.key);
	if (pinned) {
		pin = *pinned;
		__u32 id = pin.path_id;
		p = bpf_map_lookup_elem(&mb_paths, &id);
		if (p && !path_keeps_flow(p, &pin, ipv6))
			p = NULL;
	}
	if (!p) {
		__u32 id;
		if (pick_flow_path(flow_hash(&f.key), ipv6, &id) < 0)
			return drop(MB_NO_PATH, MB_DROP_NO_PATH);
		p = bpf_map_lookup_elem(&mb_paths, &id);
		if (!p)
			return drop(MB_NO_PATH, MB_DROP_NO_PATH);
		pin.path_id = id;
		path_src_addr(p, &pin.nat_addr);
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
		.ipv6 = f.key.ipv6,
	};
	struct mb_nat_origin *known = bpf_map_lookup_elem(&mb_nat_reverse, &reply);
	if (!known || !addr_equal(&known->orig_addr, &f.key.saddr) ||
	    known->path_id != path_id) {
		struct mb_nat_origin origin = { .orig_addr = f.key.saddr, .path_id = path_id };
		/* Without it the replies would not find their way back. */
		if (bpf_map_update_elem(&mb_nat_reverse, &reply, &origin, BPF_ANY) < 0)
			return drop(path_id, MB_DROP_ENCAP_FAILED);
	}

	/* No overhead here: the bond MTU is the smallest uplink's. */
	__u32 mtu_len = 0;
	if (bpf_check_mtu(skb, p->ifindex, &mtu_len, 0, 0) != 0)
		return drop(path_id, MB_DROP_TOO_BIG);
	if (!addr_equal(&f.key.saddr, &pin.nat_addr) && rewrite_addr(skb, &f, 0, &pin.nat_addr) < 0)
		return drop(path_id, MB_DROP_ENCAP_FAILED);
	__u32 l3_len = skb->len - sizeof(struct ethhdr);
	count_packet(path_id, MB_SENT, l3_len, l3_len);
	return redirect_to_path(p);
}

/* ICMP(v6) error types that quote the packet they are about. */
static __always_inline int icmp_error(const struct mb_flow_key *k, __u8 type)
{
	if (k->ipv6)
		return type >= 1 && type <= 4; /* unreachable, too big, time exceeded, parameter */
	return type == 3 || type == 11 || type == 12; /* unreachable (fragmentation needed), time exceeded, parameter */
}

/*
 * An ICMP error about a NATed flow (fragmentation needed or packet too big,
 * unreachable, time exceeded) is addressed to the path's address and quotes
 * the packet as it left, from that address. Both get the bond-side address
 * back, so path MTU discovery and traceroute work for the hosts behind the
 * bond. The quote's own transport checksum is left as it is (nobody checks
 * a quote's). Returns the verdict, or MB_NOT_OURS for any other packet. A
 * global function: mb_decap's own verification stays as it was.
 */
__attribute__((noinline)) int flow_receive_error(struct __sk_buff *skb, struct mb_flow_pkt *f)
{
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	__u8 icmp_type;

	if (!cfg || !f || f->key.proto != icmp_proto_of(&f->key) ||
	    bpf_skb_load_bytes(skb, f->l4_off, &icmp_type, 1) < 0 || !icmp_error(&f->key, icmp_type))
		return MB_NOT_OURS;
	/* The quote: the IP header and the first 8 bytes of what it carried. */
	__u32 quote = f->l4_off + 8;
	struct mb_flow_key reply = { .ipv6 = f->key.ipv6 };
	__u32 quote_src, quote_l4;
	if (f->key.ipv6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, quote, &ip6, sizeof(ip6)) < 0)
			return MB_NOT_OURS;
		__builtin_memcpy(&reply.saddr, &ip6.daddr, sizeof(reply.saddr));
		__builtin_memcpy(&reply.daddr, &ip6.saddr, sizeof(reply.daddr));
		reply.proto = ip6.nexthdr;
		quote_src = quote + offsetof(struct ipv6hdr, saddr);
		quote_l4 = quote + sizeof(ip6);
	} else {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, quote, &ip, sizeof(ip)) < 0 || ip.ihl < 5)
			return MB_NOT_OURS;
		reply.saddr.w[0] = ip.daddr;
		reply.daddr.w[0] = ip.saddr;
		reply.proto = ip.protocol;
		quote_src = quote + offsetof(struct iphdr, saddr);
		quote_l4 = quote + ip.ihl * 4;
	}
	/* Its ports as a reply's: swapped; an echo request's identifier is the local side's. */
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, quote_l4, ports, sizeof(ports)) < 0)
		return MB_NOT_OURS;
	if (reply.proto == IPPROTO_TCP || reply.proto == IPPROTO_UDP) {
		reply.sport = ports[1];
		reply.dport = ports[0];
	} else if (reply.proto == icmp_proto_of(&reply)) {
		__be16 id;
		if (bpf_skb_load_bytes(skb, quote_l4 + 4, &id, sizeof(id)) < 0)
			return MB_NOT_OURS;
		reply.dport = id;
	}
	struct mb_nat_origin *known = bpf_map_lookup_elem(&mb_nat_reverse, &reply);
	if (!known || !addr_equal(&reply.daddr, &f->key.daddr))
		return MB_NOT_OURS;
	struct mb_nat_origin origin = *known;
	__u32 path_id = origin.path_id;
	/* The outer destination, as on a reply (ICMPv6's checksum covers it). */
	if (rewrite_addr(skb, f, 1, &origin.orig_addr) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	/*
	 * The quoted source. IPv4: its header checksum changes by as much as
	 * the address, the other way, so the ICMP checksum over both stays.
	 * IPv6: no header checksum; ICMPv6's covers the quote.
	 */
	int err = f->key.ipv6 ? replace_addr6(skb, f->l4_off + 2, 0, quote_src, &reply.daddr,
					      &origin.orig_addr)
			      : replace_addr4(skb, quote + offsetof(struct iphdr, check), quote_src,
					      reply.daddr.w[0], origin.orig_addr.w[0]);
	if (err < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	return deliver_to_bond(skb, cfg, path_id);
}

/*
 * mb_decap in flow mode: replies to a NATed flow, and ICMP errors about
 * one, get their bond-side destination back and enter the bond; everything
 * else is the host's.
 */
static __always_inline int flow_receive(struct __sk_buff *skb, const struct mb_config *cfg)
{
	struct mb_flow_pkt f;

	if (parse_flow(skb, 0, &f) != 0)
		return MB_NOT_OURS;
	struct mb_nat_origin *known = bpf_map_lookup_elem(&mb_nat_reverse, &f.key);
	if (!known)
		return f.key.proto == icmp_proto_of(&f.key) ? flow_receive_error(skb, &f) : MB_NOT_OURS;
	/* A copy: the agent or another CPU may rewrite the entry meanwhile. */
	struct mb_nat_origin origin = *known;
	__u32 path_id = origin.path_id;
	if (rewrite_addr(skb, &f, 1, &origin.orig_addr) < 0)
		return drop(path_id, MB_DROP_DECAP_FAILED);
	return deliver_to_bond(skb, cfg, path_id);
}

#endif /* MB_LIB_FLOW_H */
