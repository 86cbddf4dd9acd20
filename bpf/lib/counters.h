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

/* Counts a packet sent on a path; wire_len (what the uplink carries) goes to its data cap. */
static __always_inline void count_tx(__u32 path_id, __u32 inner_len, __u32 wire_len)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);

	if (c) {
		c->tx_packets++;
		c->tx_bytes += inner_len;
	}
	charge_cap(path_id, wire_len);
}

/*
 * Counts a packet received on a path and delivered into the bond; wire_len
 * (what the uplink carried) goes to its data cap. A spent cap does not
 * refuse it: the uplink has carried it already.
 */
static __always_inline void count_rx(__u32 path_id, __u32 inner_len, __u32 wire_len)
{
	struct mb_path_counters *c = bpf_map_lookup_elem(&mb_counters, &path_id);

	if (c) {
		c->rx_packets++;
		c->rx_bytes += inner_len;
	}
	charge_cap(path_id, wire_len);
}

#endif /* MB_LIB_COUNTERS_H */
