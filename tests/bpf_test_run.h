// Running a TC program once with BPF_PROG_TEST_RUN, and reading per-CPU
// counters, for the BPF tests (tests/bpf_prog_test.cc, tests/bpf_relay_test.cc).
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "meshbpf.skel.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {

// The data path with its maps unpinned (no bpffs needed, every test starts
// clean); nullptr, with the failure reported, when it does not load.
inline meshbpf_bpf* LoadUnpinnedDatapath() {
  meshbpf_bpf* skel = meshbpf_bpf__open();
  if (skel == nullptr) {
    ADD_FAILURE() << "opening the BPF object: " << std::strerror(errno);
    return nullptr;
  }
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    if (bpf_map__set_pin_path(map, nullptr) != 0) {
      ADD_FAILURE() << "unpinning " << bpf_map__name(map);
      meshbpf_bpf__destroy(skel);
      return nullptr;
    }
  }
  if (const int err = meshbpf_bpf__load(skel); err != 0) {
    ADD_FAILURE() << "load failed (root needed): " << std::strerror(-err);
    meshbpf_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

struct RunResult {
  uint32_t verdict = 0;
  Bytes out;
};

// One run of `prog` on `in`, with skb->mark = `mark`. test_run never really
// redirects or drops: the verdict and the output bytes are what to check.
inline RunResult RunTc(bpf_program* prog, const Bytes& in, uint32_t mark = 0) {
  RunResult r;
  __sk_buff ctx{};
  ctx.mark = mark;
  r.out.resize(in.size() + 512);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = r.out.data();
  opts.data_size_out = static_cast<uint32_t>(r.out.size());
  opts.repeat = 1;
  if (mark) {
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
  }
  const int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
  EXPECT_EQ(err, 0) << "test_run: " << std::strerror(errno);
  r.verdict = err == 0 ? opts.retval : ~0u;
  r.out.resize(err == 0 ? opts.data_size_out : 0);
  return r;
}

// Slot `key` of a per-CPU map, summed over the CPUs with `add`
// (mb_counters_add, mb_relay_counters_add).
template <typename T>
T SumPerCpu(bpf_map* map, uint32_t key, void (*add)(T*, const T*)) {
  std::vector<T> per_cpu(static_cast<size_t>(libbpf_num_possible_cpus()));
  EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(map), &key, per_cpu.data()), 0);
  T sum{};
  for (const T& c : per_cpu) add(&sum, &c);
  return sum;
}

}  // namespace meshbpf::testing
