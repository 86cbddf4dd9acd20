/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet access and forwarding shared by every mode: direct reads of packet
 * bytes, addresses of either family, the IPv4 header checksum, sending a
 * packet out of a path's uplink. */
#ifndef MB_LIB_PACKET_H
#define MB_LIB_PACKET_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "meshbpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Whether two IPv6 addresses are the same (BPF has no memcmp). */
static __always_inline int ip6_equal(const __u8 *a, const __u8 *b)
{
	__u8 differ = 0;

	for (int i = 0; i < 16; i++)
		differ |= a[i] ^ b[i];
	return !differ;
}

/* An IPv6 address of all zeros (no gateway configured). */
static __always_inline int ip6_is_zero(const __u8 *a)
{
	__u8 any = 0;

	for (int i = 0; i < 16; i++)
		any |= a[i];
	return !any;
}

/* Whether two addresses of either family are the same. */
static __always_inline int addr_equal(const struct mb_addr *a, const struct mb_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
		(a->w[3] ^ b->w[3])) == 0;
}

/* Path p's own (outer source) address, IPv4 or IPv6: what a flow on it is
 * NATed to, where a relay's traffic on it leaves from. */
static __always_inline void path_src_addr(const struct mb_path *p, struct mb_addr *out)
{
	if (p->flags & MB_PATH_F_IPV6) {
		__builtin_memcpy(out, p->src_ip6, sizeof(*out));
	} else {
		__builtin_memset(out, 0, sizeof(*out));
		out->w[0] = p->src_ip;
	}
}

/*
 * mb_decap's verdict for a packet that is not meshbpf's: the next filter on
 * the uplink's hook (a firewall's, Cilium's) classifies it. TC_ACT_OK would
 * end classification with us and hide the packet from them; with no other
 * filter, TC_ACT_UNSPEC passes it up just the same.
 */
#define MB_NOT_OURS TC_ACT_UNSPEC

/* The ECN field of the IPv4 TOS byte or IPv6 traffic class (RFC 3168). */
#define MB_ECN_MASK 0x03
#define MB_ECN_CE 0x03

/*
 * Packet pointer to `len` bytes at `off`, for direct reads: a helper call
 * per header costs about as much as the rest of the parsing. Pulls the bytes
 * into the linear area if a driver left them paged; NULL if the packet is
 * shorter. Any helper call that changes the packet invalidates the pointer.
 */
static __always_inline void *packet_bytes(struct __sk_buff *skb, __u32 off, __u32 len)
{
	/*
	 * Reload data and data_end: a copy clang kept is no packet pointer to
	 * the verifier. And keep skb opaque: clang otherwise may keep
	 * skb + offsetof(data_end) in a register, and the verifier refuses a
	 * read through a moved context pointer.
	 */
	asm volatile("" : "+r"(skb) :: "memory");
	void *p = (void *)(long)skb->data + off;

	if (p + len <= (void *)(long)skb->data_end)
		return p;
	if (bpf_skb_pull_data(skb, off + len) < 0)
		return NULL;
	asm volatile("" : "+r"(skb));
	p = (void *)(long)skb->data + off;
	return p + len <= (void *)(long)skb->data_end ? p : NULL;
}

/*
 * Walks of bpf_loop over the packet's bytes [start, end), `chunk` bytes (a
 * power of two) per step: step `i` covers [start + i * chunk, end). The
 * step finds its place from `i` rather than from an offset it moved: the
 * verifier then sees every visit of the step start alike and checks it
 * once or twice, where a moving offset made it check the step once per
 * chunk of the largest packet.
 */
struct packet_walk {
	struct __sk_buff *skb;
	__u32 start;
	__u32 end;
	__u32 failed;  /* a load failed */
};

/*
 * Loads step i's part of the walk into `buf` (`chunk` bytes long) and sets
 * *off to where it starts. Returns its length (1..chunk), or 0 past the
 * end or when the load failed (w->failed says which).
 */
static __always_inline __u32 walk_load(struct packet_walk *w, __u32 i, __u32 chunk, void *buf,
				       __u32 *off)
{
	__u32 at = w->start + i * chunk;

	if (at >= w->end || i >= 0xffff)
		return 0;
	__u32 len = w->end - at;
	if (len > chunk)
		len = chunk;
	/* 1..chunk, in a form the verifier follows (clang drops the at < end bound). */
	len = ((len - 1) & (chunk - 1)) + 1;
	if (bpf_skb_load_bytes(w->skb, at, buf, len) < 0) {
		w->failed = 1;
		return 0;
	}
	*off = at;
	return len;
}

static __always_inline __u16 ipv4_csum(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sends the packet out of path p's uplink, to its gateway or else to the FIB's next hop. */
static __always_inline long redirect_to_path(const struct mb_path *p)
{
	if (p->flags & MB_PATH_F_IPV6) {
		if (ip6_is_zero(p->gateway6))
			return bpf_redirect_neigh(p->ifindex, NULL, 0, 0);
		struct bpf_redir_neigh nh = { .nh_family = AF_INET6 };
		__builtin_memcpy(nh.ipv6_nh, p->gateway6, sizeof(nh.ipv6_nh));
		return bpf_redirect_neigh(p->ifindex, &nh, sizeof(nh), 0);
	}
	if (p->gateway) {
		struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = p->gateway };
		return bpf_redirect_neigh(p->ifindex, &nh, sizeof(nh), 0);
	}
	return bpf_redirect_neigh(p->ifindex, NULL, 0, 0);
}

#endif /* MB_LIB_PACKET_H */
