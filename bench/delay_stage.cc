// meshbpf-delay-stage IF_A IF_B DELAY_MS
//
// One-way delay for a lab link, because this kernel has no netem. Runs in its
// own network namespace between two veth ends that carry no addresses, like a
// two-port bridge with a long wire: every frame that arrives on IF_A leaves
// through IF_B DELAY_MS later, and the other way round.
//
// How: one AF_PACKET raw socket per interface with PACKET_VNET_HDR, so a GSO
// super-packet or a frame with a pending checksum is read with its
// virtio_net_hdr and sent on unchanged (the kernel segments or checksums it
// later, exactly as without the stage); PACKET_IGNORE_OUTGOING keeps a
// socket from reading back its own sends. Frames wait in one FIFO per
// direction, stamped with their arrival time (CLOCK_MONOTONIC); the delay is
// constant, so each FIFO is in deadline order and one ppoll timeout (to the
// earliest deadline) serves both. Nothing is dropped or reordered; the queue
// is bounded only by rate x delay (about 125 KB at 50 Mbit/s and 20 ms).
// Prints "ready" once both sockets are bound.
//
// It runs SCHED_FIFO (priority 10) when allowed: under CFS a busy machine
// (a build, the agents, iperf3) delayed frames by tens of ms beyond DELAY_MS
// at random, and BBR took the resulting RTT swings for the path's and
// collapsed now and then. It blocks in ppoll between frames, and the
// kernel's RT throttling leaves other tasks 5% of a CPU even if flooded.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++:
// it has a field named "class") is 10 bytes; the stage never looks inside.
constexpr size_t kVnetHdrLen = 10;
constexpr size_t kMaxFrame = kVnetHdrLen + 65536 + 64;
constexpr int kMaxDelayMs = 10000;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "meshbpf-delay-stage: %s\n", what.c_str());
  std::exit(1);
}

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int OpenPort(const char* ifname) {
  const unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) Die(std::string("no interface ") + ifname + " in this namespace");
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) Die(std::string("socket(AF_PACKET): ") + std::strerror(errno));
  const int one = 1;
  // A few MB of buffer: a tbf-shaped burst must not overflow the socket.
  const int buffer = 8 << 20;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof(buffer)) != 0)
    Die(std::string("setsockopt on ") + ifname + ": " + std::strerror(errno));
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    Die(std::string("bind to ") + ifname + ": " + std::strerror(errno));
  // Frames for the far end's MAC must be read too.
  packet_mreq promisc{};
  promisc.mr_ifindex = static_cast<int>(ifindex);
  promisc.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promisc, sizeof(promisc)) != 0)
    Die(std::string("promiscuous mode on ") + ifname + ": " + std::strerror(errno));
  return fd;
}

struct Frame {
  int64_t due_ns;
  std::vector<uint8_t> bytes;  // virtio_net_hdr + Ethernet frame
};

// One direction: frames read from `in` leave through `out` after the delay.
struct Direction {
  int in;
  int out;
  std::deque<Frame> queue;
};

void ReadAll(Direction& d, int64_t delay_ns, std::vector<uint8_t>& buffer) {
  for (;;) {
    const ssize_t n = recv(d.in, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      Die(std::string("recv: ") + std::strerror(errno));
    }
    d.queue.push_back({NowNs() + delay_ns, {buffer.begin(), buffer.begin() + n}});
  }
}

void SendDue(Direction& d, int64_t now) {
  while (!d.queue.empty() && d.queue.front().due_ns <= now) {
    const Frame& f = d.queue.front();
    // ENOBUFS: the veth's queue is momentarily full; drop like a full wire.
    if (send(d.out, f.bytes.data(), f.bytes.size(), 0) < 0 && errno != ENOBUFS &&
        errno != EAGAIN)
      Die(std::string("send: ") + std::strerror(errno));
    d.queue.pop_front();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) Die("usage: meshbpf-delay-stage IF_A IF_B DELAY_MS");
  const std::string_view delay_text = argv[3];
  int delay_ms = -1;
  const auto [end, ec] =
      std::from_chars(delay_text.data(), delay_text.data() + delay_text.size(), delay_ms);
  if (ec != std::errc() || end != delay_text.data() + delay_text.size() || delay_ms < 0 ||
      delay_ms > kMaxDelayMs)
    Die("DELAY_MS must be a whole number of milliseconds from 0 to " +
        std::to_string(kMaxDelayMs) + ", got '" + std::string(delay_text) + "'");
  const int64_t delay_ns = int64_t{delay_ms} * 1'000'000;
  const sched_param priority{.sched_priority = 10};
  if (sched_setscheduler(0, SCHED_FIFO, &priority) != 0)
    std::fprintf(stderr, "meshbpf-delay-stage: running without SCHED_FIFO (%s): delays may swing under load\n",
                 std::strerror(errno));
  const int a = OpenPort(argv[1]);
  const int b = OpenPort(argv[2]);
  Direction directions[2] = {{a, b, {}}, {b, a, {}}};
  std::vector<uint8_t> buffer(kMaxFrame);
  std::printf("meshbpf-delay-stage: %s <-> %s, %d ms each way, ready\n", argv[1], argv[2],
              delay_ms);
  std::fflush(stdout);

  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  for (;;) {
    int64_t next_due = -1;
    for (const Direction& d : directions)
      if (!d.queue.empty() && (next_due < 0 || d.queue.front().due_ns < next_due))
        next_due = d.queue.front().due_ns;
    timespec timeout{};
    timespec* wait = nullptr;  // nothing queued: sleep until a frame arrives
    if (next_due >= 0) {
      const int64_t left = std::max<int64_t>(0, next_due - NowNs());
      timeout = {static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
      wait = &timeout;
    }
    if (ppoll(fds, 2, wait, nullptr) < 0 && errno != EINTR)
      Die(std::string("ppoll: ") + std::strerror(errno));
    for (Direction& d : directions) ReadAll(d, delay_ns, buffer);
    const int64_t now = NowNs();
    for (Direction& d : directions) SendDue(d, now);
  }
}
