/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tunnel encryption (bpf/meshbpf.h, "Encryption"; the choice and its figures:
 * docs/design/tunnel-auth.md): ChaCha20 over a range of the packet, in place. */
#ifndef MB_LIB_CIPHER_H
#define MB_LIB_CIPHER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "packet.h"

_Static_assert(MB_AUTH_CHUNK % 64 == 0, "a chunk is whole ChaCha20 blocks");

static __always_inline __u32 rotl32(__u32 x, int b)
{
	return (x << b) | (x >> (32 - b));
}

#define CHACHA_QUARTER(x, a, b, c, d)                                                             \
	do {                                                                                      \
		x[a] += x[b];                                                                     \
		x[d] = rotl32(x[d] ^ x[a], 16);                                                   \
		x[c] += x[d];                                                                     \
		x[b] = rotl32(x[b] ^ x[c], 12);                                                   \
		x[a] += x[b];                                                                     \
		x[d] = rotl32(x[d] ^ x[a], 8);                                                    \
		x[c] += x[d];                                                                     \
		x[b] = rotl32(x[b] ^ x[c], 7);                                                    \
	} while (0)

/* 64 bytes of the packet, as eight words loaded from it. */
struct chacha_block {
	__u64 w[8];
};

/*
 * XORs the keystream of the block `in` describes (its w[12] is the block
 * number) into `data`; the key and nonce words are little-endian, as on the
 * machines this runs on. A global function, verified once: inlined, the
 * bpf_loop step below is verified again on each visit. The block number
 * comes in the map, not as an argument: an argument the verifier tracks
 * differs on every visit, and the visits do not end.
 */
__attribute__((noinline)) int chacha_xor_block(const struct mb_cipher_input *in,
					       struct chacha_block *data)
{
	__u32 x[16];

	if (!in || !data)
		return -1;
	__builtin_memcpy(x, in->w, sizeof(x));
	for (int i = 0; i < 10; i++) {
		CHACHA_QUARTER(x, 0, 4, 8, 12);
		CHACHA_QUARTER(x, 1, 5, 9, 13);
		CHACHA_QUARTER(x, 2, 6, 10, 14);
		CHACHA_QUARTER(x, 3, 7, 11, 15);
		CHACHA_QUARTER(x, 0, 5, 10, 15);
		CHACHA_QUARTER(x, 1, 6, 11, 12);
		CHACHA_QUARTER(x, 2, 7, 8, 13);
		CHACHA_QUARTER(x, 3, 4, 9, 14);
	}
	for (int i = 0; i < 8; i++) {
		__u32 lo = x[2 * i] + in->w[2 * i];
		__u32 hi = x[2 * i + 1] + in->w[2 * i + 1];
		data->w[i] ^= (__u64)lo | ((__u64)hi << 32);
	}
	return 0;
}

/* The walk over the packet's bytes that encrypts them (packet.h, packet_walk). */
struct cipher_walk {
	struct packet_walk walk;
	__u64 store_flags;
};

/*
 * bpf_loop step: loads the next chunk into the per-CPU scratch, XORs it
 * with the keystream a block at a time and stores it back. Returns 1 to stop.
 */
static long cipher_chunk(__u32 i, void *ctx)
{
	struct cipher_walk *w = ctx;
	__u32 key = 0;
	struct mb_auth_chunk *c = bpf_map_lookup_elem(&mb_auth_scratch, &key);
	struct mb_cipher_input *in = bpf_map_lookup_elem(&mb_cipher_input, &key);
	__u32 off;

	if (!c || !in)
		return 1;
	__u32 len = walk_load(&w->walk, i, MB_AUTH_CHUNK, c->words, &off);
	if (!len)
		return 1;
	__u32 blocks = (len + 63) / 64;
	for (__u32 b = 0; b < MB_AUTH_CHUNK / 64; b++) {
		if (b >= blocks)
			break;
		in->w[12] = i * (MB_AUTH_CHUNK / 64) + b;
		chacha_xor_block(in, (struct chacha_block *)&c->words[b * 8]);
	}
	if (bpf_skb_store_bytes(w->walk.skb, off, c->words, len, w->store_flags) < 0) {
		w->walk.failed = 1;
		return 1;
	}
	return 0;
}

/*
 * Encrypts or decrypts (the same operation) the `len` bytes at `off` in
 * place, with ChaCha20 under `key` (MB_CIPHER_KEY_LEN bytes) and the nonce
 * epoch || counter. `store_flags` for bpf_skb_store_bytes: the receiver
 * passes BPF_F_RECOMPUTE_CSUM to keep a CHECKSUM_COMPLETE skb's sum right.
 * Returns 0, or -1 when the packet could not be read or written.
 */
static __always_inline int chacha20_packet(struct __sk_buff *skb, const __u8 *key, __u32 epoch,
					   __u64 counter, __u32 off, __u32 len, __u64 store_flags)
{
	struct cipher_walk w = {.walk = {.skb = skb, .start = off, .end = off + len},
				.store_flags = store_flags};
	__u32 steps = (len + MB_AUTH_CHUNK - 1) / MB_AUTH_CHUNK;
	__u32 zero = 0;
	struct mb_cipher_input *in = bpf_map_lookup_elem(&mb_cipher_input, &zero);

	if (!in)
		return -1;
	/* "expand 32-byte k" */
	in->w[0] = 0x61707865;
	in->w[1] = 0x3320646e;
	in->w[2] = 0x79622d32;
	in->w[3] = 0x6b206574;
	/* Word by word: a byte copy through an unaligned pointer spilled each byte. */
	for (int k = 0; k < MB_CIPHER_KEY_LEN / 4; k++)
		in->w[4 + k] = ((const __u32 *)key)[k];
	/* w[12], the block number, cipher_chunk sets for each block. */
	in->w[13] = epoch;
	in->w[14] = (__u32)counter;
	in->w[15] = (__u32)(counter >> 32);
	return bpf_loop(steps, cipher_chunk, &w, 0) != steps || w.walk.failed ? -1 : 0;
}

#endif /* MB_LIB_CIPHER_H */
