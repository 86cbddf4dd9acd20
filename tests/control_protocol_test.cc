#include "agent/core/control_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control_samples.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

// Reading today's document and writing it again gives the same text: the
// wire format (and the CLI's --json output) does not change.
template <typename Reply>
void ExpectRoundTrip(const std::string& text, const std::string& what) {
  const nlohmann::json doc = nlohmann::json::parse(text);
  absl::StatusOr<Reply> reply = FromJson<Reply>(doc, what);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(ToJson(*reply).dump(), doc.dump());
}

constexpr char kStats[] = R"({
  "bond": "mb0", "unattributed_drops_total": 4, "history_file": "/var/lib/meshbpf/a.db",
  "sample_interval": 1.0,
  "paths": [
    {"id": 0, "name": "wan0", "status": "up", "weight": 0.75, "tx_bytes_total": 1000,
     "rx_bytes_total": 2000, "tx_packets_total": 10, "rx_packets_total": 20,
     "drops_total": 1, "tx_bytes_per_s": 125.5, "rx_bytes_per_s": 250.0,
     "traffic_share": 0.5, "rtt_ms": 1.5, "jitter_ms": 0.25, "loss": 0.0,
     "cap": {"used_bytes": 10, "limit_bytes": 100}, "bulk_excluded": false,
     "guard_decisions": []},
    {"id": 1, "name": "wan1", "status": "backup", "weight": 0.0, "tx_bytes_total": 0,
     "rx_bytes_total": 0, "tx_packets_total": 0, "rx_packets_total": 0, "drops_total": 0,
     "tx_bytes_per_s": 0.0, "rx_bytes_per_s": 0.0, "traffic_share": 0.0, "rtt_ms": null,
     "jitter_ms": null, "loss": 0.0, "cap": null, "bulk_excluded": true,
     "guard_decisions": [{"reason": "jitter", "count": 2}, {"reason": "readmitted", "count": 1}]}
  ],
  "resequencing": {"deadline_us": 100000, "occupancy": 3, "window": 256, "held": 1491,
                   "released_in_order": 1480, "released_deadline": 8, "released_full": 0, "released_lost": 2,
                   "gaps_skipped": 2, "late": 1, "duplicates": 4, "passed": 5, "resyncs": 6,
                   "repairs_requested": 9, "repaired": 7}
})";

TEST(ControlProtocolTest, StatusRoundTrip) {
  ExpectRoundTrip<StatusReply>(kSampleStatus, "status");
}

TEST(ControlProtocolTest, StatusReadsOptionalParts) {
  absl::StatusOr<StatusReply> status =
      FromJson<StatusReply>(nlohmann::json::parse(kSampleStatus), "status");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->nodes, 2u);
  ASSERT_EQ(status->paths.size(), 4u);
  ASSERT_TRUE(status->paths[0].rtt.has_value());
  EXPECT_DOUBLE_EQ(status->paths[0].rtt->queue_delay_ms, 0.5);
  EXPECT_FALSE(status->paths[1].rtt.has_value());
  EXPECT_FALSE(status->paths[1].relay.has_value());
  ASSERT_TRUE(status->paths[2].relay.has_value());
  EXPECT_EQ(status->paths[2].relay->node, "beta");
  EXPECT_FALSE(status->paths[3].remote.has_value());
  EXPECT_FALSE(status->caps[1].resets_at.has_value());
  ASSERT_TRUE(status->authentication.has_value());
  EXPECT_EQ(status->authentication->send_epoch, 0xdeadbeefu);
  ASSERT_TRUE(status->loss_repair.has_value());
  EXPECT_EQ(status->loss_repair->repairs_sent, 30u);
}

TEST(ControlProtocolTest, StatusWithoutMeshOrCaps) {
  ExpectRoundTrip<StatusReply>(
      R"({"mode": "flow", "probing": false, "invalid_probes": 0, "nodes": null,
          "paths": [], "caps": [], "transitions": [], "guard_decisions": [],
          "authentication": null, "loss_repair": null, "routing": null})",
      "status");
}

TEST(ControlProtocolTest, CapRoundTrip) {
  const nlohmann::json caps = {{"caps", nlohmann::json::parse(kSampleStatus)["caps"]}};
  ExpectRoundTrip<CapReply>(caps.dump(), "cap");
  ExpectRoundTrip<CapReply>(R"({"caps": []})", "cap");
}

TEST(ControlProtocolTest, StatsRoundTrip) { ExpectRoundTrip<StatsReply>(kStats, "stats"); }

TEST(ControlProtocolTest, StatsCarryEveryResequencerCounter) {
  absl::StatusOr<StatsReply> reply = FromJson<StatsReply>(nlohmann::json::parse(kStats), "stats");
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->snapshot.resequencing.has_value());
  const ResequencerStats& r = *reply->snapshot.resequencing;
  EXPECT_EQ(r.deadline_us, 100000u);
  EXPECT_EQ(r.occupancy, 3u);
  EXPECT_EQ(r.window, 256u);
  EXPECT_EQ(r.held, 1491u);
  EXPECT_EQ(r.released_in_order, 1480u);
  EXPECT_EQ(r.released_deadline, 8u);
  EXPECT_EQ(r.released_full, 0u);
  EXPECT_EQ(r.released_lost, 2u);
  EXPECT_EQ(r.gaps_skipped, 2u);
  EXPECT_EQ(r.late, 1u);
  EXPECT_EQ(r.duplicates, 4u);
  EXPECT_EQ(r.passed, 5u);
  EXPECT_EQ(r.resyncs, 6u);
  EXPECT_EQ(r.repairs_requested, 9u);
  EXPECT_EQ(r.repaired, 7u);
}

TEST(ControlProtocolTest, StatsWithoutTheResequencer) {
  // Unread: null, written back as null.
  nlohmann::json stats = nlohmann::json::parse(kStats);
  stats["resequencing"] = nullptr;
  ExpectRoundTrip<StatsReply>(stats.dump(), "stats");
  // An older agent leaves the field out.
  stats.erase("resequencing");
  absl::StatusOr<StatsReply> reply = FromJson<StatsReply>(stats, "stats");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->snapshot.resequencing.has_value());
}

TEST(ControlProtocolTest, UplinkTestRoundTrip) {
  ExpectRoundTrip<UplinkTestReply>(R"({"running": true, "elapsed": 1.25, "total": 5.6})", "test");
  ExpectRoundTrip<UplinkTestReply>(
      R"({"running": false, "elapsed": 5.6, "total": 5.6, "results": [
            {"path": "wan2", "delivered_mbit": 8.0, "sent_mbit": 10.0, "delivery_loss": 0.05,
             "rtt_ms": 1.5, "jitter_ms": 0.25, "probe_loss": 0.0},
            {"path": "wan3", "delivered_mbit": null, "sent_mbit": null,
             "delivery_loss": null, "rtt_ms": null, "jitter_ms": null, "probe_loss": 1.0}]})",
      "test");
}

TEST(ControlProtocolTest, PeersRoundTrip) {
  ExpectRoundTrip<PeersReply>(kSamplePeers, "peers");
  // A node that sent no uplinks or relay but a bond endpoint (with an IPv6
  // peer, which relays cannot reach yet); a relay whose counters were not
  // readable.
  nlohmann::json peers = nlohmann::json::parse(kSamplePeers);
  peers["nodes"].push_back({{"id", "m1:c"},
                            {"name", "gamma"},
                            {"address", "10.210.0.3"},
                            {"version", "0.1.0"},
                            {"epoch", 3},
                            {"seq", 1},
                            {"age_s", 1.0},
                            {"joined_unix_ms", nullptr},
                            {"uplinks", nlohmann::json::array()},
                            {"relay", nullptr},
                            {"bond", {{"peer", "[2001:db8::8]:7201"}, {"tunnel_port", 7201}}},
                            {"used_as_paths", false},
                            {"our_paths", nlohmann::json::array()},
                            {"addresses", {{{"family", "ipv4"},
                                            {"address", "10.210.0.3"},
                                            {"interface", "lan0"},
                                            {"age_s", 1.0}}}},
                            {"relay_unsupported",
                             "its bonding peer 2001:db8::8 is IPv6 but it is heard only over IPv4"}});
  for (const char* counted : {"fwd_packets", "fwd_bytes", "ret_packets", "ret_bytes", "drops"}) {
    peers["relaying"]["relays"][0].erase(counted);
  }
  ExpectRoundTrip<PeersReply>(peers.dump(), "peers");
}

TEST(ControlProtocolTest, RefusalsAreRecognised) {
  EXPECT_EQ(RefusalIn({{"error", "no test has run"}})->error, "no test has run");
  EXPECT_EQ(RefusalIn({{"error", 3}})->error, "the agent refused");
  EXPECT_FALSE(RefusalIn({{"ok", true}}).has_value());
  EXPECT_FALSE(RefusalIn(nlohmann::json::array()).has_value());
}

TEST(ControlProtocolTest, PingAndErrorRoundTrip) {
  ExpectRoundTrip<PingReply>(R"({"ok": true})", "ping");
  ExpectRoundTrip<ErrorReply>(R"({"error": "a test is already running"})", "test");
}

TEST(ControlProtocolTest, ReplyErrorsNameTheField) {
  nlohmann::json status = nlohmann::json::parse(kSampleStatus);
  status["paths"][2]["rtt_ms"] = "fast";
  EXPECT_EQ(FromJson<StatusReply>(status, "status").status().message(),
            "status: \"paths[2].rtt_ms\" must be a number");
  status = nlohmann::json::parse(kSampleStatus);
  status["paths"][2]["relay"].erase("port");
  EXPECT_EQ(FromJson<StatusReply>(status, "status").status().message(),
            "status: \"paths[2].relay.port\" is missing");
  nlohmann::json stats = nlohmann::json::parse(kStats);
  stats["paths"][0]["status"] = "sideways";
  EXPECT_THAT(std::string(FromJson<StatsReply>(stats, "stats").status().message()),
              HasSubstr("\"paths[0].status\" is an unknown path status \"sideways\""));
  stats = nlohmann::json::parse(kStats);
  stats["paths"][0]["id"] = -1;
  EXPECT_THAT(std::string(FromJson<StatsReply>(stats, "stats").status().message()),
              HasSubstr("\"paths[0].id\" must be an integer within 0..4294967295"));
  stats = nlohmann::json::parse(kStats);
  stats["resequencing"].erase("passed");
  EXPECT_THAT(std::string(FromJson<StatsReply>(stats, "stats").status().message()),
              HasSubstr("\"resequencing.passed\" is missing"));
  nlohmann::json peers = nlohmann::json::parse(kSamplePeers);
  peers["relaying"]["relays"][0]["drops"]["rate"] = true;
  EXPECT_EQ(FromJson<PeersReply>(peers, "peers").status().message(),
            "peers: \"relaying.relays[0].drops.rate\" must be an integer within "
            "0..18446744073709551615");
  EXPECT_EQ(FromJson<CapReply>(nlohmann::json::array(), "cap").status().message(),
            "cap: must be an object");
}

// --- Requests -----------------------------------------------------------------------

void ExpectRequestRoundTrip(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text);
  absl::StatusOr<ControlRequest> request = RequestFromJson(doc);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(RequestToJson(*request).dump(), doc.dump());
}

TEST(ControlRequestTest, RoundTripOfEveryCommand) {
  ExpectRequestRoundTrip(R"({"command": "ping"})");
  ExpectRequestRoundTrip(R"({"command": "status"})");
  ExpectRequestRoundTrip(R"({"command": "failover", "from": "wan0", "to": "wwan0"})");
  ExpectRequestRoundTrip(R"({"command": "failover", "auto": true})");
  ExpectRequestRoundTrip(R"({"command": "cap"})");
  ExpectRequestRoundTrip(R"({"command": "cap", "reset": "wan2"})");
  ExpectRequestRoundTrip(R"({"command": "stats"})");
  ExpectRequestRoundTrip(R"({"command": "test", "interface": "wan2", "duration": 5.0})");
  ExpectRequestRoundTrip(R"({"command": "test_status"})");
  ExpectRequestRoundTrip(R"({"command": "peers"})");
}

TEST(ControlRequestTest, FieldsAreRead) {
  absl::StatusOr<ControlRequest> failover =
      RequestFromJson({{"command", "failover"}, {"from", "wan0"}, {"to", "wwan0"}});
  ASSERT_TRUE(failover.ok());
  const auto& f = std::get<FailoverRequest>(*failover);
  EXPECT_FALSE(f.automatic);
  EXPECT_EQ(f.from, "wan0");
  EXPECT_EQ(f.to, "wwan0");
  // "auto": false is a failover FROM TO.
  EXPECT_FALSE(RequestFromJson({{"command", "failover"}, {"auto", false}}).ok());
  absl::StatusOr<ControlRequest> test =
      RequestFromJson({{"command", "test"}, {"interface", "wan2"}, {"duration", 3}});
  ASSERT_TRUE(test.ok());
  EXPECT_DOUBLE_EQ(std::get<TestRequest>(*test).duration, 3);
  absl::StatusOr<ControlRequest> cap = RequestFromJson({{"command", "cap"}});
  ASSERT_TRUE(cap.ok());
  EXPECT_FALSE(std::get<CapRequest>(*cap).reset.has_value());
}

// Each malformed request gives an error naming the problem, never an exception.
void ExpectRequestError(const nlohmann::json& request, const std::string& message) {
  absl::StatusOr<ControlRequest> parsed = RequestFromJson(request);
  ASSERT_FALSE(parsed.ok()) << request.dump();
  EXPECT_EQ(parsed.status().message(), message) << request.dump();
}

TEST(ControlRequestTest, NotARequest) {
  for (const char* text : {"[]", "\"x\"", "1", "null", "true"}) {
    ExpectRequestError(nlohmann::json::parse(text), "the request is not a JSON object");
  }
  ExpectRequestError(nlohmann::json::object(), "request: \"command\" is missing");
  ExpectRequestError({{"command", 1}}, "request: \"command\" must be a string");
  ExpectRequestError({{"command", nullptr}}, "request: \"command\" must be a string");
  ExpectRequestError({{"command", {"status"}}}, "request: \"command\" must be a string");
  ExpectRequestError({{"command", "reboot"}}, "unknown control command \"reboot\"");
}

TEST(ControlRequestTest, CommandsWithoutFieldsIgnoreExtras) {
  for (const char* command : {"ping", "status", "stats", "test_status", "peers"}) {
    absl::StatusOr<ControlRequest> r = RequestFromJson({{"command", command}, {"extra", 1}});
    ASSERT_TRUE(r.ok()) << command;
    EXPECT_EQ(CommandName(*r), command);
  }
}

TEST(ControlRequestTest, MalformedFailover) {
  ExpectRequestError({{"command", "failover"}, {"from", 3}, {"to", "wan1"}},
                     "failover: \"from\" must be a string");
  ExpectRequestError({{"command", "failover"}, {"from", "wan0"}, {"to", nullptr}},
                     "failover: \"to\" must be a string");
  ExpectRequestError({{"command", "failover"}, {"to", "wan1"}}, "failover: \"from\" is missing");
  ExpectRequestError({{"command", "failover"}, {"from", "wan0"}}, "failover: \"to\" is missing");
  ExpectRequestError({{"command", "failover"}, {"auto", "yes"}},
                     "failover: \"auto\" must be true or false");
  ExpectRequestError({{"command", "failover"}, {"auto", 1}},
                     "failover: \"auto\" must be true or false");
}

TEST(ControlRequestTest, MalformedCap) {
  ExpectRequestError({{"command", "cap"}, {"reset", 5}}, "cap: \"reset\" must be a string");
  ExpectRequestError({{"command", "cap"}, {"reset", nullptr}}, "cap: \"reset\" must be a string");
}

TEST(ControlRequestTest, MalformedTest) {
  ExpectRequestError({{"command", "test"}, {"interface", 2}, {"duration", 5}},
                     "test: \"interface\" must be a string");
  ExpectRequestError({{"command", "test"}, {"interface", "wan2"}, {"duration", "5"}},
                     "test: \"duration\" must be a number");
  ExpectRequestError({{"command", "test"}, {"duration", 5}}, "test: \"interface\" is missing");
  ExpectRequestError({{"command", "test"}, {"interface", "wan2"}}, "test: \"duration\" is missing");
}

// --- The agent's dispatch -----------------------------------------------------------

TEST(DispatchControlTest, MalformedRequestsAreAnsweredWithoutCallingTheHandler) {
  int calls = 0;
  const ControlHandler handler = [&calls](const ControlRequest&) -> ControlReply {
    ++calls;
    return PingReply{};
  };
  const std::pair<nlohmann::json, std::string> cases[] = {
      {{{"command", 1}}, "request: \"command\" must be a string"},
      {nlohmann::json::array(), "the request is not a JSON object"},
      {"x", "the request is not a JSON object"},
      {{{"command", "failover"}, {"from", 3}}, "failover: \"from\" must be a string"},
  };
  for (const auto& [request, error] : cases) {
    EXPECT_EQ(DispatchControl(request, handler), (nlohmann::json{{"error", error}}))
        << request.dump();
  }
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(DispatchControl({{"command", "ping"}}, handler), (nlohmann::json{{"ok", true}}));
  EXPECT_EQ(calls, 1);
}

TEST(DispatchControlTest, TheHandlersReplyIsSentAsJson) {
  const ControlHandler handler = [](const ControlRequest& r) -> ControlReply {
    if (std::holds_alternative<CapRequest>(r)) {
      return ReplyOrError(absl::StatusOr<CapReply>(absl::NotFoundError("no such cap")));
    }
    return ReplyOrError(absl::StatusOr<CapReply>(CapReply{}));
  };
  EXPECT_EQ(DispatchControl({{"command", "cap"}}, handler),
            (nlohmann::json{{"error", "no such cap"}}));
  EXPECT_EQ(DispatchControl({{"command", "status"}}, handler),
            (nlohmann::json{{"caps", nlohmann::json::array()}}));
}

TEST(DispatchControlTest, AHandlerThatThrowsGetsAnErrorReply) {
  const ControlHandler throws_json = [](const ControlRequest&) -> ControlReply {
    return ErrorReply{nlohmann::json::object().at("missing")};
  };
  const nlohmann::json reply = DispatchControl({{"command", "status"}}, throws_json);
  ASSERT_TRUE(reply.contains("error"));
  EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("status: the agent failed: "));
  const ControlHandler throws_int = [](const ControlRequest&) -> ControlReply { throw 7; };
  EXPECT_EQ(DispatchControl({{"command", "peers"}}, throws_int),
            (nlohmann::json{{"error", "peers: the agent failed"}}));
}

}  // namespace
}  // namespace meshbpf
