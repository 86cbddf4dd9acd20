/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Learned paths (MB_PATH_F_LEARN): data only from the path's endpoint, and
 * the source of an authenticated packet or a probe from elsewhere reported
 * to the agent (mb_learned). */
#ifndef MB_LIB_LEARNED_H
#define MB_LIB_LEARNED_H

#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "decap.h"
#include "maps.h"

/* A source already recorded is written again at most this often (data may
 * come from it at line rate until the agent adopts it). */
#define MB_LEARNED_REFRESH_NS 100000000ull /* 100 ms */

/* Whether the packet came from the path's endpoint (dst_ip or dst_ip6 : dst_port). */
static __always_inline int from_path_endpoint(const struct mb_path *p, const struct outer_seen *o)
{
	if (o->udp.source != bpf_htons(p->dst_port) || !(p->flags & MB_PATH_F_IPV6) != !o->v6)
		return 0;
	if (!o->v6)
		return o->saddr == p->dst_ip;
	return ip6_equal(o->saddr6.addr, p->dst_ip6);
}

/* Whether `seen` is the source already recorded for the path. */
static __always_inline int same_learned_source(const struct mb_learned_source *a,
					       const struct mb_learned_source *b)
{
	return a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport &&
	       a->flags == b->flags && a->ifindex == b->ifindex &&
	       ip6_equal(a->saddr6.addr, b->saddr6.addr) && ip6_equal(a->daddr6.addr, b->daddr6.addr);
}

/*
 * A learned path (MB_PATH_F_LEARN) takes data only from its endpoint
 * (dst_ip:dst_port, or dst_ip6 on an IPv6 path). From elsewhere, IPv4 or
 * IPv6, a packet passes, and its outer source goes to mb_learned for the
 * agent, when it is
 *  - `verified`: authenticated in the kernel (a fresh counter under the
 *    session's key), data or probe: the endpoint roams with any packet, as
 *    WireGuard's does, and the agent adopts it within its poll;
 *  - or a probe, which the agent adopts once it has authenticated it.
 * Returns 1 for such a packet (delivered although its source is not in
 * mb_peers yet), 0 when the path has nothing to learn from the packet, -1
 * to drop it.
 */
static __always_inline int check_learned_path(struct __sk_buff *skb, const struct mb_config *cfg,
					      __u32 path_id, const struct outer_seen *o,
					      __u32 inner_off, int verified)
{
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &path_id);
	struct iphdr inner;
	__be16 inner_dport;

	if (!p || !(p->flags & MB_PATH_F_LEARN))
		return 0;
	if (from_path_endpoint(p, o))
		return 0;
	if (!verified &&
	    (bpf_skb_load_bytes(skb, inner_off, &inner, sizeof(inner)) < 0 || inner.version != 4 ||
	     inner.protocol != IPPROTO_UDP || (inner.frag_off & bpf_htons(0x1fff)) ||
	     bpf_skb_load_bytes(skb, inner_off + inner.ihl * 4 + offsetof(struct udphdr, dest),
				&inner_dport, sizeof(inner_dport)) < 0 ||
	     inner_dport != bpf_htons(cfg->probe_port)))
		return -1;
	struct mb_learned_source seen = {
		.saddr = o->saddr,
		.daddr = o->daddr,
		.sport = bpf_ntohs(o->udp.source),
		.flags = o->v6 ? MB_LEARNED_F_IPV6 : 0,
		.ifindex = skb->ifindex, /* at TC ingress: the device it arrived on */
		.seen_ns = bpf_ktime_get_ns(),
		.saddr6 = o->saddr6,
		.daddr6 = o->daddr6,
	};
	struct mb_learned_source *recorded = bpf_map_lookup_elem(&mb_learned, &path_id);
	if (recorded && same_learned_source(recorded, &seen) &&
	    seen.seen_ns - recorded->seen_ns < MB_LEARNED_REFRESH_NS)
		return 1;
	bpf_map_update_elem(&mb_learned, &path_id, &seen, BPF_ANY);
	return 1;
}

#endif /* MB_LIB_LEARNED_H */
