// The control socket's clients, over real Unix sockets (agent/sys/control.h,
// agent/sys/stream_server.h): a client that stalls, sends too much or never
// reads cannot keep another from its answer. No root needed. Timing is only
// asserted with wide margins.
#include "agent/sys/stream_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "agent/core/control_protocol.h"
#include "agent/sys/control.h"
#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

int Connect(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  return fd;
}

void Send(int fd, const std::string& data) {
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

// Everything `fd` sends until it closes, or what came within `timeout_ms`.
std::string ReadAll(int fd, int timeout_ms = 5000) {
  std::string data;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, timeout_ms) == 1) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// Serves `server` on a thread of its own, like the agent's loop, until destroyed.
class ServingThread {
 public:
  template <typename Serve>
  ServingThread(int fd, Serve serve)
      : thread_([this, fd, serve] {
          while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 20) == 1) serve();
          }
        }) {}
  ~ServingThread() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(ControlServer, AStalledClientDoesNotDelayAnother) {
  ScratchDir dir;
  const std::string path = dir.File("a.sock");
  absl::StatusOr<std::unique_ptr<ControlServer>> server = ControlServer::Open(path, std::nullopt);
  ASSERT_TRUE(server.ok()) << server.status();
  std::optional<PeerCredentials> seen;
  ServingThread serving((*server)->fd(), [&] {
    (*server)->Serve([&](const nlohmann::json& request, const PeerCredentials& peer) {
      seen = peer;
      return DispatchControl(request, [](const ControlRequest&) -> ControlReply {
        return PingReply{};
      });
    });
  });
  const int stalled = Connect(path);
  Send(stalled, R"({"command": "sta)");  // half a request, and then nothing
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<nlohmann::json> reply = CallAgent(path, RequestToJson(PingRequest{}), 5000);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, nlohmann::json({{"ok", true}}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->uid, getuid());
  EXPECT_EQ(seen->pid, getpid());
  // The stalled client is dropped after its 2 s, without an answer.
  EXPECT_EQ(ReadAll(stalled, 10000), "");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  close(stalled);
}

TEST(ControlServer, TooLargeAndMalformedRequestsGetAnError) {
  ScratchDir dir;
  const std::string path = dir.File("a.sock");
  absl::StatusOr<std::unique_ptr<ControlServer>> server = ControlServer::Open(path, std::nullopt);
  ASSERT_TRUE(server.ok()) << server.status();
  ServingThread serving((*server)->fd(), [&] {
    (*server)->Serve([&](const nlohmann::json& request, const PeerCredentials&) {
      return DispatchControl(request, [](const ControlRequest&) -> ControlReply {
        return PingReply{};
      });
    });
  });
  const int big = Connect(path);
  Send(big, std::string(100 * 1024, ' '));
  EXPECT_THAT(ReadAll(big), HasSubstr("larger than the 65536 bytes allowed"));
  close(big);
  const int wrong = Connect(path);
  Send(wrong, "{\"command\": 1}\n");
  EXPECT_THAT(ReadAll(wrong), HasSubstr("\\\"command\\\" must be a string"));
  close(wrong);
}

TEST(StreamServer, AClientThatNeverReadsIsDroppedAtItsDeadline) {
  ScratchDir dir;
  const std::string path = dir.File("s.sock");
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  absl::StatusOr<std::unique_ptr<StreamServer>> server = StreamServer::Create(
      listener, {.name = "test", .limits = {.request_end = "\n",
                                            .max_request_bytes = 100,
                                            .request_timeout_ns = 5'000'000'000,
                                            .reply_timeout_ns = 300'000'000}});
  ASSERT_TRUE(server.ok()) << server.status();
  // Far more than the socket buffers hold, so most of it waits for the reader.
  const std::string huge(16 << 20, 'x');
  ServingThread serving((*server)->fd(), [&] {
    (*server)->OnReadable([&](const absl::StatusOr<std::string>&,
                              const std::optional<PeerCredentials>&) { return huge; });
  });
  const int lazy = Connect(path);
  Send(lazy, "give\n");
  std::this_thread::sleep_for(std::chrono::seconds(1));  // well past 300 ms, not reading
  const std::string got = ReadAll(lazy);
  EXPECT_LT(got.size(), huge.size());  // cut off, not waited for
  close(lazy);
  // Served promptly meanwhile and after.
  const int next = Connect(path);
  Send(next, "again\n");
  EXPECT_EQ(ReadAll(next).size(), huge.size());
  close(next);
  close(listener);
}

}  // namespace
}  // namespace meshbpf
