/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The scheduler: which path (or paths) a bonded packet goes on, and the
 * sequence numbers it carries there; a probe's forced path. */
#ifndef MB_LIB_SCHED_H
#define MB_LIB_SCHED_H

#include "caps.h"
#include "liveness.h"
#include "maps.h"

/*
 * Virtual backlogs are kept relative to the least-loaded path: the minimum
 * is never more than MB_SCHED_HORIZON_NS ahead of now (so the numbers stay
 * bounded under sustained overload without changing any decision), and no
 * path runs more than MB_SCHED_SPREAD_NS ahead of that minimum (so a path
 * coming back from idle or from being disabled is not flooded to "catch up").
 */
#define MB_SCHED_HORIZON_NS (50ULL * 1000 * 1000)
#define MB_SCHED_SPREAD_NS (100ULL * 1000 * 1000)

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
 * The one-way delay a path's cost counts. Urgent packets count all of it.
 * Bulk packets count only what lies beyond the skew the peer's resequencer
 * hides (its deadline): within it, the far end delivers in order whatever
 * the paths' delays, so filling paths by capacity alone is what brings a
 * far path into use (a single TCP flow seldom queues enough on the near
 * path for the far one to win on arrival time).
 */
static __always_inline __u64 delay_cost_ns(__u32 owd_us, enum mb_placement placement,
					   __u32 hidden_skew_us)
{
	if (placement == MB_PLACE_LOWEST_DELAY)
		return (__u64)owd_us * 1000;
	return owd_us > hidden_skew_us ? (__u64)(owd_us - hidden_skew_us) * 1000 : 0;
}

/* What a packet to place asks of every path (see path_offer). */
struct mb_path_query {
	__u64 now;
	__u64 skip_silent_ns;          /* 0: no path is skipped for silence */
	__u32 wire_len;
	__u32 segment_len;
	__u32 hidden_skew_us;
	__u32 placement;               /* enum mb_placement */
};

/* What one path offers that packet: tx_ns and cost_ns when it is ACTIVE. */
struct mb_path_offer {
	__u64 tx_ns;
	__u64 cost_ns;
};

enum mb_offer_kind {
	MB_OFFER_NONE,     /* the path cannot take the packet */
	MB_OFFER_ACTIVE,   /* it can: offer filled in */
	MB_OFFER_BACKUP,   /* a backup, for when no path is active */
};

/*
 * Whether path `id` can take the packet, and at which cost. A global
 * function, verified once: in choose_paths' loop each path's ways through
 * these checks multiplied with every other path's, and the verifier's
 * count for mb_encap swung past its million instructions on small changes
 * of mb_encap's code.
 */
__attribute__((noinline)) int path_offer(__u32 id, const struct mb_path_query *q,
					 struct mb_path_offer *out)
{
	struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);

	if (!q || !out)
		return MB_OFFER_NONE;
	out->tx_ns = 0;
	out->cost_ns = MB_COST_UNUSABLE;
	if (!p || p->ifindex == 0)
		return MB_OFFER_NONE;
	__u32 extra = mb_path_outer_extra(p);
	if (p->mtu && q->segment_len && q->segment_len + extra > p->mtu)
		return MB_OFFER_NONE;
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &id);
	if (!b)
		return MB_OFFER_NONE;
	if (q->skip_silent_ns && path_in_service(p, b) && path_silent(id, q->now, q->skip_silent_ns)) {
		count_unattended_skip(id);
		return MB_OFFER_NONE;
	}
	__u8 state = cap_limited_state(p, b);
	if (state == MB_PATH_ACTIVE && q->placement == MB_PLACE_EARLIEST_ARRIVAL &&
	    (p->flags & MB_PATH_F_NO_BULK))
		return MB_OFFER_NONE;
	if (state == MB_PATH_ACTIVE && p->rate_kbps > 0) {
		out->tx_ns = (__u64)(q->wire_len + extra) * 8000000ULL / p->rate_kbps;
		out->cost_ns = out->tx_ns + delay_cost_ns(p->owd_us, q->placement, q->hidden_skew_us);
		return MB_OFFER_ACTIVE;
	}
	return state == MB_PATH_BACKUP ? MB_OFFER_BACKUP : MB_OFFER_NONE;
}

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
 * ACTIVE paths are used, but bulk packets skip those the floor guard
 * flagged MB_PATH_F_NO_BULK. When none is, the lowest-numbered BACKUP path
 * carries everything (the agent keeps only the next backup in that state).
 * A path whose data cap is spent is DISABLED, or with the last-resort
 * policy a BACKUP (see cap_limited_state). While the agent is away (stale
 * heartbeat), ACTIVE and BACKUP paths that have gone silent are skipped
 * (skip_silent_after_ns). A packet larger than a path's mtu (the agent
 * lowers it when size probes find a smaller hop behind the uplink) skips
 * that path; `segment_len` is its outer length with an IPv4 header, 0 for a
 * GSO packet, whose segments the MSS clamp (bpf/lib/mss.h) keeps within
 * every path. An IPv6 path's header is longer: it is charged for that too.
 * A global function: verified once rather than on each of mb_encap's ways
 * to it, and its arrays are off mb_encap's stack, which the cipher's calls
 * (bpf/lib/cipher.h) stand on.
 */
__attribute__((noinline)) int choose_paths(__u32 wire_len, __u32 segment_len,
					   enum mb_placement placement, __u32 hidden_skew_us,
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
	struct mb_path_query q = {
		.now = now,
		.skip_silent_ns = skip_silent_after_ns(now),
		.wire_len = wire_len,
		.segment_len = segment_len,
		.hidden_skew_us = hidden_skew_us,
		.placement = placement,
	};
	__u32 key = 0;
	struct mb_sched *s;

	if (!out)
		return -1;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	__u32 slots = cfg && cfg->path_slots ? cfg->path_slots : MB_MAX_PATHS;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		tx_ns[i] = 0;
		cost_ns[i] = MB_COST_UNUSABLE;
		out->send[i] = 0;
	}
	/* Left at the first slot beyond: the verifier sees one way out per slot. */
	for (__u32 i = 0; i < MB_MAX_PATHS && i < slots; i++) {
		struct mb_path_offer offer;
		int kind = path_offer(i, &q, &offer);

		tx_ns[i] = offer.tx_ns;
		cost_ns[i] = offer.cost_ns;
		if (kind == MB_OFFER_ACTIVE)
			have_active = 1;
		else if (kind == MB_OFFER_BACKUP && backup < 0)
			backup = i;
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
 * A probe for one path: that path only, numbered on it like any other
 * packet, but outside the bond sequence (MB_FLAG_UNSEQUENCED): it carries
 * the last bond_seq handed out, so the receiver sees no gap if it is lost.
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

	/* dst_ip 0: a relayed or learned path whose far end is not known yet (both IPv4). */
	if (!p || p->ifindex == 0 || (!(p->flags & MB_PATH_F_IPV6) && p->dst_ip == 0) || !s ||
	    path_id >= MB_MAX_PATHS)
		return -1;
	if (b && b->limit_bytes != 0 && b->remaining_bytes <= 0 && b->policy == MB_CAP_STOP)
		return -1;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		out->send[i] = i == path_id;
	bpf_spin_lock(&s->lock);
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		if (i == path_id)
			out->path_seq[i] = ++s->path_seq[i];
	out->bond_seq = s->bond_seq;
	bpf_spin_unlock(&s->lock);
	return 0;
}

#endif /* MB_LIB_SCHED_H */
