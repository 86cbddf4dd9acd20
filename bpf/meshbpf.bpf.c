// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshbpf data path: the two TC entry programs. The steps they take live in
 * bpf/lib/, one header per concern; all of it builds into this one object.
 *
 * mb_encap runs at TC ingress of the far end of the bond veth pair: every
 * packet an application routes into the bond device arrives here. It picks
 * a path, prepends outer IPv4 or IPv6 (the path's) + UDP + struct
 * mb_wire_hdr and redirects the packet out of the path's uplink with
 * bpf_redirect_neigh.
 *
 * mb_decap runs at TC ingress of every uplink. meshbpf packets from known
 * peers are stripped of their outer headers and delivered into the bond
 * device's ingress, as if the bond were a tunnel device; everything else
 * passes untouched. With authentication on (mb_config.authenticate),
 * mb_encap tags every copy and mb_decap verifies the tag and the counter
 * before anything else reads the packet (bpf/lib/auth.h). With
 * resequencing on, mb_reseq_tick, which the agent runs through
 * BPF_PROG_TEST_RUN, releases what is due between arrivals. With loss
 * repair on, mb_encap keeps each bonded frame and sends repairs the agent
 * marks, and the resequencer reports lost numbers (bpf/lib/repair.h).
 *
 * In flow mode (no peer) nothing is encapsulated: mb_encap pins each flow to
 * a path and source-NATs it to that path's address, mb_decap undoes the NAT
 * on the replies and delivers them into the bond (bpf/lib/flow.h).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "meshbpf.h"
#include "lib/maps.h"      /* every map */
#include "lib/caps.h"      /* data caps */
#include "lib/counters.h"  /* per-path counters, drops */
#include "lib/packet.h"    /* packet access, checksum, redirect */
#include "lib/sched.h"     /* path selection */
#include "lib/repair.h"    /* loss repair */
#include "lib/auth.h"      /* tags and anti-replay */
#include "lib/mss.h"       /* TCP MSS clamping */
#include "lib/encap.h"     /* mb_encap's steps */
#include "lib/decap.h"     /* mb_decap's steps */
#include "lib/dedup.h"     /* redundant copies */
#include "lib/reseq.h"     /* delivery in sequence order */
#include "lib/flow.h"      /* flow mode */
#include "lib/relay.h"     /* relaying for other nodes */
#include "lib/learned.h"   /* learned paths */
#include "lib/liveness.h"  /* agent heartbeat, paths still receiving */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int mb_encap(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	struct mb_choice choice = {};
	struct auth_send auth;
	const struct auth_send *signing = NULL;
	__u8 tos;

	if (!cfg || !cfg->configured)
		return drop(MB_NO_PATH, MB_DROP_NO_CONFIG);
	/* Probe marks do not apply: without a peer there is nobody to reflect them. */
	if (cfg->mode == MB_MODE_FLOW)
		return flow_send(skb);
	int reason = read_inner_tos(skb, &tos);
	if (reason)
		return drop(MB_NO_PATH, reason);
	if (clamp_mss(skb, skb->protocol, cfg->bond_mtu))
		return drop(MB_NO_PATH, MB_DROP_ENCAP_FAILED);

	/* Before a path is charged for it: a packet that cannot be tagged is not sent. */
	if (cfg->authenticate) {
		reason = auth_open_send(skb, cfg->encrypt, &auth);
		if (reason)
			return drop(MB_NO_PATH, reason);
		signing = &auth;
	}
	/* From `signing`, not cfg again: the agent may change the map meanwhile. */
	__u32 overhead = signing ? MB_AUTH_OVERHEAD : MB_ENCAP_OVERHEAD;
	__u32 inner_len = skb->len - sizeof(struct ethhdr);
	enum mb_placement placement = placement_of(cfg, inner_len, tos);
	__u8 flags = placement == MB_PLACE_ALL ? MB_FLAG_REDUNDANT : 0;
	if (is_repair(skb)) {
		/* Sent again, as it was first: its own bond_seq, no copy kept twice. */
		reason = place_repair(skb, &choice);
		if (reason)
			return drop(MB_NO_PATH, reason);
		flags = MB_FLAG_REPAIR;
	} else {
		int placed = place_packet(skb, placement, overhead, cfg->reseq_deadline_us, &choice);
		if (placed < 0) {
			int too_small = path_too_small_for(skb, overhead);
			return too_small < 0 ? drop(MB_NO_PATH, MB_DROP_NO_PATH)
					     : drop((__u32)too_small, MB_DROP_TOO_BIG);
		}
		if (placed == MB_PLACED_PROBE)
			flags = MB_FLAG_UNSEQUENCED;
		else if (cfg->keep_copies)
			keep_copy(skb, choice.bond_seq);
	}

	/* The first chosen path's outer family decides the room made for every copy. */
	__u32 first = first_chosen(&choice);
	struct mb_path *first_path = bpf_map_lookup_elem(&mb_paths, &first);
	if (!first_path)
		return drop(MB_NO_PATH, MB_DROP_NO_PATH);
	struct encap_how how = {.tos = tos, .flags = flags,
				.outer_v6 = !!(first_path->flags & MB_PATH_F_IPV6)};
	overhead += mb_path_outer_extra(first_path);
	if (!encap_fits_mtu(skb, first, overhead))
		return drop(first, MB_DROP_TOO_BIG);
	/* After keep_copy: a repair is sealed again, from the plaintext. */
	if (signing && seal_copies(skb, &auth, &choice))
		return drop(first, MB_DROP_ENCAP_FAILED);
	if (make_encap_room(skb, overhead, how.outer_v6))
		return drop(first, MB_DROP_ENCAP_FAILED);
	how.outer_len = (__u16)(skb->len - sizeof(struct ethhdr));
	return send_on_chosen_paths(skb, &choice, signing, &how);
}

SEC("tc")
int mb_decap(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	struct outer_seen outer;
	struct mb_wire_hdr mb;
	__u8 inner_version;
	__be16 inner_proto;

	if (!cfg || !cfg->configured)
		return MB_NOT_OURS;
	/* First: a node relays in any mode. */
	if (cfg->relay_port) {
		int verdict = relay(skb, cfg);
		if (verdict != MB_NOT_RELAYED)
			return verdict;
	}
	if (cfg->mode == MB_MODE_FLOW)
		return flow_receive(skb, cfg);
	if (!read_outer(skb, cfg, &outer))
		return MB_NOT_OURS;

	/* From here on the packet is addressed to meshbpf: never pass it up. */
	int known_source = from_known_peer(&outer);
	/* A learned path's probe may come from a source not known yet: decided below. */
	if (!known_source && !cfg->learn_paths)
		return drop(MB_NO_PATH, MB_DROP_UNKNOWN_SOURCE);
	/* Read once: a flag the agent flips meanwhile must not skip the check. */
	__u8 authenticate = *(volatile __u8 *)&cfg->authenticate;
	__u32 wire_len = sizeof(mb) + (authenticate ? sizeof(struct mb_auth_hdr) : 0);
	__u32 wire_off = sizeof(struct ethhdr) + outer.l3_len + sizeof(outer.udp);
	__u32 hdr_len = wire_off + wire_len - sizeof(struct ethhdr);
	__u32 inner_off = wire_off + wire_len;
	/* The agent authenticates its handshakes itself (agent/core/handshake.h). */
	if (authenticate && is_handshake(skb, wire_off))
		return MB_NOT_OURS;
	int reason = read_wire_hdr(skb, wire_off, wire_len, authenticate, &mb, &inner_version);
	if (reason)
		return drop(MB_NO_PATH, reason);
	/* Until it verifies, its path id is the sender's claim: drops count on no path. */
	if (authenticate) {
		struct auth_verified verified = {};
		reason = auth_verify(skb, wire_off, inner_off, outer.outer_len, &verified);
		if (!reason && verified.encrypted)
			reason = auth_decrypt(skb, inner_off, &verified);
		if (reason)
			return drop(MB_NO_PATH, reason);
		/* Read again: it was ciphertext when read_wire_hdr read it. */
		const __u8 *version = packet_bytes(skb, inner_off, 1);
		if (!version)
			return drop(MB_NO_PATH, MB_DROP_TRUNCATED);
		inner_version = *version;
	}

	__u32 path_id = mb.path_id;
	if (cfg->learn_paths) {
		int learned = check_learned_path(skb, cfg, path_id, &outer, inner_off, authenticate);
		if (learned < 0)
			return drop(path_id, MB_DROP_WRONG_ENDPOINT);
		known_source |= learned;
	}
	if (!known_source)
		return drop(MB_NO_PATH, MB_DROP_UNKNOWN_SOURCE);
	note_path_rx(path_id);
	reason = read_inner_proto(skb, inner_off, inner_version, &inner_proto);
	if (!reason && cfg->check_inner_source)
		reason = check_inner_source(skb, inner_off, inner_proto);
	if (!reason)
		reason = decap_ecn(skb, outer.tos, inner_off, inner_proto);
	if (reason)
		return drop(path_id, reason);
	/*
	 * A sound packet is received on its path even when the bond has it
	 * already (a redundant copy): the path carried it, so the data cap is
	 * charged for it and the agent's delivery samples count it. Uncounted,
	 * redundant mode's slower path "delivered" nothing, and the agent cut
	 * its capacity estimate to a quarter.
	 */
	count_packet(path_id, MB_RECEIVED, skb->len - inner_off, skb->len - sizeof(struct ethhdr));
	if (mb.flags & MB_FLAG_REDUNDANT) {
		reason = dedup(bpf_ntohl(mb.bond_seq));
		if (reason)
			return drop(path_id, reason);
	}
	reason = strip_outer(skb, cfg, hdr_len, inner_proto);
	if (reason)
		return drop(path_id, reason);
	if (clamp_mss(skb, inner_proto, cfg->bond_mtu))
		return drop(path_id, MB_DROP_DECAP_FAILED);
	if (cfg->reseq_deadline_us)
		return resequence(skb, cfg, bpf_ntohl(mb.bond_seq), !(mb.flags & MB_FLAG_UNSEQUENCED),
				  mb.flags & MB_FLAG_REPAIR, path_id);
	return bpf_redirect(cfg->bond_ifindex, BPF_F_INGRESS);
}

/* The mark link_aggregation.routing.cgroups selects by; the agent sets it
 * before attaching mb_cgroup_mark. 0: marks nothing. */
__u32 mb_cgroup_sock_mark;

/* On the selected cgroups (and their descendants): every socket their
 * processes create carries the mark, so the agent's fwmark rule routes it
 * into the bond. A socket that sets its own mark later keeps that one. */
SEC("cgroup/sock_create")
int mb_cgroup_mark(struct bpf_sock *sk)
{
	if (mb_cgroup_sock_mark)
		sk->mark = mb_cgroup_sock_mark;
	return 1; /* allow the socket */
}

/* Run by the agent, not attached: releases held packets when none arrive (reseq_tick). */
SEC("tc")
int mb_reseq_tick(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);

	if (!cfg || !cfg->configured || !cfg->reseq_deadline_us)
		return TC_ACT_SHOT;
	return reseq_tick(skb, cfg);
}
