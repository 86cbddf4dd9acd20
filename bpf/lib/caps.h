/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Data caps (mb_budget): charging bytes to a path's cap, asking whether it is
 * spent, and the state a spent cap leaves a path in for the scheduler. */
#ifndef MB_LIB_CAPS_H
#define MB_LIB_CAPS_H

#include "maps.h"

/* Hides a value from clang, which would turn sign-bit arithmetic back into branches. */
#define MB_OPAQUE(x) asm volatile("" : "+r"(x))

/*
 * The state the scheduler sees for a path with data cap b: its own while the
 * cap is not spent; once spent, DISABLED, or with the last-resort policy
 * BACKUP (unless DISABLED anyway). Arithmetic, not branches: every branch
 * here would leave a constant in the state for the verifier to tell apart,
 * and choose_paths, which runs this for every path, would exceed its
 * 1M-instruction budget.
 */
static __always_inline __u8 cap_limited_state(const struct mb_path *p, const struct mb_budget *b)
{
	__u64 state = p->state;
	__s64 neg_limit = -(__s64)b->limit_bytes;
	__s64 left_minus_one = b->remaining_bytes - 1;

	MB_OPAQUE(neg_limit);
	MB_OPAQUE(left_minus_one);
	/* 1 when capped (limit > 0) and nothing is left (remaining <= 0). */
	__u64 spent = ((__u64)left_minus_one >> 63) & ((__u64)neg_limit >> 63);
	MB_OPAQUE(spent);
	__u64 in_service = (state + 1) >> 1; /* DISABLED 0, ACTIVE 1, BACKUP 2 -> 0, 1, 1 */
	__u64 spent_state = (b->policy & in_service) * MB_PATH_BACKUP; /* policy 1: last resort */

	return (__u8)(state ^ ((state ^ spent_state) & -spent));
}

static __always_inline int cap_spent(__u32 path_id)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	return b && b->limit_bytes != 0 && b->remaining_bytes <= 0;
}

/* Charges `wire_len` bytes sent or received on a path to its data cap. */
static __always_inline void charge_cap(__u32 path_id, __u32 wire_len)
{
	struct mb_budget *b = bpf_map_lookup_elem(&mb_budget, &path_id);

	if (b && b->limit_bytes)
		__sync_fetch_and_add(&b->remaining_bytes, -(__s64)wire_len);
}

#endif /* MB_LIB_CAPS_H */
