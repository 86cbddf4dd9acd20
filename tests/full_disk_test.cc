// Data caps over a history store whose disk fills up: a 64 KiB tmpfs mounted
// in the test's scratch directory (root; skipped otherwise). Saving fails
// with one notice, the caps keep counting in the (fake) pinned map, and the
// usage reaches the disk once there is space again.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "agent/daemon/cap_manager.h"
#include "tests/fake_budget_map.h"
#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

const absl::Time kJan10 =
    absl::FromCivil(absl::CivilSecond(2025, 1, 10, 12, 0, 0), absl::UTCTimeZone());
constexpr uint64_t kLimit = 1'000'000;

CapPlan Monthly() {
  CapSettings s;
  s.limit_bytes = kLimit;
  s.timezone = "UTC";
  return *MakeCapPlan(s);
}

std::vector<std::string> Errors(const std::vector<CapNotice>& notices) {
  std::vector<std::string> errors;
  for (const CapNotice& n : notices) {
    if (n.level == CapNotice::Level::kError) errors.push_back(n.text);
  }
  return errors;
}

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    disk_ = scratch_.File("disk");
    ASSERT_EQ(mkdir(disk_.c_str(), 0700), 0) << std::strerror(errno);
    ASSERT_EQ(mount("tmpfs", disk_.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(disk_.c_str(), MNT_DETACH);
  }

  std::unique_ptr<HistoryStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        HistoryStore::Open(disk_ + "/history.db", HistoryStore::Mode::kReadWrite);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // Writes a file until the disk is full.
  void Fill() {
    const int fd = open(Filler().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    static const char block[512] = {};
    while (write(fd, block, sizeof(block)) > 0) {
    }
    const int error = errno;
    close(fd);
    ASSERT_EQ(error, ENOSPC);
  }
  void MakeRoom() { ASSERT_EQ(unlink(Filler().c_str()), 0) << std::strerror(errno); }
  std::string Filler() const { return disk_ + "/filler"; }

  CapManager Start(HistoryStore* store, std::vector<CapNotice>* notices) {
    absl::StatusOr<CapManager> m =
        CapManager::Start({{1, "wan2", Monthly()}}, store, &map_, kJan10, notices);
    EXPECT_TRUE(m.ok()) << m.status();
    return *std::move(m);
  }
  uint64_t Saved(HistoryStore& store) {
    absl::StatusOr<std::optional<CapUsage>> usage = store.LoadCapUsage("wan2");
    EXPECT_TRUE(usage.ok() && usage->has_value()) << usage.status();
    return usage.ok() && usage->has_value() ? (*usage)->used_bytes : 0;
  }

  ScratchDir scratch_;
  std::string disk_;
  bool mounted_ = false;
  FakeBudgetMap map_;
};

TEST_F(FullDiskTest, CapsKeepCountingWhileSavingFailsAndAreSavedWhenThereIsRoom) {
  std::unique_ptr<HistoryStore> store = OpenStore();
  ASSERT_TRUE(store);
  std::vector<CapNotice> notices;
  CapManager caps = Start(store.get(), &notices);
  EXPECT_TRUE(Errors(notices).empty());
  ASSERT_NO_FATAL_FAILURE(Fill());

  map_.Charge(1, 300);
  notices = caps.Poll(kJan10 + absl::Seconds(11));
  ASSERT_EQ(Errors(notices).size(), 1u) << "the first failed save is reported";
  EXPECT_THAT(Errors(notices)[0], HasSubstr("the pinned map keeps counting"));
  EXPECT_TRUE(caps.saving_fails());
  map_.Charge(1, 200);
  for (int i = 2; i <= 4; ++i) {
    EXPECT_TRUE(Errors(caps.Poll(kJan10 + absl::Seconds(11 * i))).empty()) << "only once";
  }
  EXPECT_EQ(caps.Statuses()[0].usage.used_bytes, 500u);
  EXPECT_EQ(map_.entries[1].limit_bytes, kLimit) << "the budget stays granted";
  EXPECT_EQ(map_.entries[1].remaining_bytes, static_cast<int64_t>(kLimit - 500));

  ASSERT_NO_FATAL_FAILURE(MakeRoom());
  notices = caps.Poll(kJan10 + absl::Seconds(60));
  ASSERT_FALSE(caps.saving_fails());
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_THAT(notices[0].text, HasSubstr("works again"));
  EXPECT_EQ(Saved(*store), 500u);
}

TEST_F(FullDiskTest, StartingOnAFullDiskKeepsTheUsageAndTheBudget) {
  {
    std::unique_ptr<HistoryStore> store = OpenStore();
    ASSERT_TRUE(store);
    std::vector<CapNotice> notices;
    CapManager before = Start(store.get(), &notices);
    map_.Charge(1, 700);
    EXPECT_TRUE(Errors(before.Poll(kJan10 + absl::Seconds(11))).empty());
    ASSERT_EQ(Saved(*store), 700u);
  }
  ASSERT_NO_FATAL_FAILURE(Fill());
  // The agent restarts on the full disk: the store opens for reading, and
  // the pinned map still holds what the data path charged since.
  std::unique_ptr<HistoryStore> store = OpenStore();
  ASSERT_TRUE(store);
  map_.Charge(1, 100);
  std::vector<CapNotice> notices;
  CapManager caps = Start(store.get(), &notices);
  EXPECT_EQ(Errors(notices).size(), 1u);
  EXPECT_EQ(caps.Statuses()[0].usage.used_bytes, 800u);
  EXPECT_EQ(map_.entries[1].remaining_bytes, static_cast<int64_t>(kLimit - 800));
  ASSERT_NO_FATAL_FAILURE(MakeRoom());
  caps.Poll(kJan10 + absl::Seconds(11));
  EXPECT_EQ(Saved(*store), 800u);
}

}  // namespace
}  // namespace meshbpf
