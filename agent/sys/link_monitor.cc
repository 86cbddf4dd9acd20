#include "agent/sys/link_monitor.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

struct DrainContext {
  const std::function<void(const LinkEvent&)>* on_event;
};

void EmitLink(const nlmsghdr* hdr, rtnl_link* link, const DrainContext& ctx) {
  const int ifindex = rtnl_link_get_ifindex(link);
  if (hdr->nlmsg_type == RTM_DELLINK) {
    (*ctx.on_event)({LinkEvent::Kind::kDeleted, ifindex});
    return;
  }
  // Carrier and the administrative state: either going away stops the
  // uplink from carrying anything.
  const bool usable = (rtnl_link_get_flags(link) & IFF_UP) && rtnl_link_get_carrier(link) == 1;
  (*ctx.on_event)({usable ? LinkEvent::Kind::kCarrierUp : LinkEvent::Kind::kCarrierDown, ifindex});
}

int OnMessage(nl_msg* msg, void* arg) {
  const auto& ctx = *static_cast<DrainContext*>(arg);
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  struct Parsed {
    const nlmsghdr* hdr;
    const DrainContext* ctx;
  } parsed{hdr, &ctx};
  nl_msg_parse(
      msg,
      [](nl_object* obj, void* p) {
        const auto& parsed = *static_cast<Parsed*>(p);
        const std::string type = nl_object_get_type(obj);
        if (type == "route/link") {
          EmitLink(parsed.hdr, reinterpret_cast<rtnl_link*>(obj), *parsed.ctx);
        } else if (type == "route/addr") {
          auto* addr = reinterpret_cast<rtnl_addr*>(obj);
          if (rtnl_addr_get_family(addr) != AF_INET) return;
          (*parsed.ctx->on_event)({parsed.hdr->nlmsg_type == RTM_DELADDR
                                       ? LinkEvent::Kind::kAddressRemoved
                                       : LinkEvent::Kind::kAddressAdded,
                                   rtnl_addr_get_ifindex(addr)});
        }
      },
      &parsed);
  return NL_OK;
}

}  // namespace

const char* LinkEventName(LinkEvent::Kind kind) {
  switch (kind) {
    case LinkEvent::Kind::kCarrierDown:
      return "carrier lost";
    case LinkEvent::Kind::kCarrierUp:
      return "carrier up";
    case LinkEvent::Kind::kDeleted:
      return "interface deleted";
    case LinkEvent::Kind::kAddressRemoved:
      return "IPv4 address removed";
    case LinkEvent::Kind::kAddressAdded:
      return "IPv4 address added";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<LinkMonitor>> LinkMonitor::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return absl::ResourceExhaustedError("allocating a netlink socket");
  nl_socket_disable_seq_check(sock);
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err >= 0) err = nl_socket_add_memberships(sock, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, 0);
  if (err >= 0) err = nl_socket_set_nonblocking(sock);
  if (err < 0) {
    nl_socket_free(sock);
    return absl::InternalError(absl::StrCat("subscribing to link events: ", nl_geterror(err)));
  }
  return std::unique_ptr<LinkMonitor>(new LinkMonitor(sock));
}

LinkMonitor::~LinkMonitor() { nl_socket_free(sock_); }

int LinkMonitor::fd() const { return nl_socket_get_fd(sock_); }

void LinkMonitor::Drain(const std::function<void(const LinkEvent&)>& on_event) {
  DrainContext ctx{&on_event};
  nl_socket_modify_cb(sock_, NL_CB_VALID, NL_CB_CUSTOM, OnMessage, &ctx);
  // Non-blocking: a read returns -NLE_AGAIN once the socket is empty.
  for (int reads = 0; reads < kMaxReadsPerDrain && nl_recvmsgs_default(sock_) > 0; ++reads) {
  }
}

}  // namespace meshbpf
