/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Another program's TC filter, for vmtests/test_coexistence.sh: a firewall
 * that drops ICMP echo requests and passes everything else. Whether pings
 * get through says whether it still sees the packets meshbpf's filter
 * leaves alone.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int firewall(struct __sk_buff *skb)
{
	struct iphdr ip;
	__u8 icmp_type;

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &ip, sizeof(ip)) < 0 ||
	    ip.protocol != IPPROTO_ICMP ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + ip.ihl * 4, &icmp_type, 1) < 0)
		return TC_ACT_OK;
	return icmp_type == 8 ? TC_ACT_SHOT : TC_ACT_OK;
}
