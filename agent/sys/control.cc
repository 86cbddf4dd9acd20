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

namespace meshbpf {
namespace {

// Requests and replies are small; anything bigger is not ours.
constexpr size_t kMaxMessage = 1 << 20;
constexpr int kServerReadTimeoutMs = 200;

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
    if (data.size() > kMaxMessage) return absl::ResourceExhaustedError("message too large");
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

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Open(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  const std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("creating ", dir, ": ", std::strerror(errno)));
  }
  if (CallAgent(path, RequestToJson(PingRequest{}), 500).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("another agent answers on ", path, ": stop it or use another --instance"));
  }
  unlink(path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("control socket: ", std::strerror(errno)));
  // Created 0660 from the start: no window in which anyone else may connect.
  const mode_t old_mask = umask(0117);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  umask(old_mask);
  if (bound != 0 || listen(fd, 16) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("control socket ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<ControlServer>(new ControlServer(fd, path));
}

ControlServer::~ControlServer() {
  close(fd_);
  unlink(path_.c_str());
}

void ControlServer::Serve(const Handler& handler) {
  int client;
  while ((client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
    nlohmann::json reply;
    absl::StatusOr<std::string> request = ReadMessage(client, kServerReadTimeoutMs);
    if (!request.ok()) {
      reply = {{"error", absl::StrCat("reading the request: ", request.status().message())}};
    } else {
      nlohmann::json parsed = nlohmann::json::parse(*request, nullptr, /*allow_exceptions=*/false);
      // Whether it is a request at all is the handler's to judge (DispatchControl).
      reply = parsed.is_discarded() ? nlohmann::json{{"error", "the request is not a JSON object"}}
                                    : handler(parsed);
    }
    // Replacing invalid UTF-8 (an interface name, say) instead of throwing.
    WriteAll(client, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    close(client);
  }
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
