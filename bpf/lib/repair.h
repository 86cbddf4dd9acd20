/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Loss repair (docs/design/loss-repair.md), the data path's half: the
 * sender keeps each bonded frame; the receiver reports the numbers every
 * path has moved beyond to its agent; the sender's agent sends the kept
 * frame again through the bond, marked, and mb_encap gives it back its
 * bond_seq. The agents carry the report between them. */
#ifndef MB_LIB_REPAIR_H
#define MB_LIB_REPAIR_H

#include <linux/if_ether.h>

#include "counters.h"
#include "maps.h"
#include "sched.h"

/* The kept copy of bond_seq `seq` (its slot, whatever it holds now), or NULL. */
static __always_inline struct mb_repair_copy *repair_copy_of(__u32 seq)
{
	__u32 key = seq & (mb_reseq_slot_count - 1);

	return bpf_map_lookup_elem(&mb_repair_copies, &key);
}

/*
 * Keeps the frame of bonded packet `seq` as it entered the bond, before
 * anything is written in front of it. len goes to 0 first and seq and len
 * are written last, so the agent, which reads a copy twice and compares,
 * never takes a half-written frame for a whole one. A frame too long for a
 * slot (GSO) is not kept: its slot stays empty.
 */
static __always_inline void keep_copy(struct __sk_buff *skb, __u32 seq)
{
	struct mb_repair_copy *copy = repair_copy_of(seq);
	__u32 len = skb->len;

	if (!copy)
		return;
	copy->len = 0;
	if (len < ETH_HLEN || len > MB_RESEQ_FRAME_MAX || bpf_skb_load_bytes(skb, 0, copy->data, len))
		return;
	copy->seq = seq;
	copy->len = len;
}

/* Whether the agent sent this packet as a repair (skb->mark MB_REPAIR_MARK). */
static __always_inline int is_repair(const struct __sk_buff *skb)
{
	return (skb->mark & MB_REPAIR_MARK_MASK) == MB_REPAIR_MARK;
}

/*
 * A repair the agent sent (skb->mark MB_REPAIR_MARK, see meshbpf.h): on
 * the path the mark names, with the kept copy's bond_seq. The agent read
 * that copy just before; if the slot has been reused meanwhile, the frame
 * is not the copy's any more and must not carry its number. Returns 0, or
 * the drop reason.
 */
static __always_inline int place_repair(struct __sk_buff *skb, struct mb_choice *choice)
{
	__u32 seq_bits = skb->mark & MB_REPAIR_SEQ_MASK;
	__u32 path_id = (skb->mark & ~MB_REPAIR_MARK_MASK) >> MB_REPAIR_PATH_SHIFT;
	struct mb_repair_copy *copy = repair_copy_of(seq_bits);

	if (!copy || copy->len != skb->len || (copy->seq & MB_REPAIR_SEQ_MASK) != seq_bits)
		return MB_DROP_REPAIR_STALE;
	__u32 seq = copy->seq;
	if (force_path(path_id, choice) < 0)
		return MB_DROP_NO_PATH;
	choice->bond_seq = seq;
	return 0;
}

#endif /* MB_LIB_REPAIR_H */
