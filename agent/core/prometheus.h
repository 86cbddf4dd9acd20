// Metrics in the Prometheus text exposition format 0.0.4, for the agent's
// opt-in metrics endpoint. Pure formatting, no I/O.
#pragma once

#include <string>
#include <string_view>

#include "agent/core/loss_repair_report.h"
#include "agent/core/metrics.h"
#include "agent/core/tunnel_sessions.h"

namespace meshbpf {

// The Content-Type the endpoint serves FormatPrometheus's text with.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Every metric family with HELP and TYPE lines, labelled by bond and path.
// Times are in seconds and fractions in 0..1 (Prometheus base units);
// counters end in _total. RTT and jitter appear once measured, caps only
// for paths that have one.
std::string FormatPrometheus(const MetricsSnapshot& snapshot);

// Tunnel authentication's session (link_aggregation.authentication) of bond
// `bond`: whether it is up, its age, handshakes made and messages refused.
std::string FormatSessionMetrics(std::string_view bond, const SessionReport& session);

// Loss repair's agent half (link_aggregation.loss_repair) of bond `bond`:
// meshbpf_loss_repair_total by event.
std::string FormatLossRepairMetrics(std::string_view bond, const LossRepairReport& report);

// A label value with \, " and newline escaped as the format requires.
std::string EscapePrometheusLabel(std::string_view value);

}  // namespace meshbpf
