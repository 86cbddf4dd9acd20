// What the agent's HTTP endpoint serves (monitoring.metrics_listen):
// /metrics always; with monitoring.status_page also the status page at /
// and its data at /api/status and /api/stats, the same JSON as the control
// socket's "status" and "stats" replies (`meshbpf status --json` shows the
// first as "health").
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/daemon/monitoring.h"
#include "agent/core/control_protocol.h"
#include "agent/sys/http_server.h"

namespace meshbpf {

// Null when monitoring.metrics_listen is unset. `monitoring` must outlive
// the server; `status` is the agent's "status" reply as the control socket
// gives it.
absl::StatusOr<std::unique_ptr<HttpServer>> OpenWebEndpoint(const MonitoringSettings& settings,
                                                            const Monitoring& monitoring,
                                                            std::function<StatusReply()> status);

}  // namespace meshbpf
