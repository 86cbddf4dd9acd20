/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The data path's maps, pinned by name; their shapes are in bpf/meshbpf.h,
 * shared with the agent, which opens them by these names. */
#ifndef MB_LIB_MAPS_H
#define MB_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "meshbpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, struct mb_path);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_sched);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_sched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct mb_path_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_dedup);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_dedup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be32);
	__type(value, struct mb_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mb_ip6);
	__type(value, struct mb_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_peers6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_FLOW_ENTRIES);
	__type(key, struct mb_flow_key);
	__type(value, struct mb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_FLOW_ENTRIES);
	__type(key, struct mb_flow_key);
	__type(value, struct mb_nat_origin);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_nat_reverse SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_BUDGET_SLOTS);
	__type(key, __u32);
	__type(value, struct mb_budget);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_budget SEC(".maps");

/* Relaying (bpf/meshbpf.h, "Relaying"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_RELAYS);
	__type(key, __u32);
	__type(value, struct mb_relay);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relays SEC(".maps");

/* Twice the relays: the agent adds new index entries before stale ones are gone. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MB_MAX_RELAYS);
	__type(key, struct mb_relay_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MB_MAX_RELAYS);
	__type(key, struct mb_relay_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_ret SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_MAX_RELAYS);
	__type(key, __u32);
	__type(value, struct mb_relay_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_relay_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_relay_bucket SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, struct mb_learned_source);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_learned SEC(".maps");

/* Agent liveness (bpf/meshbpf.h, "Agent liveness"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_heartbeat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_heartbeat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_path_rx_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_MAX_PATHS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_unattended_skips SEC(".maps");

/* Resequencing (bpf/meshbpf.h, "Resequencing"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_reseq);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_reseq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_RESEQ_WINDOW);
	__type(key, __u32);
	__type(value, struct mb_reseq_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_reseq_slots SEC(".maps");

/* mb_reseq_slots' entries, a power of two: the agent sizes the map and sets
 * this before loading (.rodata: the verifier sees a constant). */
const volatile __u32 mb_reseq_slot_count = MB_RESEQ_WINDOW;

/* Loss repair: the sender's kept frames, one per mb_reseq_slot_count
 * sequence numbers (bpf/lib/repair.h). The agent sizes it with the
 * resequencer when loss repair is on, else leaves one entry. Not pinned:
 * a restarted agent's peer has given up on the old copies long since. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_repair_copy);
} mb_repair_copies SEC(".maps");

/* Loss repair: the receiver's reports of lost sequence numbers, for its agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} mb_repair_requests SEC(".maps");

/* A full window's arrival, kept while the window is released before it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_reseq_slot);
} mb_reseq_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_reseq_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_reseq_counters SEC(".maps");

/* The peer's allowed inner sources (mb_config.check_inner_source). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MB_ALLOWED_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mb_prefix_v4);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_allowed_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MB_ALLOWED_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mb_prefix_v6);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_allowed_v6 SEC(".maps");

/* Authentication (bpf/meshbpf.h, "Authentication"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_auth_tx);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_auth_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_AUTH_RX_SESSIONS);
	__type(key, __u32);
	__type(value, struct mb_auth_rx);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mb_auth_rx SEC(".maps");

/* Packet bytes on their way into the MAC, a chunk at a time (bpf/lib/auth.h). */
#define MB_AUTH_CHUNK 512
struct mb_auth_chunk {
	__u64 words[MB_AUTH_CHUNK / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_auth_chunk);
} mb_auth_scratch SEC(".maps");

/*
 * The ChaCha20 input block (RFC 8439, 2.3: constants, key, block counter,
 * nonce) of the packet being encrypted (bpf/lib/cipher.h): per CPU, off the
 * stack, which the call chain down to the cipher would otherwise outgrow.
 */
struct mb_cipher_input {
	__u32 w[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_cipher_input);
} mb_cipher_input SEC(".maps");

#endif /* MB_LIB_MAPS_H */
