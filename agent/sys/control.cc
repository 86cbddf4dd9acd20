#include "agent/sys/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/core/control_protocol.h"
#include "agent/core/json_text.h"

namespace meshbpf {
namespace {

// Requests are small; a reply (peers, stats) may be much bigger.
constexpr size_t kMaxRequest = 64 * 1024;
constexpr size_t kMaxReply = 1 << 20;
// A whole request, and reading the whole reply: the CLI needs microseconds.
constexpr uint64_t kClientTimeoutNs = 2'000'000'000;

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Reads until a newline or EOF, waiting at most `timeout_ms` for each chunk.
absl::StatusOr<std::string> ReadMessage(int fd, int timeout_ms) {
  std::string data;
  char buf[4096];
  while (data.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready == 0) return absl::DeadlineExceededError("no answer in time");
    if (ready < 0) return absl::InternalError(std::strerror(errno));
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) return absl::InternalError(std::strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxReply) return absl::ResourceExhaustedError("message too large");
  }
  return data;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string ControlSocketPath(const std::string& run_dir, const std::string& instance) {
  return absl::StrCat(run_dir, "/", instance, ".sock");
}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Open(
    const std::string& path, const std::optional<ControlGroup>& group) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  const std::string dir = path.substr(0, path.rfind('/'));
  // Others may pass through to the socket; the log beside it stays 0640.
  if (!dir.empty() && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("creating ", dir, ": ", std::strerror(errno)));
  }
  if (CallAgent(path, RequestToJson(PingRequest{}), 500).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("another agent answers on ", path, ": stop it or use another --instance"));
  }
  unlink(path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("control socket: ", std::strerror(errno)));
  // Anyone may connect and read; what each caller may change is decided per
  // request from its credentials (ControlServer::Serve, MayRun).
  const mode_t old_mask = umask(0111);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  umask(old_mask);
  if (bound != 0 || listen(fd, 16) != 0 ||
      (group && chown(path.c_str(), static_cast<uid_t>(-1), group->gid) != 0)) {
    const int err = errno;
    close(fd);
    if (bound == 0) unlink(path.c_str());
    return absl::InternalError(absl::StrCat("control socket ", path, ": ", std::strerror(err)));
  }
  absl::StatusOr<std::unique_ptr<StreamServer>> clients = StreamServer::Create(
      fd, {.name = "control socket",
           .limits = {.request_end = "\n",
                      .max_request_bytes = kMaxRequest,
                      .request_timeout_ns = kClientTimeoutNs,
                      .reply_timeout_ns = kClientTimeoutNs},
           .peer_credentials = true});
  if (!clients.ok()) {
    close(fd);
    unlink(path.c_str());
    return clients.status();
  }
  return std::unique_ptr<ControlServer>(new ControlServer(fd, path, std::move(*clients)));
}

ControlServer::~ControlServer() {
  close(fd_);
  unlink(path_.c_str());
}

void ControlServer::Serve(const Handler& handler) {
  clients_->OnReadable([&handler](const absl::StatusOr<std::string>& request,
                                  const std::optional<PeerCredentials>& peer) {
    nlohmann::json reply;
    if (!request.ok()) {
      reply = {{"error", absl::StrCat("reading the request: ", request.status().message())}};
    } else {
      nlohmann::json parsed = nlohmann::json::parse(*request, nullptr, /*allow_exceptions=*/false);
      // Whether it is a request at all is the handler's to judge
      // (DispatchControl). The stream server always reads credentials here.
      reply = parsed.is_discarded() ? nlohmann::json{{"error", "the request is not a JSON object"}}
                                    : handler(parsed, *peer);
    }
    return JsonLine(reply) + "\n";
  });
}

absl::StatusOr<nlohmann::json> CallAgent(const std::string& path, const nlohmann::json& request,
                                         int timeout_ms) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("no agent answers on ", path, " (",
                                               std::strerror(err), "): is it running?"));
  }
  absl::StatusOr<std::string> reply;
  if (!WriteAll(fd, request.dump() + "\n")) {
    reply = absl::UnavailableError(absl::StrCat("sending to the agent: ", std::strerror(errno)));
  } else {
    reply = ReadMessage(fd, timeout_ms);
  }
  close(fd);
  if (!reply.ok()) {
    return absl::UnavailableError(absl::StrCat("the agent on ", path, " did not answer: ",
                                               reply.status().message()));
  }
  nlohmann::json parsed = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return absl::InternalError(absl::StrCat("the agent on ", path, " sent an unreadable reply"));
  }
  return parsed;
}

}  // namespace meshbpf
