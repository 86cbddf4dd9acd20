// ResequencerMaps (agent/sys/map_io.h) over the pinned maps of a loaded data
// path, and over pins an older data path left. Needs root (BPF load,
// mount); skipped without it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/sys/map_io.h"
#include "bpf/meshbpf.h"
#include "tests/bpf_test_run.h"

namespace meshbpf::testing {
namespace {

class ResequencerMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = BpfUnavailable(); !why.empty()) GTEST_SKIP() << why;
    bpffs_ = std::make_unique<ScratchBpffs>();
    ASSERT_TRUE(bpffs_->mounted());
  }
  void TearDown() override {
    if (skel_) meshbpf_bpf__destroy(skel_);
    bpffs_.reset();
  }

  std::unique_ptr<ScratchBpffs> bpffs_;
  meshbpf_bpf* skel_ = nullptr;
};

TEST_F(ResequencerMapsTest, ReadsTheDeadlineTheOccupancyAndCountersSummedOverCpus) {
  skel_ = LoadPinnedDatapath(bpffs_->dir());
  ASSERT_NE(skel_, nullptr);
  const uint32_t key = 0;
  mb_config config{};
  config.reseq_deadline_us = 100'000;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_config), &key, &config, BPF_ANY), 0);
  mb_reseq state{};
  state.held = 7;
  state.next_seq = 1234;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_reseq), &key, &state, BPF_ANY), 0);
  // CPU i counts i + 1 of each, field f weighted by f + 1: every field and
  // every CPU must be summed to come out right.
  const int cpus = libbpf_num_possible_cpus();
  ASSERT_GT(cpus, 0);
  std::vector<mb_reseq_counters> per_cpu(static_cast<size_t>(cpus));
  uint64_t cpu_weights = 0;
  for (int i = 0; i < cpus; ++i) {
    const uint64_t n = static_cast<uint64_t>(i) + 1;
    cpu_weights += n;
    per_cpu[i] = {n, 2 * n, 3 * n, 4 * n, 10 * n, 5 * n, 6 * n, 7 * n, 8 * n, 9 * n};
  }
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_reseq_counters), &key, per_cpu.data(),
                                BPF_ANY),
            0);

  absl::StatusOr<std::unique_ptr<ResequencerMaps>> maps =
      ResequencerMaps::OpenPinned(bpffs_->dir());
  ASSERT_TRUE(maps.ok()) << maps.status();
  absl::StatusOr<ResequencerStats> read = (*maps)->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ResequencerStats expected;
  expected.deadline_us = 100'000;
  expected.occupancy = 7;
  expected.window = MB_RESEQ_WINDOW;
  expected.held = cpu_weights;
  expected.released_in_order = 2 * cpu_weights;
  expected.released_deadline = 3 * cpu_weights;
  expected.released_full = 4 * cpu_weights;
  expected.released_lost = 10 * cpu_weights;
  expected.gaps_skipped = 5 * cpu_weights;
  expected.late = 6 * cpu_weights;
  expected.duplicates = 7 * cpu_weights;
  expected.passed = 8 * cpu_weights;
  expected.resyncs = 9 * cpu_weights;
  EXPECT_EQ(*read, expected);

  // Read again after a change: nothing is cached.
  config.reseq_deadline_us = 0;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_config), &key, &config, BPF_ANY), 0);
  read = (*maps)->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->enabled());
}

TEST_F(ResequencerMapsTest, AnOlderDataPathWithoutItsMapsIsNamedAsSuch) {
  // What a data path from before resequencing left pinned: mb_config, no mb_reseq.
  const int config = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mb_config", sizeof(uint32_t),
                                    sizeof(mb_config), 1, nullptr);
  ASSERT_GE(config, 0) << std::strerror(errno);
  const std::string pin = bpffs_->dir() + "/mb_config";
  ASSERT_EQ(bpf_obj_pin(config, pin.c_str()), 0) << std::strerror(errno);
  close(config);
  absl::StatusOr<std::unique_ptr<ResequencerMaps>> maps =
      ResequencerMaps::OpenPinned(bpffs_->dir());
  unlink(pin.c_str());
  ASSERT_FALSE(maps.ok());
  EXPECT_EQ(maps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(maps.status().message()).find("predates resequencing"), std::string::npos)
      << maps.status();
}

TEST_F(ResequencerMapsTest, NoDataPathAtAllIsNotMistakenForAnOldOne) {
  absl::StatusOr<std::unique_ptr<ResequencerMaps>> maps =
      ResequencerMaps::OpenPinned(bpffs_->dir());
  ASSERT_FALSE(maps.ok());
  EXPECT_EQ(maps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(maps.status().message()).find("mb_config is not pinned"),
            std::string::npos)
      << maps.status();
}

}  // namespace
}  // namespace meshbpf::testing
