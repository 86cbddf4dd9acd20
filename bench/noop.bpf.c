/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The empty TC program: the baseline meshbpf-prog-cost measures the data
 * path's programs against, in the same run and in the same way.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int mb_noop(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
