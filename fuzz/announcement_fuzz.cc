// libFuzzer target for the announcement receive path: DecodeAnnouncement and,
// for what it accepts, the replay guard, node table and path derivation.
// Besides crashes and sanitizer reports it checks that whatever the decoder
// accepts, the encoder re-encodes to something that decodes to the same.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "agent/core/discovery.h"
#include "agent/core/mesh_auth.h"
#include "fuzz/fuzz_inputs.h"

namespace meshbpf::fuzz {
namespace {

std::vector<uint8_t> Frame(const uint8_t* body, size_t size) {
  std::vector<uint8_t> f(kAnnouncementOverhead + size);
  const uint8_t header[] = {'M', 'B', 'A', 'N', 1, 0, static_cast<uint8_t>(size >> 8),
                            static_cast<uint8_t>(size)};
  std::memcpy(f.data(), header, sizeof(header));
  if (size > 0) std::memcpy(f.data() + kAnnouncementHeaderSize, body, size);
  const HmacSha256Tag tag = HmacSha256(kFuzzMeshKey, f.data(), kAnnouncementHeaderSize + size);
  std::memcpy(f.data() + kAnnouncementHeaderSize + size, tag.data(), tag.size());
  return f;
}

void CheckReencodes(const ReceivedDatagram& d) {
  std::variant<Announcement, Drop> decoded =
      DecodeAnnouncement(d.bytes.data(), d.bytes.size(), kFuzzMeshKey);
  const Announcement* a = std::get_if<Announcement>(&decoded);
  if (a == nullptr) return;
  absl::StatusOr<std::vector<uint8_t>> again = EncodeAnnouncement(*a, kFuzzMeshKey);
  if (!again.ok()) abort();  // accepted, yet our own encoder refuses it
  std::variant<Announcement, Drop> redecoded =
      DecodeAnnouncement(again->data(), again->size(), kFuzzMeshKey);
  if (!std::holds_alternative<Announcement>(redecoded) ||
      !(std::get<Announcement>(redecoded) == *a)) {
    abort();
  }
}

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (size == 0) return 0;
  ReceivedDatagram d;
  if (data[0] % 2 == kAuthenticatedBody) {
    if (size - 1 > 0xffff) return 0;  // the header's length field is 16 bits
    d.bytes = Frame(data + 1, size - 1);
  } else {
    d.bytes.assign(data + 1, data + size);
  }
  d.wire_size = d.bytes.size();
  // The second bit of the first byte picks the family it arrived over: an
  // IPv6 one from a link-local sender, with the hop limit a neighbour sends.
  if (data[0] & 2) {
    in6_addr link_local{};
    link_local.s6_addr[0] = 0xfe;
    link_local.s6_addr[1] = 0x80;
    link_local.s6_addr[15] = 2;
    d.from = {IpAddress::V6(link_local), 2};
    d.hop_limit = kDiscoveryHopLimit;
  } else {
    in_addr v4{};
    v4.s_addr = htonl(0x0a000002);
    d.from = {IpAddress::V4(v4), 2};
  }

  CheckReencodes(d);

  // Fresh state per input keeps every crash reproducible from its input.
  std::chrono::steady_clock::time_point steady{};
  ReplayGuard replay(std::chrono::seconds(60), [&] { return steady; });
  NodeTable table(std::chrono::seconds(30), [&] { return steady; });
  DropMonitor drops;
  AnnouncementIntake intake(kFuzzMeshKey, "fuzz-self", replay, table, drops,
                            [&] { return steady; });
  const std::vector<RemotePath> before4 = RemotePaths(table, false);
  const std::vector<RemotePath> before6 = RemotePaths(table, true);
  intake.Receive(d);
  intake.Receive(d);  // the same datagram twice: the second is a replay
  DiffPaths(before4, RemotePaths(table, false));
  DiffPaths(before6, RemotePaths(table, true));
  steady += std::chrono::seconds(31);
  table.Expire();
  if (!table.nodes().empty()) abort();  // expiry left a node behind
  return 0;
}
