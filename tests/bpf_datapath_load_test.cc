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

uint32_t PinnedValueSize(const std::string& path) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  close(fd);
  return err == 0 ? info.value_size : 0;
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

  absl::StatusOr<std::unique_ptr<Datapath>> datapath = Datapath::Load(bpffs.dir());
  ASSERT_TRUE(datapath.ok()) << datapath.status();
  EXPECT_EQ(PinnedValueSize(config_pin), sizeof(mb_config));
  // The compatible map was reused, contents and all.
  std::vector<unsigned char> read(sizeof(mb_dedup), 0);
  const int reused = bpf_obj_get(dedup_pin.c_str());
  ASSERT_GE(reused, 0);
  ASSERT_EQ(bpf_map_lookup_elem(reused, &key, read.data()), 0);
  close(reused);
  EXPECT_EQ(read, kept);
}

}  // namespace
}  // namespace meshbpf::testing
