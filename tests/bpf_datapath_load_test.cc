// Datapath::Load over maps an older meshbpf pinned: a map whose shape
// changed is replaced, the others keep their contents. Needs root (BPF
// load, mount); skipped without it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/sys/datapath.h"
#include "bpf/meshbpf.h"
#include "tests/bpf_test_run.h"

namespace meshbpf::testing {
namespace {

bpf_map_info PinnedInfo(const std::string& path) {
  bpf_map_info info{};
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return info;
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(fd, &info, &len);
  close(fd);
  return info;
}

TEST(DatapathLoadTest, ReplacesAPinnedMapOfAnotherShapeAndKeepsTheOthers) {
  if (const std::string why = BpfUnavailable(); !why.empty()) GTEST_SKIP() << why;
  ScratchBpffs bpffs;
  ASSERT_TRUE(bpffs.mounted());
  const std::string config_pin = bpffs.dir() + "/mb_config";
  const std::string dedup_pin = bpffs.dir() + "/mb_dedup";
  // An older mb_config, 8 bytes shorter, and an mb_dedup as this version has it.
  const int old_config = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mb_config", sizeof(uint32_t),
                                        sizeof(mb_config) - 8, 1, nullptr);
  const int dedup = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mb_dedup", sizeof(uint32_t),
                                   sizeof(mb_dedup), 1, nullptr);
  ASSERT_GE(old_config, 0);
  ASSERT_GE(dedup, 0);
  ASSERT_EQ(bpf_obj_pin(old_config, config_pin.c_str()), 0);
  ASSERT_EQ(bpf_obj_pin(dedup, dedup_pin.c_str()), 0);
  const uint32_t key = 0;
  std::vector<unsigned char> kept(sizeof(mb_dedup), 0x5a);
  ASSERT_EQ(bpf_map_update_elem(dedup, &key, kept.data(), BPF_ANY), 0);
  close(old_config);
  close(dedup);

  absl::StatusOr<std::unique_ptr<Datapath>> datapath = Datapath::Load(bpffs.dir(), MB_RESEQ_WINDOW, false);
  ASSERT_TRUE(datapath.ok()) << datapath.status();
  EXPECT_EQ(PinnedInfo(config_pin).value_size, sizeof(mb_config));
  // The compatible map was reused, contents and all.
  std::vector<unsigned char> read(sizeof(mb_dedup), 0);
  const int reused = bpf_obj_get(dedup_pin.c_str());
  ASSERT_GE(reused, 0);
  ASSERT_EQ(bpf_map_lookup_elem(reused, &key, read.data()), 0);
  close(reused);
  EXPECT_EQ(read, kept);
}

// A restart with faster uplinks in the config needs more slots: the pinned
// slots are replaced (what they held is lost, nothing else is).
TEST(DatapathLoadTest, ResizesTheResequencerSlots) {
  if (const std::string why = BpfUnavailable(); !why.empty()) GTEST_SKIP() << why;
  ScratchBpffs bpffs;
  ASSERT_TRUE(bpffs.mounted());
  const std::string slots_pin = bpffs.dir() + "/mb_reseq_slots";
  {
    absl::StatusOr<std::unique_ptr<Datapath>> first = Datapath::Load(bpffs.dir(), MB_RESEQ_WINDOW, false);
    ASSERT_TRUE(first.ok()) << first.status();
  }
  EXPECT_EQ(PinnedInfo(slots_pin).max_entries, uint32_t{MB_RESEQ_WINDOW});
  absl::StatusOr<std::unique_ptr<Datapath>> larger = Datapath::Load(bpffs.dir(), 4 * MB_RESEQ_WINDOW, false);
  ASSERT_TRUE(larger.ok()) << larger.status();
  EXPECT_EQ(PinnedInfo(slots_pin).max_entries, 4u * MB_RESEQ_WINDOW);

  for (const uint32_t wrong : {3000u, 512u, 2u * MB_RESEQ_SLOTS_MAX}) {
    absl::StatusOr<std::unique_ptr<Datapath>> refused = Datapath::Load(bpffs.dir(), wrong, false);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << wrong;
    EXPECT_NE(refused.status().message().find(std::to_string(wrong)), std::string::npos)
        << refused.status();
  }
}

}  // namespace
}  // namespace meshbpf::testing
