// What every BPF test shares: a fresh data path per test (BpfProgTest, which
// skips where BPF cannot be loaded), running a TC program once with
// BPF_PROG_TEST_RUN, per-CPU counters, byte comparison with pcap output.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/sys/reseq_slots.h"
#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {

constexpr uint32_t kRedirect = TC_ACT_REDIRECT;
constexpr uint32_t kShot = TC_ACT_SHOT;
// Not meshbpf's packet: the next filter on the hook decides (MB_NOT_OURS).
constexpr uint32_t kNotOurs = static_cast<uint32_t>(TC_ACT_UNSPEC);

// Why this process cannot load BPF programs, or "" when it can: the tests
// skip, saying why, rather than fail where the environment forbids BPF.
inline std::string BpfUnavailable() {
  if (geteuid() != 0) return "needs root: loads BPF programs, unshares, mounts a bpffs";
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mb_bpf_check", 4, 4, 1, nullptr);
  if (fd < 0) return std::string("BPF is not available here: ") + std::strerror(errno);
  close(fd);
  return "";
}

// Loads an opened skeleton; nullptr (skeleton destroyed), with the failure
// reported, when either step failed.
inline meshbpf_bpf* LoadOpenedDatapath(meshbpf_bpf* skel) {
  if (skel == nullptr) {
    ADD_FAILURE() << "opening the BPF object: " << std::strerror(errno);
    return nullptr;
  }
  if (const int err = meshbpf_bpf__load(skel); err != 0) {
    ADD_FAILURE() << "load failed: " << std::strerror(-err);
    meshbpf_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

// The data path with its maps unpinned (no bpffs needed, every test starts
// clean) and `reseq_slots` resequencer slots; nullptr, with the failure
// reported, when it does not load.
inline meshbpf_bpf* LoadUnpinnedDatapath(uint32_t reseq_slots) {
  meshbpf_bpf* skel = meshbpf_bpf__open();
  if (skel == nullptr) return LoadOpenedDatapath(nullptr);
  if (const absl::Status s = SizeResequencer(skel, reseq_slots, /*loss_repair=*/true); !s.ok()) {
    ADD_FAILURE() << s;
    meshbpf_bpf__destroy(skel);
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
  return LoadOpenedDatapath(skel);
}

// A bpffs mounted on a new directory under /tmp, for a test's pins;
// unmounted and removed again. Only where BpfUnavailable() is "".
class ScratchBpffs {
 public:
  ScratchBpffs() {
    char dir[] = "/tmp/meshbpf-bpffs-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
      return;
    }
    dir_ = dir;
    mounted_ = mount("bpf", dir, "bpf", 0, "mode=0700") == 0;
    if (!mounted_) ADD_FAILURE() << "mounting a bpffs on " << dir_ << ": " << std::strerror(errno);
  }
  ~ScratchBpffs() {
    if (mounted_) umount(dir_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  ScratchBpffs(const ScratchBpffs&) = delete;
  ScratchBpffs& operator=(const ScratchBpffs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// The data path with its maps pinned under `pin_dir`, as the agent loads
// it; nullptr, with the failure reported, when it does not load.
inline meshbpf_bpf* LoadPinnedDatapath(const std::string& pin_dir) {
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_dir.c_str();
  return LoadOpenedDatapath(meshbpf_bpf__open_opts(&opts));
}

struct RunResult {
  uint32_t verdict = 0;
  Bytes out;
};

// One run of `prog` on `in`, with skb->mark = `mark` and as if it arrived on
// `ingress_ifindex` (0: no device), into `r`; 0, or the
// errno of a test_run the kernel refused (EINVAL for a frame it will not
// build an skb from, e.g. a cut-short IPv4 header). test_run never really
// redirects or drops: the verdict and the output bytes are what to check.
inline int TryRunTc(bpf_program* prog, const Bytes& in, uint32_t mark, RunResult& r,
                    uint32_t ingress_ifindex = 0) {
  __sk_buff ctx{};
  ctx.mark = mark;
  ctx.ingress_ifindex = ingress_ifindex;
  r.out.resize(in.size() + 512);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = r.out.data();
  opts.data_size_out = static_cast<uint32_t>(r.out.size());
  opts.repeat = 1;
  if (mark || ingress_ifindex) {
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
  }
  const int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) == 0 ? 0 : errno;
  r.verdict = err == 0 ? opts.retval : ~0u;
  r.out.resize(err == 0 ? opts.data_size_out : 0);
  return err;
}

// TryRunTc, expecting the kernel to run it.
inline RunResult RunTc(bpf_program* prog, const Bytes& in, uint32_t mark = 0,
                       uint32_t ingress_ifindex = 0) {
  RunResult r;
  const int err = TryRunTc(prog, in, mark, r, ingress_ifindex);
  EXPECT_EQ(err, 0) << "test_run: " << std::strerror(err);
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

// The clock bpf_ktime_get_ns reads.
inline uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline std::string CurrentTestName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? info->name() : "unknown";
}

// Byte comparison that, on a mismatch, names the first differing offset and
// writes both frames as pcaps. Frames that are only an L3 part get a dummy
// Ethernet header in the pcap so Wireshark still decodes them.
inline ::testing::AssertionResult BytesEqual(const Bytes& actual, const Bytes& expected,
                                             const std::string& what, bool l3_only = false) {
  if (actual == expected) return ::testing::AssertionSuccess();
  auto frame = [&](const Bytes& b) {
    if (!l3_only) return b;
    Bytes f = Ethernet(!b.empty() && b[0] >> 4 == 6 ? kEthIpv6 : kEthIpv4);
    f.insert(f.end(), b.begin(), b.end());
    return f;
  };
  const std::string name = CurrentTestName() + "-" + what;
  return ::testing::AssertionFailure()
         << what << ": bytes differ at offset " << FirstDifference(actual, expected)
         << " (sizes " << actual.size() << " vs " << expected.size() << "); output written to "
         << DumpPcap(frame(actual), name) << ", expected to "
         << DumpPcap(frame(expected), name + "-want");
}

// Moves the calling thread into a fresh network namespace whose loopback has
// the given MTU (and is up with lo_up); "" on success, else what failed.
// test_run gives the skb the loopback of the caller's netns and
// bpf_check_mtu looks the uplink's ifindex up in that netns, so the paths'
// ifindex (lo = 1 everywhere) now names a device of that MTU. With lo_up,
// packets a program really sends (bpf_clone_redirect) are taken by that lo
// and end in that namespace. The host's lo is never touched.
inline std::string EnterNetnsWithLoMtu(int mtu, bool lo_up) {
  if (unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  req.ifr_mtu = mtu;
  std::string error;
  if (ioctl(fd, SIOCSIFMTU, &req) != 0) {
    error = std::string("SIOCSIFMTU on the private lo: ") + std::strerror(errno);
  } else if (req.ifr_mtu = 0; ioctl(fd, SIOCGIFMTU, &req) != 0 || req.ifr_mtu != mtu) {
    error = "the private lo's MTU did not take";
  } else if (req.ifr_flags = IFF_UP; lo_up && ioctl(fd, SIOCSIFFLAGS, &req) != 0) {
    error = std::string("bringing the private lo up: ") + std::strerror(errno);
  } else if (if_nametoindex("lo") != 1u) {
    error = "the private lo is not ifindex 1";
  }
  close(fd);
  return error;
}

// Runs body on a thread inside such a namespace (EnterNetnsWithLoMtu); the
// namespace disappears when the thread exits.
inline void InNetnsWithLoMtu(int mtu, const std::function<void()>& body, bool lo_up = false) {
  std::thread t([&] {
    const std::string error = EnterNetnsWithLoMtu(mtu, lo_up);
    ASSERT_EQ(error, "");
    body();
  });
  t.join();
}

// Every record a ring buffer map holds, consumed; each goes to `on_record`.
inline void ConsumeRingBuffer(bpf_map* map, std::function<void(const void*, size_t)> on_record) {
  auto call = [](void* ctx, void* data, size_t size) {
    (*static_cast<std::function<void(const void*, size_t)>*>(ctx))(data, size);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(map), call, &on_record, nullptr);
  ASSERT_NE(rb, nullptr) << "reading " << bpf_map__name(map) << ": " << std::strerror(errno);
  EXPECT_GE(ring_buffer__consume(rb), 0);
  ring_buffer__free(rb);
}

// Every entry of every writable map of `skel` back to what a fresh load
// has: arrays zeroed, ring buffers read empty, other maps emptied.
// (.rodata is frozen, and the programs keep no state outside maps.)
inline void ResetMaps(meshbpf_bpf* skel) {
  const size_t cpus = static_cast<size_t>(libbpf_num_possible_cpus());
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    const std::string name = bpf_map__name(map);
    if (name.ends_with(".rodata") || name.ends_with(".kconfig")) continue;
    const int fd = bpf_map__fd(map);
    const bpf_map_type type = bpf_map__type(map);
    if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
      const size_t value = type == BPF_MAP_TYPE_ARRAY ? bpf_map__value_size(map)
                                                      : (bpf_map__value_size(map) + 7) / 8 * 8 * cpus;
      const std::vector<uint8_t> zeros(value, 0);
      for (uint32_t key = 0; key < bpf_map__max_entries(map); ++key) {
        ASSERT_EQ(bpf_map_update_elem(fd, &key, zeros.data(), BPF_ANY), 0) << name << "[" << key << "]";
      }
      continue;
    }
    if (type == BPF_MAP_TYPE_RINGBUF) {
      ConsumeRingBuffer(map, [](const void*, size_t) {});
      continue;
    }
    std::vector<uint8_t> key(bpf_map__key_size(map));
    while (bpf_map_get_next_key(fd, nullptr, key.data()) == 0) {
      ASSERT_EQ(bpf_map_delete_elem(fd, key.data()), 0) << name;
    }
  }
}

// The data path, maps unpinned, devices lo, as a fresh load leaves it: one
// load per resequencer size for the whole run (verifying takes ~0.6 s),
// its maps reset before every test. Derived fixtures configure it in their
// SetUp after this one's, unless it skipped or failed.
class BpfProgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = BpfUnavailable(); !why.empty()) GTEST_SKIP() << why;
    static std::map<uint32_t, meshbpf_bpf*>* loaded = new std::map<uint32_t, meshbpf_bpf*>;
    meshbpf_bpf*& skel = (*loaded)[ReseqSlotCount()];
    if (skel == nullptr) skel = LoadUnpinnedDatapath(ReseqSlotCount());
    ASSERT_NE(skel, nullptr);
    skel_ = skel;
    ResetMaps(skel_);
    if (HasFatalFailure()) return;
    lo_ = if_nametoindex("lo");
    ASSERT_GT(lo_, 0u);
  }
  // The resequencer's slots this fixture loads the data path with.
  virtual uint32_t ReseqSlotCount() const { return MB_RESEQ_WINDOW; }
  // Whether a derived fixture's SetUp should stop after this one's.
  static bool SetUpStopped() { return HasFatalFailure() || IsSkipped(); }

  static int Fd(bpf_map* map) { return bpf_map__fd(map); }

  // Every packet arrives on lo, the device the tests' paths and relays use.
  RunResult Run(bpf_program* prog, const Bytes& in, uint32_t mark = 0) {
    return RunTc(prog, in, mark, lo_);
  }
  RunResult Encap(const Bytes& in) { return Run(skel_->progs.mb_encap, in); }
  RunResult Decap(const Bytes& in) { return Run(skel_->progs.mb_decap, in); }

  mb_path_counters Counters(uint32_t slot) {
    return SumPerCpu(skel_->maps.mb_counters, slot, mb_counters_add);
  }
  // Every drop counter of every slot, so a test can assert that exactly the
  // expected one moved.
  uint64_t TotalDrops() {
    uint64_t n = 0;
    for (uint32_t slot = 0; slot < MB_COUNTER_SLOTS; ++slot) {
      const mb_path_counters c = Counters(slot);
      for (int r = 0; r < MB_DROP_REASONS; ++r) n += c.drops[r];
    }
    return n;
  }

  // mb_budget[slot]: a path's data cap, or the relay share (MB_RELAY_BUDGET).
  void SetCap(uint32_t slot, uint64_t limit, int64_t remaining, uint32_t policy = MB_CAP_STOP) {
    mb_budget b{};
    b.limit_bytes = limit;
    b.remaining_bytes = remaining;
    b.policy = policy;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_budget), &slot, &b, BPF_ANY), 0);
  }
  int64_t Remaining(uint32_t slot) {
    mb_budget b{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_budget), &slot, &b), 0);
    return b.remaining_bytes;
  }

  meshbpf_bpf* skel_ = nullptr;
  uint32_t lo_ = 0;
};

}  // namespace meshbpf::testing
