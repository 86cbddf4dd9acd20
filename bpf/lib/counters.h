/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-path counters (mb_counters): packets and bytes sent and received, drops
 * by reason; what is sent or received is charged to the path's data cap too. */
#ifndef MB_LIB_COUNTERS_H
#define MB_LIB_COUNTERS_H

#include <linux/pkt_cls.h>

#include "caps.h"
#include "maps.h"

static __always_inline void count_drop(__u32 slot, enum mb_drop_reason reason)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &slot);

	if (c && reason < MB_DROP_REASONS)
		c->drops[reason]++;
}

static __always_inline int drop(__u32 slot, enum mb_drop_reason reason)
{
	count_drop(slot, reason);
	return TC_ACT_SHOT;
}

/* Which way a counted packet went over its path. */
enum mb_direction {
	MB_SENT,
	MB_RECEIVED,
};

/*
 * Counts a packet sent or received on a path, inner_len bytes of it ours,
 * and charges wire_len (what the uplink carries) to the path's data cap. A
 * spent cap does not refuse a received packet: the uplink carried it already.
 */
static __always_inline void count_packet(__u32 path_id, enum mb_direction dir, __u32 inner_len,
					 __u32 wire_len)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);

	if (c && dir == MB_SENT) {
		c->tx_packets++;
		c->tx_bytes += inner_len;
	} else if (c) {
		c->rx_packets++;
		c->rx_bytes += inner_len;
	}
	charge_cap(path_id, wire_len);
}

#endif /* MB_LIB_COUNTERS_H */
