/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Agent liveness (bpf/meshbpf.h, "Agent liveness"): when each path last
 * received from the peer, and whether the agent's heartbeat has gone stale. */
#ifndef MB_LIB_LIVENESS_H
#define MB_LIB_LIVENESS_H

#include "caps.h"
#include "maps.h"

/*
 * An arrival this close to the recorded one leaves it alone: every CPU
 * writing the shared slot on every packet would only bounce its cache line.
 */
#define MB_RX_NOTE_RESOLUTION_NS 1000000ULL

/* mb_decap: a meshbpf packet from the peer arrived on path_id (< MB_MAX_PATHS). */
static __always_inline void note_path_rx(__u32 path_id)
{
	__u64 *seen = bpf_map_lookup_elem(&mb_path_rx_ns, &path_id);
	__u64 now = bpf_ktime_get_ns();

	if (seen && now > *seen + MB_RX_NOTE_RESOLUTION_NS)
		*seen = now;
}

/*
 * How long a path may have received nothing before the scheduler skips it:
 * 0 (skip nothing) while the agent's heartbeat is fresh or was never
 * written.
 */
static __always_inline __u64 unattended_silence_ns(__u64 now)
{
	__u32 key = 0;
	struct mb_heartbeat *h = bpf_map_lookup_elem(&mb_heartbeat, &key);

	if (!h || h->beat_ns == 0 || h->silent_after_ms == 0)
		return 0;
	if (now <= h->beat_ns + (__u64)h->stale_after_ms * 1000000)
		return 0;
	return (__u64)h->silent_after_ms * 1000000;
}

/* Whether path_id has received nothing for longer than silence_ns. */
static __always_inline int path_silent(__u32 path_id, __u64 now, __u64 silence_ns)
{
	__u64 *seen = bpf_map_lookup_elem(&mb_path_rx_ns, &path_id);

	/* A time another CPU wrote after our `now` is no silence. */
	return !seen || now > *seen + silence_ns;
}

/* Whether the scheduler could use path p (ACTIVE with a rate, or BACKUP) under its cap b. */
static __always_inline int path_in_service(const struct mb_path *p, const struct mb_budget *b)
{
	__u8 state = cap_limited_state(p, b);

	return (state == MB_PATH_ACTIVE && p->rate_kbps > 0) || state == MB_PATH_BACKUP;
}

/*
 * The silence after which choose_paths skips a path now: 0 while the agent
 * is fresh, and also when no path in service is still receiving (then
 * silence tells nothing about which path works, and the table stands).
 */
static __always_inline __u64 skip_silent_after_ns(__u64 now)
{
	__u64 silence_ns = unattended_silence_ns(now);

	if (!silence_ns)
		return 0;
	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);
		struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &id);

		if (p && b && p->ifindex != 0 && path_in_service(p, b) &&
		    !path_silent(id, now, silence_ns))
			return silence_ns;
	}
	return 0;
}

static __always_inline void count_unattended_skip(__u32 path_id)
{
	__u64 *n = bpf_map_lookup_elem(&mb_unattended_skips, &path_id);

	if (n)
		*n += 1;
}

#endif /* MB_LIB_LIVENESS_H */
