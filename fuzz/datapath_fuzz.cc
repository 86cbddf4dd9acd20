// libFuzzer target for the data path: mb_decap and mb_encap run on mutated
// frames through BPF_PROG_TEST_RUN, on the BPF tests' setup (two active
// paths over lo toward one peer, tests/bpf_datapath_fixture.h), loaded once.
// The input picks the program, the bond mode and resequencing
// (fuzz_inputs.h). Contract: the verdict is TC_ACT_UNSPEC (not ours: the
// next filter decides), TC_ACT_SHOT or TC_ACT_REDIRECT, and no counter ever goes down. The verifier already
// rules out memory errors in the programs; this finds verdicts and
// accounting that the tests do not cover.
//
// The BPF programs' branches are invisible to libFuzzer's coverage, so the
// outcome of each run (verdict, which counters moved) is fed back as extra
// counters: an input that reaches a new drop reason or path is kept.
//
// Needs root (BPF, unshare); exits 77 (skipped in ctest) without it. The
// process runs in a private network namespace whose lo is up, so what the
// programs really send (redundant copies) ends there.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fuzz/fuzz_inputs.h"
#include "tests/bpf_datapath_fixture.h"

namespace meshbpf::fuzz {
namespace {

using testing::Bytes;
using testing::RunResult;

constexpr int kModes = MB_MODE_LATENCY + 1;
constexpr size_t kCounterFields = 4 + MB_DROP_REASONS;
using CounterTable = std::array<std::array<uint64_t, kCounterFields>, MB_COUNTER_SLOTS>;

// Extra coverage for libFuzzer (cleared before each input): one counter per
// (program, mode, verdict) and per (program, slot, counter field that moved).
constexpr size_t kVerdictFeatures = 2 * kModes * 3;
__attribute__((used, section("__libfuzzer_extra_counters")))
uint8_t outcome_features[kVerdictFeatures + 2 * MB_COUNTER_SLOTS * kCounterFields];

// The BPF tests' fixture as a long-lived object: its SetUp loads and
// configures the data path, its helpers run programs and read counters.
class DatapathUnderFuzz : public testing::DatapathTest {
 public:
  void TestBody() override {}
  bool Start() {
    SetUp();
    return !SetUpStopped();
  }
  void Select(uint8_t mode, bool reseq) {
    Configure(1, mode);
    SetReseqDeadlineUs(reseq ? 2000 : 0);
  }
  // 0, or the errno of a run the kernel refused.
  int RunProgram(uint8_t program, const Bytes& frame, RunResult& result) {
    return testing::TryRunTc(program == kDatapathEncap ? skel_->progs.mb_encap
                                                       : skel_->progs.mb_decap,
                             frame, 0, result);
  }
  CounterTable ReadCounters() {
    CounterTable table{};
    for (uint32_t slot = 0; slot < MB_COUNTER_SLOTS; ++slot) {
      const mb_path_counters c = Counters(slot);
      table[slot] = {c.tx_packets, c.tx_bytes, c.rx_packets, c.rx_bytes};
      for (int r = 0; r < MB_DROP_REASONS; ++r) table[slot][4 + r] = c.drops[r];
    }
    return table;
  }
  // Whether any gtest check in the helpers failed (a map or test_run error).
  static bool HelpersFailed() { return HasFailure(); }
};

DatapathUnderFuzz* datapath = nullptr;
CounterTable last_counters{};

int VerdictIndex(uint32_t verdict) {
  switch (verdict) {
    case static_cast<uint32_t>(TC_ACT_UNSPEC):
      return 0;
    case TC_ACT_SHOT:
      return 1;
    case TC_ACT_REDIRECT:
      return 2;
    default:
      return -1;
  }
}

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (const std::string why = meshbpf::testing::BpfUnavailable(); !why.empty()) {
    std::fprintf(stderr, "datapath_fuzz: skipped: %s\n", why.c_str());
    std::exit(77);
  }
  if (const std::string error = meshbpf::testing::EnterNetnsWithLoMtu(1500, /*lo_up=*/true);
      !error.empty()) {
    std::fprintf(stderr, "datapath_fuzz: %s\n", error.c_str());
    std::exit(1);
  }
  datapath = new DatapathUnderFuzz();
  if (!datapath->Start()) {
    std::fprintf(stderr, "datapath_fuzz: the data path did not load\n");
    std::exit(1);
  }
  last_counters = datapath->ReadCounters();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (size < 1 + meshbpf::testing::kEthLen) return 0;  // test_run wants an Ethernet header
  const uint8_t program = data[0] & 1;
  const uint8_t mode = static_cast<uint8_t>((data[0] >> 1 & 7) % kModes);
  datapath->Select(mode, (data[0] & kDatapathReseq) != 0);
  RunResult result;
  const int err = datapath->RunProgram(program, Bytes(data + 1, data + size), result);
  if (DatapathUnderFuzz::HelpersFailed()) abort();
  // A frame test_run cannot make an skb of never reaches the programs.
  if (err == EINVAL) return -1;  // not worth keeping in the corpus
  if (err != 0) {
    std::fprintf(stderr, "test_run: %s\n", std::strerror(err));
    abort();
  }

  const int verdict = VerdictIndex(result.verdict);
  if (verdict < 0) {
    std::fprintf(stderr, "verdict %u outside TC_ACT_UNSPEC/SHOT/REDIRECT\n", result.verdict);
    abort();
  }
  outcome_features[(program * kModes + mode) * 3 + verdict] = 1;

  const CounterTable now = datapath->ReadCounters();
  for (size_t slot = 0; slot < now.size(); ++slot) {
    for (size_t field = 0; field < kCounterFields; ++field) {
      if (now[slot][field] < last_counters[slot][field]) {
        std::fprintf(stderr, "counter %zu of slot %zu went down\n", field, slot);
        abort();
      }
      if (now[slot][field] != last_counters[slot][field]) {
        outcome_features[kVerdictFeatures + (program * MB_COUNTER_SLOTS + slot) * kCounterFields +
                         field] = 1;
      }
    }
  }
  last_counters = now;
  return 0;
}
