/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Receive-side resequencing (docs/design/resequencing.md): bonded packets go
 * into the bond in bond_seq order; early ones, and those from a path nearer
 * than the slowest (their path's reseq_hold_us), wait as bytes in map slots. */
#ifndef MB_LIB_RESEQ_H
#define MB_LIB_RESEQ_H

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include "maps.h"

/* Which counter released packets go to. */
enum mb_release_cause {
	MB_RELEASE_IN_ORDER,
	MB_RELEASE_DEADLINE,
	MB_RELEASE_FULL,
	MB_RELEASE_LOST,
};

/*
 * One walk over the window from next_seq, in sequence order. The skb is the
 * carrier: emit() sends the frame it carries as a clone into the bond's
 * ingress, then loads the next held frame into it; the last frame loaded
 * leaves with the program's own bpf_redirect. Clones and that redirect all
 * go through netif_rx, in call order; receive steering on the bond (the
 * agent's SteerBondFlows) puts a flow's packets into one CPU's backlog
 * whichever CPU released them, so they stay in order after it too.
 */
struct reseq_walk {
	struct __sk_buff *skb;
	struct mb_reseq *r;
	struct mb_reseq_counters *c;
	__u32 bond_ifindex;
	__u32 window;         /* packets held at most (reseq_window) */
	__u32 start;          /* next_seq when the walk began */
	__u32 give_up_before; /* gaps before this seq are given up */
	__u64 now;            /* held packets due later than this stay */
	__u64 deadline_ns;    /* non-zero: a gap is given up when a packet behind it is due */
	__u64 repair_wait_ns; /* loss repair on: how long a lost gap waits for its repair */
	__u32 gap_from;       /* deadline walk: where the gap being looked past began */
	__u8 in_gap;
	__u8 loaded;          /* the skb carries a frame not delivered yet */
	__u8 cause;           /* enum mb_release_cause */
	__u8 released;        /* something was released: the head moved */
};

/*
 * The buffer's bound in packets (link_aggregation.max_queue_size): no packet
 * waits further than this ahead of the gap. 0 or more than the slots: all.
 */
static __always_inline __u32 reseq_window(const struct mb_config *cfg)
{
	__u32 n = cfg->reseq_window;

	return n && n < mb_reseq_slot_count ? n : mb_reseq_slot_count;
}

/* The slot bond_seq `seq` uses (NULL only if the map is broken). */
static __always_inline struct mb_reseq_slot *slot_of(__u32 seq)
{
	__u32 key = seq & (mb_reseq_slot_count - 1);

	return bpf_map_lookup_elem(&mb_reseq_slots, &key);
}

/*
 * Makes the carrier skb `len` bytes long. bpf_skb_change_tail also drops
 * GSO and checksum offload state, but refuses an skb still marked
 * encapsulated: one that crossed veths from the sender's mb_encap on the
 * same host (the lab) keeps that mark. Such an skb, if not GSO, is resized
 * with bpf_skb_adjust_room instead, which resets its checksum state.
 */
static __always_inline int resize_carrier(struct __sk_buff *skb, __u32 len)
{
	if (!bpf_skb_change_tail(skb, len, 0))
		return 0;
	if (skb->gso_size)
		return -1;
	return bpf_skb_adjust_room(skb, (__s32)len - (__s32)skb->len, BPF_ADJ_ROOM_MAC, 0) ? -1 : 0;
}

/* Sends the frame the skb carries, if any, and loads `slot`'s. Returns 0 or -1. */
static __always_inline int emit(struct reseq_walk *w, const struct mb_reseq_slot *slot)
{
	__u32 len = slot->len;

	if (len < ETH_HLEN || len > MB_RESEQ_FRAME_MAX)
		return -1;
	if (w->loaded) {
		if (bpf_clone_redirect(w->skb, w->bond_ifindex, BPF_F_INGRESS))
			return -1;
		w->loaded = 0;
	}
	if (resize_carrier(w->skb, len) ||
	    bpf_skb_store_bytes(w->skb, 0, slot->data, len, BPF_F_RECOMPUTE_CSUM))
		return -1;
	bpf_set_hash_invalid(w->skb); /* steered by this frame's flow, see resequence() */
	w->loaded = 1;
	return 0;
}

static __always_inline void count_released(struct reseq_walk *w)
{
	if (w->cause == MB_RELEASE_IN_ORDER)
		w->c->released_in_order++;
	else if (w->cause == MB_RELEASE_DEADLINE)
		w->c->released_deadline++;
	else if (w->cause == MB_RELEASE_LOST)
		w->c->released_lost++;
	else
		w->c->released_full++;
}

/* bpf_loop step: sequence number start + i. Returns 1 to stop. */
static long release_step(__u32 i, void *ctx)
{
	struct reseq_walk *w = ctx;
	__u32 seq = w->start + i;
	struct mb_reseq_slot *slot = slot_of(seq);

	if (!slot)
		return 1;
	int filled = slot->seq == seq && slot->state != MB_RESEQ_EMPTY;
	if (filled && slot->state == MB_RESEQ_PASSED && !w->in_gap) {
		slot->state = MB_RESEQ_EMPTY; /* delivered already: only advance */
		w->r->next_seq = seq + 1;
		return 0;
	}
	if (!filled || slot->state != MB_RESEQ_HELD) {
		if (w->r->held == 0)
			return 1; /* nothing left to release behind it */
		if ((__s32)(seq - w->give_up_before) < 0) {
			w->c->gaps_skipped++;
			w->r->next_seq = seq + 1;
			return 0;
		}
		if (!w->deadline_ns)
			return 1; /* a gap still worth waiting for */
		if (!w->in_gap) {
			w->in_gap = 1;
			w->gap_from = seq;
		}
		return 0; /* is a packet behind this gap due? */
	}
	if (w->in_gap) {
		if (w->now - slot->arrival_ns < w->deadline_ns)
			return 1; /* the gap before it may still fill */
		w->c->gaps_skipped += seq - w->gap_from;
		w->in_gap = 0;
		w->r->next_seq = seq;
	}
	if (w->cause != MB_RELEASE_FULL && slot->due_ns > w->now)
		return 1; /* its path's hold is not over: it and those behind it wait */
	if (emit(w, slot))
		return 1; /* stays held; a later arrival retries */
	w->r->held--;
	w->released = 1;
	count_released(w);
	slot->state = MB_RESEQ_EMPTY;
	w->r->next_seq = seq + 1;
	return 0;
}

/*
 * Walks from next_seq: held packets go out in order, gaps before
 * give_up_before are given up; with deadline_ns, so is every gap in front
 * of a packet that has waited that long.
 */
static __always_inline void release(struct reseq_walk *w, enum mb_release_cause cause,
				    __u32 give_up_before, __u64 deadline_ns)
{
	w->start = w->r->next_seq;
	w->cause = cause;
	w->give_up_before = give_up_before;
	w->deadline_ns = deadline_ns;
	w->in_gap = 0;
	bpf_loop(mb_reseq_slot_count, release_step, w, 0);
}

struct head_search {
	__u32 start;
	__u64 arrival_ns;
};

/* bpf_loop step: is start + i the first held packet? */
static long head_step(__u32 i, void *ctx)
{
	struct head_search *h = ctx;
	__u32 seq = h->start + i;
	struct mb_reseq_slot *slot = slot_of(seq);

	if (!slot)
		return 1;
	if (slot->seq != seq || slot->state != MB_RESEQ_HELD)
		return 0;
	h->arrival_ns = slot->arrival_ns;
	return 1;
}

/*
 * The deadline runs from the arrival of the first held packet after the
 * gap (the head of the line), found again whenever packets were released.
 */
static __always_inline void find_head(struct mb_reseq *r, __u64 now)
{
	struct head_search h = {.start = r->next_seq, .arrival_ns = now};

	bpf_loop(mb_reseq_slot_count, head_step, &h, 0);
	r->head_arrival_ns = h.arrival_ns;
}

/*
 * Copies the skb's frame into a slot as `seq`. Returns 0, or -1 when the
 * frame is too long for a slot (or cannot be read).
 */
static __always_inline int store_frame(struct __sk_buff *skb, struct mb_reseq_slot *slot, __u32 seq,
				       __u64 now)
{
	__u32 len = skb->len;

	if (len < ETH_HLEN || len > MB_RESEQ_FRAME_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, 0, slot->data, len))
		return -1;
	slot->seq = seq;
	slot->len = len;
	slot->arrival_ns = now;
	return 0;
}

/*
 * A packet ahead of a gap within the window, or one whose path's hold is
 * not over (due_ns). Sets w->loaded: 0 when held.
 */
static __always_inline int hold(struct reseq_walk *w, __u32 seq, __u64 now, __u64 due_ns)
{
	struct mb_reseq_slot *slot = slot_of(seq);

	if (!slot)
		return TC_ACT_SHOT;
	if (slot->seq == seq && slot->state != MB_RESEQ_EMPTY) {
		w->c->duplicates++;
		return TC_ACT_SHOT;
	}
	/* Occupied by a number outside the window: stale, from before a resync. */
	if (slot->state == MB_RESEQ_HELD)
		w->r->held--;
	if (store_frame(w->skb, slot, seq, now)) {
		slot->seq = seq;
		slot->state = MB_RESEQ_PASSED;
		w->c->passed++;
		return TC_ACT_OK;
	}
	slot->state = MB_RESEQ_HELD;
	slot->due_ns = due_ns;
	if (w->r->held++ == 0)
		w->r->head_arrival_ns = now;
	w->c->held++;
	w->loaded = 0;
	return TC_ACT_OK;
}

/*
 * A packet a full window (reseq_window) ahead, or so far behind that the peer must have
 * restarted its sequence: everything held goes out in order, then this
 * packet, and the sequence resumes after it. The packet waits in the
 * per-CPU scratch slot meanwhile, since the walk reuses the skb.
 */
static __always_inline void flush_before(struct reseq_walk *w, __u32 seq, __u64 now)
{
	__u32 key = 0;
	struct mb_reseq_slot *scratch = bpf_map_lookup_elem(&mb_reseq_scratch, &key);

	if (!scratch || store_frame(w->skb, scratch, seq, now)) {
		/* Too long to keep aside: it goes first, out of order. */
		w->c->passed++;
		release(w, MB_RELEASE_FULL, w->r->next_seq + w->window, 0);
	} else {
		w->loaded = 0;
		release(w, MB_RELEASE_FULL, w->r->next_seq + w->window, 0);
		if (emit(w, scratch))
			w->c->gaps_skipped++; /* could not be sent: given up like a lost one */
	}
	w->r->next_seq = seq + 1;
}

/* Notes that `seq` (a probe's: the last handed out before it) arrived on path_id. */
static __always_inline void note_path_top(struct mb_reseq *r, __u32 path_id, __u32 seq)
{
	if (path_id >= MB_MAX_PATHS)
		return;
	if ((__s32)(seq - r->path_top_seq[path_id]) > 0)
		r->path_top_seq[path_id] = seq;
}

/* No path is past anything before `seq` yet: at the start of a sequence. */
static __always_inline void reset_path_tops(struct mb_reseq *r, __u32 seq)
{
	for (__u32 i = 0; i < MB_MAX_PATHS; i++)
		r->path_top_seq[i] = seq - 1;
}

/* Whether seq's slot holds seq (held, or passed without waiting). */
static __always_inline int slot_filled(__u32 seq)
{
	struct mb_reseq_slot *slot = slot_of(seq);

	return slot && slot->seq == seq && slot->state != MB_RESEQ_EMPTY;
}

/*
 * Puts sequenced packet `seq`, which must wait hold_ns after its arrival,
 * in its place. Returns TC_ACT_SHOT for a duplicate. A repair fills a gap
 * others wait behind, so it waits for nothing itself, and counts as
 * repaired when it comes in time. One behind next_seq is delivered but not
 * counted late: the agent widens the deadline for late packets of a path,
 * and a repair says nothing of one.
 */
static __always_inline int place_in_sequence(struct reseq_walk *w, __u32 seq, __u64 now,
					     __u64 hold_ns, int repair)
{
	struct mb_reseq *r = w->r;
	int verdict = TC_ACT_OK;

	if (!r->synced) {
		r->synced = 1;
		r->next_seq = seq;
		reset_path_tops(r, seq);
	}
	if (repair)
		hold_ns = 0;
	__s32 ahead = (__s32)(seq - r->next_seq); /* wrap-around safe */
	if (ahead == 0 && !hold_ns) {
		r->next_seq = seq + 1;
		if (repair)
			w->c->repaired++;
	} else if (ahead >= 0 && ahead < (__s32)w->window) {
		verdict = hold(w, seq, now, now + hold_ns);
		if (repair && verdict != TC_ACT_SHOT)
			w->c->repaired++;
	} else if (ahead < 0 && ahead > -(__s32)(MB_RESEQ_RESYNC_WINDOWS * mb_reseq_slot_count)) {
		if (!repair)
			w->c->late++; /* its gap was given up already: deliver it now */
	} else {
		if (ahead < 0) {
			w->c->resyncs++;
			reset_path_tops(w->r, seq + 1);
		}
		flush_before(w, seq, now);
	}
	return verdict;
}

/*
 * The lowest of the ACTIVE paths' top sequence numbers: every number below
 * it that has not arrived was lost, since each path delivers in order and
 * each has delivered something sent later. next_seq when no path is ACTIVE.
 * Packets of one path can reach the resequencer through two CPUs out of
 * order by microseconds: the caller waits MB_RESEQ_LOST_GRACE_NS first.
 */
static __always_inline __u32 lost_below(const struct mb_reseq *r)
{
	__u32 low = r->next_seq;
	int any = 0;

	for (__u32 i = 0; i < MB_MAX_PATHS; i++) {
		__u32 id = i;
		struct mb_path *p = bpf_map_lookup_elem(&mb_paths, &id);

		if (!p || p->state != MB_PATH_ACTIVE)
			continue;
		__u32 top = r->path_top_seq[i];
		if (!any || (__s32)(top - low) < 0)
			low = top;
		any = 1;
	}
	return any ? low : r->next_seq;
}

struct repair_scan {
	__u32 first_seq;
	__u64 missing;
};

/* bpf_loop step: sets bit i when first_seq + i has not arrived. */
static long repair_scan_step(__u32 i, void *ctx)
{
	struct repair_scan *scan = ctx;

	if (!slot_filled(scan->first_seq + i))
		scan->missing |= 1ULL << (i & (MB_REPAIR_REQUEST_SPAN - 1));
	return 0;
}

/*
 * Reports the lost numbers below `lost` not reported yet, up to
 * MB_REPAIR_REQUEST_SPAN of them (the next arrival or tick reports more),
 * in mb_repair_requests for the agent, which asks the sender for them.
 */
static __always_inline void request_repairs(struct reseq_walk *w, __u32 lost)
{
	struct mb_reseq *r = w->r;
	__u32 from = (__s32)(r->repair_asked_to - r->next_seq) > 0 ? r->repair_asked_to : r->next_seq;
	__u32 span = lost - from;

	if ((__s32)span <= 0)
		return;
	if (span > MB_REPAIR_REQUEST_SPAN)
		span = MB_REPAIR_REQUEST_SPAN;
	struct repair_scan scan = {.first_seq = from};
	bpf_loop(span, repair_scan_step, &scan, 0);
	r->repair_asked_to = from + span;
	if (!scan.missing)
		return;
	struct mb_repair_request req = {.first_seq = from, .missing = scan.missing};
	if (bpf_ringbuf_output(&mb_repair_requests, &req, sizeof(req), 0))
		return; /* the agent is behind: these gaps are given up as without repair */
	r->repair_asked_ns = w->now;
	w->c->repairs_requested += __builtin_popcountll(scan.missing);
}

/*
 * Gaps every path has moved beyond were lost. Without loss repair they
 * are given up at once; with it, they are reported and wait for their
 * repairs until repair_wait_ns has passed since the latest report (so a
 * gap just reported always gets its full wait; the deadline bounds all).
 */
static __always_inline void release_lost(struct reseq_walk *w)
{
	struct mb_reseq *r = w->r;
	__u32 lost = lost_below(r);

	if ((__s32)(lost - r->next_seq) <= 0)
		return;
	if (w->repair_wait_ns) {
		request_repairs(w, lost);
		if (w->now - r->repair_asked_ns < w->repair_wait_ns)
			return;
	}
	release(w, MB_RELEASE_LOST, lost, 0);
}

/*
 * Releases, in order, the held packets whose turn has come: from next_seq
 * up to the first gap or the first packet whose hold is not over, past the
 * gaps every path has moved beyond (lost), then past the gaps in front of
 * packets that have waited the deadline.
 */
static __always_inline void release_due(struct reseq_walk *w, __u32 deadline_us)
{
	struct mb_reseq *r = w->r;
	__u64 deadline_ns = (__u64)deadline_us * 1000;

	if (r->held || slot_filled(r->next_seq))
		release(w, MB_RELEASE_IN_ORDER, r->next_seq, 0);
	if (r->held && w->now - r->head_arrival_ns >= MB_RESEQ_LOST_GRACE_NS)
		release_lost(w);
	if (r->held && w->now - r->head_arrival_ns >= deadline_ns)
		release(w, MB_RELEASE_DEADLINE, r->next_seq, deadline_ns);
	if (w->released && r->held)
		find_head(r, w->now);
}

/*
 * The body of resequence() while this CPU owns the state. Every arrival,
 * an unsequenced one (a probe) too, releases what is due; so does the
 * agent's tick (reseq_tick) when nothing arrives. Returns the verdict.
 */
static __always_inline int resequence_owned(struct reseq_walk *w, __u32 seq, int sequenced,
					    int repair, __u32 deadline_us, __u64 hold_ns,
					    __u32 path_id)
{
	w->now = bpf_ktime_get_ns();
	w->r->last_arrival_ns = w->now;
	note_path_top(w->r, path_id, seq);
	if (sequenced && place_in_sequence(w, seq, w->now, hold_ns, repair) == TC_ACT_SHOT)
		return TC_ACT_SHOT;
	release_due(w, deadline_us);
	return w->loaded ? bpf_redirect(w->bond_ifindex, BPF_F_INGRESS) : TC_ACT_SHOT;
}

/*
 * Another CPU owns the state: deliver now, out of sequence, and leave the
 * number as passed so the owner does not wait for it. Racy by nature; at
 * worst the owner waits for the deadline.
 */
static __always_inline int pass_unsequenced(struct mb_reseq *r, struct mb_reseq_counters *c,
					    const struct mb_config *cfg, __u32 seq)
{
	__s32 ahead = (__s32)(seq - r->next_seq);
	struct mb_reseq_slot *slot = slot_of(seq);

	if (slot && ahead > 0 && ahead < (__s32)reseq_window(cfg) &&
	    slot->state == MB_RESEQ_EMPTY) {
		slot->seq = seq;
		slot->state = MB_RESEQ_PASSED;
	}
	c->passed++;
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
}

struct busy_wait {
	struct mb_reseq *r;
	__u64 until_ns;
	__u32 owner; /* what busy holds while this CPU owns the state */
	__u8 taken;
};

/* bpf_loop step: takes the state if it is free; stops at until_ns. */
static long busy_wait_step(__u32 i, void *ctx)
{
	struct busy_wait *b = ctx;

	/* Read before the compare-and-swap: waiting CPUs then only share the line. */
	if (*(volatile __u32 *)&b->r->busy == 0 &&
	    __sync_val_compare_and_swap(&b->r->busy, 0, b->owner) == 0) {
		b->taken = 1;
		return 1;
	}
	return (i & 63) == 63 && bpf_ktime_get_ns() >= b->until_ns;
}

/* What mb_reseq.busy holds while this CPU owns the state. */
static __always_inline __u32 state_owner(void)
{
	return bpf_get_smp_processor_id() + 1;
}

/*
 * Takes the state (busy), waiting up to MB_RESEQ_BUSY_WAIT_NS for another
 * CPU's walk to end, never for one this CPU interrupted. Returns whether
 * it was taken.
 */
static __always_inline int take_state(struct mb_reseq *r)
{
	__u32 owner = state_owner();
	__u32 seen = __sync_val_compare_and_swap(&r->busy, 0, owner);

	if (seen == 0)
		return 1;
	if (seen == owner)
		return 0;
	struct busy_wait b = {
		.r = r, .until_ns = bpf_ktime_get_ns() + MB_RESEQ_BUSY_WAIT_NS, .owner = owner,
	};

	bpf_loop(MB_RESEQ_BUSY_WAIT_SPINS, busy_wait_step, &b, 0);
	return b.taken;
}

/*
 * Delivers a decapsulated bonded packet (its bond_seq `seq`, received on
 * path_id) into the bond in sequence order, or an unsequenced one (a probe)
 * at once. Returns the TC verdict. One CPU at a time changes the state
 * (busy, taken with compare-and-swap): bpf_spin_lock cannot be held across
 * the helpers that copy and send frames.
 */
static __always_inline int resequence(struct __sk_buff *skb, const struct mb_config *cfg, __u32 seq,
				      int sequenced, int repair, __u32 path_id)
{
	__u32 key = 0;
	struct mb_reseq *r = bpf_map_lookup_elem(&mb_reseq, &key);
	struct mb_reseq_counters *c = bpf_map_lookup_elem(&mb_reseq_counters, &key);

	/* The outer packet's hash (the NIC's, per uplink) would steer one flow's
	 * packets to a different CPU per path: the bond steers by the inner flow. */
	bpf_set_hash_invalid(skb);
	if (!r || !c)
		return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
	if (!take_state(r))
		return sequenced ? pass_unsequenced(r, c, cfg, seq)
				 : bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
	struct mb_path *path = bpf_map_lookup_elem(&mb_paths, &path_id);
	__u64 hold_ns = path && sequenced ? (__u64)path->reseq_hold_us * 1000 : 0;
	struct reseq_walk w = {
		.skb = skb, .r = r, .c = c, .bond_ifindex = cfg->bond_ifindex,
		.window = reseq_window(cfg), .loaded = 1,
		.repair_wait_ns = (__u64)cfg->repair_wait_us * 1000,
	};
	int verdict = resequence_owned(&w, seq, sequenced, repair, cfg->reseq_deadline_us, hold_ns,
				       path_id);
	__sync_fetch_and_and(&r->busy, 0);
	return verdict;
}

/*
 * The agent's tick, run through BPF_PROG_TEST_RUN on a throwaway skb
 * (there is no timer that can send): releases what is due when no packet
 * has arrived for MB_RESEQ_TICK_IDLE_NS, so a hold or a deadline costs its
 * own length (and at most a tick or two), not the time to the next
 * arrival. Every frame leaves as a clone, since the program's own redirect
 * goes nowhere under test_run. Returns TC_ACT_SHOT.
 */
static __always_inline int reseq_tick(struct __sk_buff *skb, const struct mb_config *cfg)
{
	__u32 key = 0;
	struct mb_reseq *r = bpf_map_lookup_elem(&mb_reseq, &key);
	struct mb_reseq_counters *c = bpf_map_lookup_elem(&mb_reseq_counters, &key);
	__u64 now = bpf_ktime_get_ns();

	if (!r || !c || !r->held || now - r->last_arrival_ns < MB_RESEQ_TICK_IDLE_NS ||
	    __sync_val_compare_and_swap(&r->busy, 0, state_owner()) != 0)
		return TC_ACT_SHOT;
	struct reseq_walk w = {
		.skb = skb, .r = r, .c = c, .bond_ifindex = cfg->bond_ifindex,
		.window = reseq_window(cfg), .now = now,
		.repair_wait_ns = (__u64)cfg->repair_wait_us * 1000,
	};
	release_due(&w, cfg->reseq_deadline_us);
	if (w.loaded && bpf_clone_redirect(skb, cfg->bond_ifindex, BPF_F_INGRESS))
		c->gaps_skipped++; /* released but not sent: lost like a gap given up */
	__sync_fetch_and_and(&r->busy, 0);
	return TC_ACT_SHOT;
}

#endif /* MB_LIB_RESEQ_H */
