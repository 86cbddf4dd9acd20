/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* De-duplication of redundant copies at the receiver: the first copy of a
 * bond_seq within the window (mb_dedup) passes, the others are dropped. */
#ifndef MB_LIB_DEDUP_H
#define MB_LIB_DEDUP_H

#include "maps.h"

/*
 * Redundant copies share a bond_seq. Returns 0 for the first copy, or the
 * drop reason. The compare-and-swap makes two copies racing on two CPUs
 * agree on which one is first.
 */
static __always_inline int dedup(__u32 seq)
{
	__u32 key = 0;
	struct mb_dedup *d = bpf_map_lookup_elem(&mb_dedup, &key);

	if (!d)
		return 0;
	__s32 ahead = (__s32)(seq - d->newest_seq); /* wrap-around safe */
	if (ahead <= -MB_DEDUP_WINDOW)
		return MB_DROP_TOO_OLD;
	if (ahead > 0)
		d->newest_seq = seq;
	__u32 *slot = &d->slot[seq & (MB_DEDUP_WINDOW - 1)];
	__u32 old = *slot;
	if (old == seq || __sync_val_compare_and_swap(slot, old, seq) != old)
		return MB_DROP_DUPLICATE;
	return 0;
}

#endif /* MB_LIB_DEDUP_H */
