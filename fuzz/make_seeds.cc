// Writes every fuzzer's seed corpus into DIR/<fuzzer>/: valid inputs (as
// fuzz_inputs.h lays them out), so mutation starts next to inputs that pass
// every check.
#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/core/control_protocol.h"
#include "agent/core/default_config.h"
#include "agent/core/discovery.h"
#include "agent/core/log_record.h"
#include "agent/core/probe.h"
#include "fuzz/fuzz_inputs.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/config_test_util.h"
#include "agent/core/handshake.h"
#include "tests/control_samples.h"

namespace meshbpf::fuzz {
namespace {

namespace fs = std::filesystem;

// One seed file per call, numbered within its fuzzer's directory.
class SeedWriter {
 public:
  SeedWriter(const fs::path& root, const std::string& fuzzer) : dir_(root / fuzzer) {
    fs::create_directories(dir_);
  }
  void Write(std::optional<uint8_t> selector, const void* data, size_t size) {
    std::ofstream out(dir_ / absl::StrCat("seed-", count_++), std::ios::binary | std::ios::trunc);
    if (selector) out.put(static_cast<char>(*selector));
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  void Write(std::optional<uint8_t> selector, std::string_view text) {
    Write(selector, text.data(), text.size());
  }

 private:
  fs::path dir_;
  int count_ = 0;
};

bool WriteAnnouncementSeeds(const fs::path& root) {
  SeedWriter seeds(root, "announcement_fuzz");
  std::vector<Announcement> announcements;
  Announcement minimal{"n", "x", "1", 1, 1, kFuzzWallClockMs, {}, std::nullopt};
  announcements.push_back(minimal);
  Announcement full = minimal;
  full.node_id = "node-a:01";
  full.name = "gateway.lan";
  full.version = "0.3.1+dev";
  full.epoch = kFuzzWallClockMs - 1000;
  full.seq = 42;
  full.uplinks = {
      {"eth0", UplinkType::kEthernet, 40'000, 12'000, 100, std::nullopt, true, 7211},
      {"wwan0", UplinkType::kCellular, 10'000, 60'000, 20'000, 5'000'000'000ULL, true, 7212},
      {"wlan0", UplinkType::kWifi, 0, 0, 0, std::nullopt, false},
      {"tun0", UplinkType::kOther, 1, 1, 1'000'000, 0, false},
  };
  full.relay = RelayCapability{7211, 50'000, 3'000'000'000ULL};
  announcements.push_back(full);
  // A node that uses relays: where they forward its traffic.
  Announcement bonding = full;
  bonding.uplinks.resize(2);
  bonding.relay.reset();
  in_addr peer{};
  peer.s_addr = htonl(0x0ac80002);  // 10.200.0.2
  bonding.bond = BondEndpoint{IpAddress::V4(peer), 7201, 7301};
  announcements.push_back(bonding);
  // The same over IPv6, bonding with an IPv6 peer (16 bytes on the wire).
  Announcement bonding_ipv6 = bonding;
  in6_addr peer6{};
  peer6.s6_addr[0] = 0x20;
  peer6.s6_addr[1] = 0x01;
  peer6.s6_addr[2] = 0x0d;
  peer6.s6_addr[3] = 0xb8;
  peer6.s6_addr[15] = 7;  // 2001:db8::7
  bonding_ipv6.bond->peer_address = IpAddress::V6(peer6);
  bonding_ipv6.sent_over = AF_INET6;
  announcements.push_back(bonding_ipv6);
  Announcement many = full;
  many.uplinks.clear();
  for (size_t i = 0; i < kMaxAnnouncedUplinks; ++i) {
    const bool shared = i % 2 == 0;
    many.uplinks.push_back({absl::StrCat("up", i), UplinkType::kEthernet, i, i, 0, i, shared,
                            static_cast<uint16_t>(shared ? 7211 + i : 0)});
  }
  many.relay->share_remaining_bytes = 0;
  many.bond = bonding.bond;
  announcements.push_back(many);

  for (const Announcement& a : announcements) {
    absl::StatusOr<std::vector<uint8_t>> frame = EncodeAnnouncement(a, kFuzzMeshKey);
    if (!frame.ok()) {
      std::cerr << "make_seeds: " << frame.status() << "\n";
      return false;
    }
    // The whole datagram, and the body alone (header and tag stripped).
    seeds.Write(kRawDatagram, frame->data(), frame->size());
    seeds.Write(kAuthenticatedBody, frame->data() + kAnnouncementHeaderSize,
                frame->size() - kAnnouncementOverhead);
  }
  return true;
}

void WriteProbeSeeds(const fs::path& root) {
  SeedWriter seeds(root, "probe_fuzz");
  ProbeMessage request{ProbeMessage::Type::kRequest, 1, 7, 123'456'789, 0, 0, 0};
  ProbeMessage reply{ProbeMessage::Type::kReply, 3, 8, 123'456'789, 987'654'321, 1000, 1'400'000};
  ProbeMessage repair{ProbeMessage::Type::kRepairRequest, 2, 0, 123'456'789};
  repair.repair_first_seq = 4000;
  repair.repair_missing = 0b1011;
  for (const ProbeMessage& m : {request, reply, repair}) {
    for (const std::string& key : {std::string(kFuzzMeshKey), std::string()}) {
      const ProbeBytes bytes = EncodeProbe(m, key);
      seeds.Write(kRawDatagram, bytes.data(), bytes.size());
      seeds.Write(kAuthenticatedBody, bytes.data(), bytes.size());
    }
  }
}

void WriteHandshakeSeeds(const fs::path& root) {
  SeedWriter seeds(root, "handshake_fuzz");
  // Modes 2 and 3 flip bits of the fuzzer's genuine messages: no flip at all
  // is the genuine message itself.
  seeds.Write(2, std::string(kInitiationSize, '\0'));
  seeds.Write(3, std::string(kResponseSize, '\0'));
  // Modes 0 and 1 take the bytes as they are: a well-framed message of other keys.
  const X25519KeyPair a = GenerateKeyPair(), b = GenerateKeyPair();
  const Handshake::Initiation sent = Handshake(a, b.public_key).Initiate(GenerateKeyPair(), 9, 1);
  seeds.Write(0, sent.message.data(), sent.message.size());
  absl::StatusOr<Handshake::Response> answer =
      Handshake(b, a.public_key).Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 10);
  if (answer.ok()) seeds.Write(1, answer->message.data(), answer->message.size());
}

void WriteControlSeeds(const fs::path& root) {
  SeedWriter seeds(root, "control_fuzz");
  const ControlRequest requests[] = {
      PingRequest{},   StatusRequest{},          FailoverRequest{false, "wan0", "wan1"},
      FailoverRequest{true, "", ""}, CapRequest{"wan0"}, CapRequest{}, StatsRequest{},
      TestRequest{"wan0", 5}, TestStatusRequest{}, PeersRequest{}};
  for (const ControlRequest& r : requests) seeds.Write(kControlRequest, RequestToJson(r).dump());
  // A reply type's selector: 1 + its index in ControlReply.
  auto selector = [](const ControlReply& r) { return static_cast<uint8_t>(1 + r.index()); };
  seeds.Write(selector(StatusReply{}), kSampleStatus);
  seeds.Write(selector(PeersReply{}), kSamplePeers);
  for (const ControlReply& r : {ControlReply(ErrorReply{"no such path"}), ControlReply(PingReply{}),
                                ControlReply(CapReply{}), ControlReply(StatsReply{}),
                                ControlReply(UplinkTestReply{})}) {
    seeds.Write(selector(r), ReplyToJson(r).dump());
  }
}

void WriteConfigSeeds(const fs::path& root) {
  SeedWriter seeds(root, "config_fuzz");
  seeds.Write(std::nullopt, DefaultConfigText({}));
  seeds.Write(std::nullopt, DefaultConfigText({{"wan1", "10.201.1.1"}, {"wan2", ""}}));
  seeds.Write(std::nullopt, testing_config::kClientConfig);
  seeds.Write(std::nullopt, testing_config::kMinimalConfig);
  seeds.Write(std::nullopt, testing_config::FlowConfig());
}

void WriteLogRecordSeeds(const fs::path& root) {
  SeedWriter seeds(root, "log_record_fuzz");
  const LogRecord records[] = {
      {absl::FromUnixMillis(kFuzzWallClockMs), LogLevel::kInfo, "path wan0: up"},
      {absl::FromUnixMillis(kFuzzWallClockMs + 123), LogLevel::kError, "a \"quoted\"\n\tline"},
      {absl::FromUnixMillis(0), LogLevel::kDebug, ""}};
  for (const LogRecord& r : records) {
    seeds.Write(kLogLine, FormatLogJson(r));
    seeds.Write(kLogMessage, absl::StrCat(std::string(4, '\0'), r.message));
  }
}

// Frames as the data path meets them (the addresses of the BPF tests'
// fixture): from the peer on either path, and from the bond to send.
void WriteDatapathSeeds(const fs::path& root) {
  using namespace testing;
  SeedWriter seeds(root, "datapath_fuzz");
  std::vector<Bytes> received;
  for (uint8_t path : {0, 1}) {
    MeshOptions m;
    m.path_id = path;
    m.dst = path == 0 ? kPath0Src : kPath1Src;
    received.push_back(MeshPacket(kPeer, InnerL3(), m));
    m.flags = MB_FLAG_REDUNDANT;
    m.bond_seq = 2;
    received.push_back(MeshPacket(kPeer, InnerL3(), m));
    m.flags = MB_FLAG_UNSEQUENCED;
    m.option_words = 2;
    received.push_back(MeshPacket(kPeer, InnerL3(), m));
  }
  const std::vector<Bytes> sent = {
      WithL4Checksum(Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_TCP, 1000)),
      WithL4Checksum(Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 100)),
      Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_ICMP, 56),
      Ipv6Packet(200, 0), Ethernet(kEthArp)};
  for (uint8_t mode = 0; mode <= MB_MODE_LATENCY; ++mode) {
    for (bool reseq : {false, true}) {
      for (const Bytes& frame : received) {
        seeds.Write(DatapathSelector(kDatapathDecap, mode, reseq), frame.data(), frame.size());
      }
      for (const Bytes& frame : sent) {
        seeds.Write(DatapathSelector(kDatapathEncap, mode, reseq), frame.data(), frame.size());
      }
    }
  }
}

}  // namespace
}  // namespace meshbpf::fuzz

int main(int argc, char** argv) {
  using namespace meshbpf::fuzz;
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  const std::filesystem::path root = argv[1];
  if (!WriteAnnouncementSeeds(root)) return 1;
  WriteProbeSeeds(root);
  WriteHandshakeSeeds(root);
  WriteControlSeeds(root);
  WriteConfigSeeds(root);
  WriteLogRecordSeeds(root);
  WriteDatapathSeeds(root);
  return 0;
}
