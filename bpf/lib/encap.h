/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The steps of mb_encap with a peer: reading the inner packet, placing it on
 * paths, and sending it encapsulated (outer IPv4 + UDP + mb_wire_hdr) on each. */
#ifndef MB_LIB_ENCAP_H
#define MB_LIB_ENCAP_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "auth.h"
#include "counters.h"
#include "maps.h"
#include "packet.h"
#include "sched.h"

/* DSCP Expedited Forwarding (46), the usual marking of voice. */
#define MB_DSCP_EF 0xb8

/*
 * What mb_encap writes in front of the inner L3 packet: the Ethernet type
 * (now IPv4) and the outer headers, stored with one helper call from h_proto
 * on, up to mb or, with authentication, up to auth. `pad` keeps ip 4-byte
 * aligned as the Ethernet header does.
 */
struct mb_outer {
	__u8 pad[2];
	__be16 h_proto;
	struct iphdr ip;
	struct udphdr udp;
	struct mb_wire_hdr mb;
	struct mb_auth_hdr auth;
};
#define MB_OUTER_STORE_LEN (offsetof(struct mb_outer, auth) - offsetof(struct mb_outer, h_proto))

/* The same for an IPv6 path (MB_PATH_F_IPV6). */
struct mb_outer6 {
	__u8 pad[2];
	__be16 h_proto;
	struct ipv6hdr ip6;
	struct udphdr udp;
	struct mb_wire_hdr mb;
	struct mb_auth_hdr auth;
};
#define MB_OUTER6_STORE_LEN (offsetof(struct mb_outer6, auth) - offsetof(struct mb_outer6, h_proto))
_Static_assert(__builtin_offsetof(struct mb_outer6, auth) - __builtin_offsetof(struct mb_outer, auth) ==
		       MB_OUTER_IPV6_EXTRA,
	       "an IPv6 path's headers are MB_OUTER_IPV6_EXTRA longer");

/*
 * Where send_on_chosen_paths builds a copy's headers: in a per-CPU slot,
 * not on its stack, where both families' builders took 464 bytes and the
 * verifier's 512-byte limit for mb_encap's whole call chain was exceeded.
 */
union mb_outer_any {
	struct mb_outer v4;
	struct mb_outer6 v6;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union mb_outer_any);
} mb_outer_scratch SEC(".maps");

/* How send_on_chosen_paths writes the outer headers of every copy. */
struct encap_how {
	__u8 tos;      /* the outer traffic class (read_inner_tos) */
	__u8 flags;    /* mb_wire_hdr.flags */
	__u8 outer_v6; /* the room made is for IPv6 headers */
	__u16 outer_len; /* the outer IP packet's length */
};

/* mb_wire_hdr as every copy has it, but for its path id and version. */
static __always_inline void build_wire_hdr(struct mb_wire_hdr *mb, __u32 path_id,
					   const struct mb_choice *choice, __u8 flags)
{
	mb->version = MB_WIRE_VERSION;  /* MB_WIRE_VERSION_AUTH: set by the caller */
	mb->path_id = (__u8)path_id;
	mb->flags = flags;
	mb->bond_seq = bpf_htonl(choice->bond_seq);
	mb->path_seq = bpf_htonl(choice->path_seq[path_id & (MB_MAX_PATHS - 1)]);
}

static __always_inline void build_outer(struct mb_outer *o, const struct mb_path *p,
					__u32 path_id, const struct mb_choice *choice,
					const struct encap_how *how)
{
	__u16 outer_len = how->outer_len;

	__builtin_memset(o, 0, sizeof(*o));
	o->h_proto = bpf_htons(ETH_P_IP);
	o->ip.version = 4;
	o->ip.ihl = 5;
	o->ip.tos = how->tos;
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
	build_wire_hdr(&o->mb, path_id, choice, how->flags);
}

/* build_outer for an IPv6 path. */
static __always_inline void build_outer6(struct mb_outer6 *o, const struct mb_path *p,
					 __u32 path_id, const struct mb_choice *choice,
					 const struct encap_how *how)
{
	__u16 outer_len = how->outer_len;

	__builtin_memset(o, 0, sizeof(*o));
	o->h_proto = bpf_htons(ETH_P_IPV6);
	o->ip6.version = 6;
	o->ip6.priority = how->tos >> 4;
	o->ip6.flow_lbl[0] = (__u8)(how->tos << 4);
	o->ip6.payload_len = bpf_htons(outer_len - sizeof(struct ipv6hdr));
	o->ip6.nexthdr = IPPROTO_UDP;
	o->ip6.hop_limit = 64;
	__builtin_memcpy(&o->ip6.saddr, p->src_ip6, sizeof(o->ip6.saddr));
	__builtin_memcpy(&o->ip6.daddr, p->dst_ip6, sizeof(o->ip6.daddr));
	o->udp.source = bpf_htons(p->src_port);
	o->udp.dest = bpf_htons(p->dst_port);
	o->udp.len = o->ip6.payload_len;
	o->udp.check = 0; /* see MB_PATH_F_IPV6 */
	build_wire_hdr(&o->mb, path_id, choice, how->flags);
}

/*
 * The headers of the copy for path p, in *o; returns the bytes to store from
 * h_proto on. Not inlined: inlined, its loop-invariant parts stayed in
 * registers that send_on_chosen_paths then spilled, past the verifier's
 * 512-byte stack for mb_encap's call chain.
 */
static __attribute__((noinline)) __u32 build_copy(union mb_outer_any *o, const struct mb_path *p,
						  __u32 path_id, const struct mb_choice *choice,
						  const struct encap_how *how)
{
	if (how->outer_v6) {
		build_outer6(&o->v6, p, path_id, choice, how);
		return MB_OUTER6_STORE_LEN;
	}
	build_outer(&o->v4, p, path_id, choice, how);
	return MB_OUTER_STORE_LEN;
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

/*
 * The inner packet's traffic class, carried outside: its DSCP so uplink QoS
 * still sees it, its ECN field so routers on the path may mark congestion
 * rather than drop (RFC 6040 normal mode; mb_decap passes a mark on).
 * Returns 0, or the drop reason for a packet that is neither IPv4 nor IPv6
 * or shorter than its L3 header.
 */
static __always_inline int read_inner_tos(struct __sk_buff *skb, __u8 *tos)
{
	const __u8 *inner_first = NULL;

	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return MB_DROP_UNSUPPORTED_L3;
	__u32 min_l3 = skb->protocol == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr)
							       : sizeof(struct ipv6hdr);
	if (skb->len >= sizeof(struct ethhdr) + min_l3)
		inner_first = packet_bytes(skb, sizeof(struct ethhdr), 2);
	if (!inner_first)
		return MB_DROP_TRUNCATED;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		*tos = inner_first[1];
	else
		*tos = (__u8)((inner_first[0] << 4) | (inner_first[1] >> 4));
	return 0;
}

/* The bonding mode's placement of a packet: latency mode sends small or EF packets urgently. */
static __always_inline enum mb_placement placement_of(const struct mb_config *cfg, __u32 inner_len,
						      __u8 tos)
{
	if (cfg->mode == MB_MODE_REDUNDANT)
		return MB_PLACE_ALL;
	if (cfg->mode == MB_MODE_LATENCY &&
	    (inner_len <= cfg->latency_bytes || (tos & ~MB_ECN_MASK) == MB_DSCP_EF))
		return MB_PLACE_LOWEST_DELAY;
	return MB_PLACE_EARLIEST_ARRIVAL;
}

/* What place_packet placed: a bonded packet, or a probe (MB_FLAG_UNSEQUENCED). */
#define MB_PLACED_BONDED 0
#define MB_PLACED_PROBE 1

/*
 * The paths for this packet: a probe's own path (skb->mark), else the
 * scheduler's choice. Returns MB_PLACED_*, or -1 when there is no path.
 * Each path is charged for what its link really carries (inner packet, our
 * headers, Ethernet header): if the model drained faster than the link, it
 * would see idle queues under load and pile onto the fastest path, which
 * then lags and reorders TCP.
 */
/* A packet's outer IPv4 length once encapsulated; 0 for GSO (see choose_paths). */
static __always_inline __u32 segment_len_of(const struct __sk_buff *skb, __u32 overhead)
{
	return skb->gso_size ? 0 : skb->len - sizeof(struct ethhdr) + overhead;
}

static __always_inline int place_packet(struct __sk_buff *skb, enum mb_placement placement,
					__u32 overhead, __u32 hidden_skew_us, struct mb_choice *choice)
{
	if ((skb->mark & MB_PROBE_MARK_MASK) == MB_PROBE_MARK)
		return force_path(skb->mark & ~MB_PROBE_MARK_MASK, choice) < 0 ? -1
									  : MB_PLACED_PROBE;
	return choose_paths(skb->len + overhead, segment_len_of(skb, overhead), placement,
			    hidden_skew_us, choice);
}

/*
 * After no path was chosen: the first path that would have carried the
 * packet but for its size (its mtu), to count a too-big drop on; -1 if
 * size was not why.
 */
static __always_inline int path_too_small_for(const struct __sk_buff *skb, __u32 overhead)
{
	__u32 len = segment_len_of(skb, overhead);

	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		const struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);

		if (p && p->ifindex && p->state != MB_PATH_DISABLED && p->mtu && len &&
		    len + mb_path_outer_extra(p) > p->mtu)
			return (int)i;
	}
	return -1;
}

/* The lowest-numbered path chosen (0 if none). */
static __always_inline __u32 first_chosen(const struct mb_choice *choice)
{
	__u32 first = 0;

	for (__u32 i = MB_MAX_PATHS; i > 0; i--)
		if (choice->send[i - 1])
			first = i - 1;
	return first;
}

/*
 * auth_seal for a packet that goes out on the paths `choice` chose, one
 * copy per path. A global function: the verifier checks it once, rather
 * than on each of mb_encap's many ways here, and the cipher's calls stand
 * on its frame rather than on mb_encap's.
 */
__attribute__((noinline)) int seal_copies(struct __sk_buff *skb, struct auth_send *a,
					  const struct mb_choice *choice)
{
	__u32 copies = 0;

	if (!a || !choice)
		return -1;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		copies += choice->send[i] ? 1 : 0;
	return auth_seal(skb, a, copies);
}

/*
 * The bond MTU leaves room for the overhead, so this only fails when
 * someone raised it: drop and count rather than let the uplink drop the
 * packet silently. GSO packets always pass (the helper checks segments only
 * with BPF_MTU_CHK_SEGS, which refuses a len_diff): the bond MTU bounds
 * their segments. All copies need the same room, so the first chosen path's
 * MTU decides and the agent gives the bond the smallest.
 */
static __always_inline int encap_fits_mtu(struct __sk_buff *skb, __u32 path_id, __u32 overhead)
{
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &path_id);
	__u32 mtu_len = 0;

	return p && bpf_check_mtu(skb, p->ifindex, &mtu_len, overhead, 0) == 0;
}

/*
 * Makes room for the outer headers. ENCAP flags make GSO packets segment as
 * UDP tunnels; FIXED_GSO keeps gso_size so each segment grows by exactly the
 * overhead (which the bond MTU reserves) instead of drifting.
 */
static __always_inline long make_encap_room(struct __sk_buff *skb, __u32 overhead, __u8 outer_v6)
{
	return bpf_skb_adjust_room(skb, overhead, BPF_ADJ_ROOM_MAC,
				   (outer_v6 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) |
					   BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_FIXED_GSO);
}

/* Where send_on_chosen_paths is in sending a packet's copies. */
struct copies_sent {
	struct encap_how cur; /* the headers the skb has room for now */
	__s32 pending;        /* the path of the last copy built, not sent yet; -1: none */
	__u32 inner_len;
	__u8 signed_copies;   /* copies tagged so far: the next one's counter */
	__u8 sent;            /* some copy went out as a clone */
};

/*
 * One copy of the packet, for path `path_id`: the pending one before it
 * goes out as a clone, the skb changes family if the path's is the other
 * (see send_on_chosen_paths), and its headers are built, tagged and
 * stored; it is pending then. Returns 0, 1 when the family could not be
 * changed (counted), -1 when the headers could not be stored. A global
 * function: inlined in send_on_chosen_paths' two passes over the paths,
 * the verifier walked past its million instructions.
 */
__attribute__((noinline)) int send_copy(struct __sk_buff *skb, const struct mb_choice *choice,
					const struct auth_send *auth, struct copies_sent *c,
					__u32 path_id)
{
	__u32 id = path_id & (MB_MAX_PATHS - 1);
	__u32 zero = 0;
	union mb_outer_any *outer = bpf_map_lookup_elem(&mb_outer_scratch, &zero);
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);

	if (!c || !choice || !outer || !p)
		return -1;
	if (c->pending >= 0) {
		__u32 prev = c->pending & (MB_MAX_PATHS - 1);
		struct mb_path *pp = bpf_map_lookup_elem(&mb_paths, &prev);
		if (pp && send_clone(skb, pp) == 0) {
			count_packet(prev, MB_SENT, c->inner_len, c->cur.outer_len);
			c->sent = 1;
		} else {
			count_drop(prev, MB_DROP_CLONE_FAILED);
		}
		c->pending = -1;
	}
	__u8 v6 = !!(p->flags & MB_PATH_F_IPV6);
	if (c->cur.outer_v6 != v6) {
		if (bpf_skb_change_proto(skb, bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP), 0)) {
			count_drop(id, MB_DROP_ENCAP_FAILED);
			return 1;
		}
		c->cur.outer_v6 = v6;
		c->cur.outer_len = v6 ? c->cur.outer_len + MB_OUTER_IPV6_EXTRA
				      : c->cur.outer_len - MB_OUTER_IPV6_EXTRA;
	}
	__u32 store_len = build_copy(outer, p, id, choice, &c->cur);
	const void *h_proto = v6 ? (const void *)&outer->v6.h_proto : (const void *)&outer->v4.h_proto;
	if (auth) {
		struct mb_wire_hdr *mb = v6 ? &outer->v6.mb : &outer->v4.mb;
		mb->version = MB_WIRE_VERSION_AUTH;
		auth_sign(auth, c->signed_copies++, mb, v6 ? &outer->v6.auth : &outer->v4.auth);
		store_len += sizeof(struct mb_auth_hdr);
	}
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), h_proto, store_len, 0))
		return -1;
	c->pending = (__s32)id;
	return 0;
}

/*
 * Sends the encapsulated packet, one copy per chosen path: every copy but
 * the last goes out as a clone; the last takes the skb itself. Headers are
 * stored with bpf_skb_store_bytes because a clone invalidates packet
 * pointers. With `auth`, copy k gets the k-th counter and its own tag.
 * The room was made for the first chosen path's family (`how->outer_v6`);
 * paths of the other family (a redundant packet over IPv4 and IPv6
 * uplinks) come after all of those, once bpf_skb_change_proto has grown or
 * shrunk the outer header by the 20 bytes between the families. It leaves
 * the bytes behind the header where they are, so the inner and transport
 * header offsets set by the encapsulation stay right; a GSO packet's
 * segmentation type would not (it is the inner TCP's), so a GSO packet
 * gets no copy of the other family (MB_DROP_OTHER_FAMILY; the agent turns
 * segmentation offload off where this can happen). Returns the TC verdict.
 * A global function, for the reasons choose_paths is.
 */
__attribute__((noinline)) int send_on_chosen_paths(struct __sk_buff *skb,
						   const struct mb_choice *choice,
						   const struct auth_send *auth,
						   const struct encap_how *how)
{
	if (!choice || !how)
		return drop(MB_NO_PATH, MB_DROP_NO_PATH);

	struct copies_sent c = {.cur = *how, .pending = -1};
	c.inner_len = how->outer_len - (auth ? MB_AUTH_OVERHEAD : MB_ENCAP_OVERHEAD) -
		      (how->outer_v6 ? MB_OUTER_IPV6_EXTRA : 0);
	for (__u32 pass = 0; pass < 2; pass++) {
		__u8 pass_v6 = pass ? !how->outer_v6 : how->outer_v6;
		for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
			__u32 id = i;
			if (!choice->send[i])
				continue;
			struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
			if (!p || !(p->flags & MB_PATH_F_IPV6) != !pass_v6)
				continue;
			if (pass && skb->gso_size) {
				count_drop(i, MB_DROP_OTHER_FAMILY);
				continue;
			}
			int err = send_copy(skb, choice, auth, &c, i);
			if (err < 0)
				return drop(i, MB_DROP_ENCAP_FAILED);
			if (err > 0)
				break;
		}
	}

	__u32 last_id = c.pending & (MB_MAX_PATHS - 1);
	struct mb_path *lp = bpf_map_lookup_elem(&mb_paths, &last_id);
	if (c.pending < 0 || !lp)
		return c.sent ? TC_ACT_SHOT : drop(MB_NO_PATH, MB_DROP_NO_PATH);
	count_packet(last_id, MB_SENT, c.inner_len, c.cur.outer_len);
	return redirect_to_path(lp);
}

#endif /* MB_LIB_ENCAP_H */
