/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tunnel packet authentication (bpf/meshbpf.h, "Authentication"; the choice
 * and its figures: docs/design/tunnel-auth.md): the SipHash-2-4 tag over the
 * inner packet and the signed headers, and the receiver's anti-replay window. */
#ifndef MB_LIB_AUTH_H
#define MB_LIB_AUTH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cipher.h"
#include "maps.h"
#include "packet.h"

/* SipHash-2-4 (Aumasson, Bernstein 2012) state, written as the reference code. */
struct sip_state {
	__u64 v0, v1, v2, v3;
};

static __always_inline __u64 rotl64(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static __always_inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

/* The key's 16 bytes are k0 || k1, each little-endian, as in the reference code. */
static __always_inline void sip_init(struct sip_state *s, const __u8 *key)
{
	__u64 k0, k1;

	__builtin_memcpy(&k0, key, 8);
	__builtin_memcpy(&k1, key + 8, 8);
	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* One 8-byte message word (little-endian), two compression rounds. */
static __always_inline void sip_absorb(struct sip_state *s, __u64 m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

/*
 * The message so far was total_len bytes, a multiple of 8: the last block
 * is the length byte alone. Four finalization rounds; the 64-bit output.
 */
static __always_inline __u64 sip_final(struct sip_state s, __u64 total_len)
{
	sip_absorb(&s, total_len << 56);
	s.v2 ^= 0xff;
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* The walk over the packet's bytes that absorbs them (packet.h, packet_walk). */
struct auth_walk {
	struct packet_walk walk;
	struct sip_state s;
};

/*
 * bpf_loop step: loads the next chunk into the per-CPU scratch (one helper
 * call per MB_AUTH_CHUNK bytes; direct reads would need a bounds check per
 * word) and absorbs it, the last partial word zero-padded. Returns 1 to stop.
 */
static long absorb_chunk(__u32 i, void *ctx)
{
	struct auth_walk *w = ctx;
	__u32 key = 0;
	struct mb_auth_chunk *c = bpf_map_lookup_elem(&mb_auth_scratch, &key);
	__u32 off;

	if (!c)
		return 1;
	__u32 len = walk_load(&w->walk, i, MB_AUTH_CHUNK, c->words, &off);
	if (!len)
		return 1;
	__u32 words = (len + 7) / 8;
	if (len & 7)
		c->words[(words - 1) & (MB_AUTH_CHUNK / 8 - 1)] &= ~0ULL >> (64 - 8 * (len & 7));
	struct sip_state s = w->s;
	for (__u32 j = 0; j < MB_AUTH_CHUNK / 8; j++) {
		if (j >= words)
			break;
		sip_absorb(&s, c->words[j]);
	}
	w->s = s;
	return 0;
}

/*
 * Starts the tag of a packet: the session key, then the inner packet (`len`
 * bytes at `off`) zero-padded to a multiple of 8. The inner part is the
 * same for every copy of a packet, so mb_encap absorbs it once. Returns 0,
 * or -1 when the packet cannot be read.
 */
static __always_inline int auth_absorb_inner(struct __sk_buff *skb, const __u8 *key, __u32 off,
					     __u32 len, struct sip_state *s)
{
	struct auth_walk w = {.walk = {.skb = skb, .start = off, .end = off + len}};
	__u32 steps = (len + MB_AUTH_CHUNK - 1) / MB_AUTH_CHUNK;

	sip_init(&w.s, key);
	if (bpf_loop(steps, absorb_chunk, &w, 0) != steps || w.walk.failed)
		return -1;
	*s = w.s;
	return 0;
}

/*
 * Finishes the tag of one copy from the state after its inner packet: the
 * signed headers (MB_AUTH_SIGNED_HDR_LEN bytes: mb_wire_hdr, epoch,
 * counter) and the inner length, which makes the zero padding unambiguous.
 */
static __always_inline __u64 auth_tag(const struct sip_state *inner, const void *signed_hdr,
				      __u32 inner_len)
{
	_Static_assert(MB_AUTH_SIGNED_HDR_LEN == 24, "the signed headers are three words");
	struct sip_state s = *inner;
	__u64 w[3];

	__builtin_memcpy(w, signed_hdr, sizeof(w));
	sip_absorb(&s, w[0]);
	sip_absorb(&s, w[1]);
	sip_absorb(&s, w[2]);
	sip_absorb(&s, inner_len);
	return sip_final(s, (((__u64)inner_len + 7) & ~7ULL) + 32);
}

/*
 * Sending: what every copy of one packet shares. The epoch is copied from
 * mb_auth_tx, so all copies are tagged in one session.
 */
struct auth_send {
	struct sip_state inner;
	__u64 first_counter; /* the first copy's; copy k has first_counter + k */
	__u32 inner_len;
	__u32 epoch;
	__u8 encrypt;        /* mb_config.encrypt, read once */
};

/*
 * Checks that a packet about to be placed can be sent authenticated: a
 * session exists and the packet is no GSO packet. Returns 0, or the drop
 * reason.
 */
static __always_inline int auth_open_send(struct __sk_buff *skb, __u8 encrypt,
					  struct auth_send *a)
{
	__u32 key = 0;
	struct mb_auth_tx *tx = bpf_map_lookup_elem(&mb_auth_tx, &key);

	if (!tx || !tx->epoch)
		return MB_DROP_AUTH_NO_SESSION;
	/* GSO would cut the packet after the tag was computed over all of it. */
	if (skb->gso_size)
		return MB_DROP_AUTH_GSO;
	a->epoch = tx->epoch;
	a->encrypt = encrypt;
	return 0;
}

/*
 * Seals the inner packet (after the Ethernet header) of a placed packet
 * that goes out as `copies` copies: takes their counters, encrypts it when
 * asked, and absorbs it into the tags. Runs after the packet's plaintext
 * was kept for loss repair. Returns 0, or -1 when the packet could not be
 * read or written or the session changed since auth_open_send.
 */
static __always_inline int auth_seal(struct __sk_buff *skb, struct auth_send *a, __u32 copies)
{
	__u32 key = 0;
	struct mb_auth_tx *tx = bpf_map_lookup_elem(&mb_auth_tx, &key);

	if (!tx || tx->epoch != a->epoch)
		return -1;
	a->first_counter = __sync_fetch_and_add(&tx->next_counter, copies);
	a->inner_len = skb->len - sizeof(struct ethhdr);
	if (a->encrypt && chacha20_packet(skb, tx->cipher_key, a->epoch, a->first_counter,
					  sizeof(struct ethhdr), a->inner_len, 0))
		return -1;
	return auth_absorb_inner(skb, tx->key, sizeof(struct ethhdr), a->inner_len, &a->inner);
}

/*
 * Fills the headers of copy `copy` (0 for the first), whose mb_wire_hdr is
 * `mb` with `ah` right behind it: its counter, the epoch, the tag.
 */
static __always_inline void auth_sign(const struct auth_send *a, __u8 copy,
				      struct mb_wire_hdr *mb, struct mb_auth_hdr *ah)
{
	__u64 counter = a->first_counter + copy;

	mb->copy = copy;
	/* Arithmetic, not a branch: one would double mb_encap's states per copy. */
	mb->flags |= (a->encrypt & 1) * MB_FLAG_ENCRYPTED;
	ah->epoch = bpf_htonl(a->epoch);
	ah->counter_hi = bpf_htonl((__u32)(counter >> 32));
	ah->counter_lo = bpf_htonl((__u32)counter);
	__u64 tag = auth_tag(&a->inner, mb, a->inner_len);
	__builtin_memcpy(ah->tag, &tag, sizeof(tag));
}

/*
 * RFC 6479: accepts `counter` once, within the window, and moves the window.
 * Only called for a packet whose tag verified, so nobody without the key
 * can move it. Returns 0, or the drop reason.
 */
static __always_inline int auth_accept_counter(struct mb_auth_rx *rx, __u64 counter)
{
	int reason = 0;

	bpf_spin_lock(&rx->lock);
	if (counter > rx->newest) {
		/* Clear the words the edge moves past: they held counters a window ago. */
		__u64 from = rx->newest / 64;
		__u64 moved = counter / 64 - from;
		for (__u32 i = 1; i <= MB_AUTH_BITMAP_WORDS; i++) {
			if (i > moved)
				break;
			rx->bitmap[(from + i) & (MB_AUTH_BITMAP_WORDS - 1)] = 0;
		}
		rx->newest = counter;
	} else if (rx->newest - counter > MB_AUTH_WINDOW) {
		reason = MB_DROP_AUTH_TOO_OLD;
	}
	if (!reason) {
		__u64 *word = &rx->bitmap[(counter / 64) & (MB_AUTH_BITMAP_WORDS - 1)];
		__u64 bit = 1ULL << (counter & 63);
		if (*word & bit) {
			reason = MB_DROP_AUTH_REPLAY;
		} else {
			*word |= bit;
			rx->verified++;
		}
	}
	bpf_spin_unlock(&rx->lock);
	return reason;
}

/* What auth_verify found of a genuine packet: whether and how to decrypt it. */
struct auth_verified {
	__u64 nonce;      /* the counter of its packet's first copy */
	__u32 slot;       /* the mb_auth_rx session it verified in */
	__u32 epoch;
	__u8 encrypted;   /* MB_FLAG_ENCRYPTED */
};

/*
 * Receiving: checks the packet whose mb_wire_hdr is at `wire_off` and inner
 * packet at `inner_off` (read_wire_hdr checked that both headers are
 * there), `outer_len` long by its outer IPv4 header. Where mb_config.encrypt
 * is set, a packet not encrypted is refused. Nothing about it is believed
 * before this returns 0 and fills `v`; otherwise the drop reason. Only the
 * window changes, and only for a genuine packet.
 * A global function: the verifier checks it once on its own, where inlined
 * into mb_decap its loops multiplied the paths past the 1M instruction limit.
 */
__attribute__((noinline)) int auth_verify(struct __sk_buff *skb, __u32 wire_off, __u32 inner_off,
					  __u32 outer_len, struct auth_verified *v)
{
	struct {
		struct mb_wire_hdr mb;
		struct mb_auth_hdr ah;
	} h;
	struct mb_auth_rx *rx = NULL;
	__u32 rx_slot = 0;
	struct sip_state s;
	__u64 tag, sent_tag;

	_Static_assert(sizeof(h) == MB_AUTH_SIGNED_HDR_LEN + 8, "headers are packed");
	/* Cut short on the way: say so, rather than only that the tag failed. */
	if (skb->len < sizeof(struct ethhdr) + outer_len)
		return MB_DROP_TRUNCATED;
	if (bpf_skb_load_bytes(skb, wire_off, &h, sizeof(h)) < 0)
		return MB_DROP_TRUNCATED;
	__u32 epoch = bpf_ntohl(h.ah.epoch);
	int sessions = 0;
	for (__u32 slot = 0; slot < MB_AUTH_RX_SESSIONS; slot++) {
		struct mb_auth_rx *candidate = bpf_map_lookup_elem(&mb_auth_rx, &slot);
		if (!candidate || !candidate->epoch)
			continue;
		sessions++;
		if (candidate->epoch == epoch) {
			rx = candidate;
			rx_slot = slot;
		}
	}
	if (!sessions)
		return MB_DROP_AUTH_NO_SESSION;
	if (!rx || !v)
		return MB_DROP_AUTH_EPOCH;
	__u32 inner_len = skb->len - inner_off;
	if (auth_absorb_inner(skb, rx->key, inner_off, inner_len, &s))
		return MB_DROP_TRUNCATED;
	tag = auth_tag(&s, &h, inner_len);
	__builtin_memcpy(&sent_tag, h.ah.tag, sizeof(sent_tag));
	if (tag != sent_tag)
		return MB_DROP_AUTH_BAD_TAG;
	__u32 key = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &key);
	int encrypted = h.mb.flags & MB_FLAG_ENCRYPTED;
	if (cfg && cfg->encrypt && !encrypted)
		return MB_DROP_AUTH_PLAINTEXT;
	__u64 counter = ((__u64)bpf_ntohl(h.ah.counter_hi) << 32) | bpf_ntohl(h.ah.counter_lo);
	int reason = auth_accept_counter(rx, counter);
	if (reason)
		return reason;
	v->nonce = counter - h.mb.copy;
	v->slot = rx_slot;
	v->epoch = epoch;
	v->encrypted = encrypted ? 1 : 0;
	return 0;
}

/*
 * Decrypts in place the inner packet (from `inner_off` to the end) of a
 * packet auth_verify found genuine and encrypted. Not inside auth_verify:
 * the cipher's calls would stack on its frame, past the verifier's 512
 * bytes. Returns 0, or the drop reason.
 */
static __always_inline int auth_decrypt(struct __sk_buff *skb, __u32 inner_off,
					const struct auth_verified *v)
{
	__u32 slot = v->slot;
	struct mb_auth_rx *rx = bpf_map_lookup_elem(&mb_auth_rx, &slot);

	/* The agent replaced the session since it verified: the key is gone. */
	if (!rx || rx->epoch != v->epoch)
		return MB_DROP_AUTH_EPOCH;
	if (chacha20_packet(skb, rx->cipher_key, v->epoch, v->nonce, inner_off,
			    skb->len - inner_off, BPF_F_RECOMPUTE_CSUM))
		return MB_DROP_DECAP_FAILED;
	return 0;
}

#endif /* MB_LIB_AUTH_H */
