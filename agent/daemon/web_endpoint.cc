#include "agent/daemon/web_endpoint.h"

#include "absl/strings/str_cat.h"
#include "agent/core/json_text.h"
#include "agent/core/net_format.h"
#include "agent/core/prometheus.h"
#include "agent/daemon/status_page.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

constexpr char kJson[] = "application/json";

HttpResponse JsonResponse(const nlohmann::json& body) { return {200, kJson, JsonLine(body)}; }

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> OpenWebEndpoint(const MonitoringSettings& settings,
                                                            const Monitoring& monitoring,
                                                            std::function<StatusReply()> status) {
  if (!settings.metrics_listen) return nullptr;
  HttpRoutes routes;
  routes["/metrics"] = [&monitoring, status] {
    const MetricsSnapshot snapshot = monitoring.Current();
    std::string text = FormatPrometheus(snapshot);
    const StatusReply now = status();
    if (now.authentication) text += FormatSessionMetrics(snapshot.bond, *now.authentication);
    if (now.loss_repair) text += FormatLossRepairMetrics(snapshot.bond, *now.loss_repair);
    return HttpResponse{200, kPrometheusContentType, std::move(text)};
  };
  if (settings.status_page) {
    routes["/"] = [] { return HttpResponse{200, "text/html; charset=utf-8", kStatusPageHtml}; };
    routes["/api/status"] = [status] { return JsonResponse(status()); };
    routes["/api/stats"] = [&monitoring] {
      return JsonResponse(monitoring.Stats());
    };
  }
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Open(*settings.metrics_listen, std::move(routes));
  if (!server.ok()) return server.status();
  const std::string base =
      absl::StrCat("http://", Ipv4PortText(settings.metrics_listen->address, settings.metrics_listen->port));
  Log(LogLevel::kInfo, absl::StrCat("serving Prometheus metrics at ", base, "/metrics",
                                    settings.status_page ? absl::StrCat(" and the status page at ", base, "/")
                                                         : ""));
  return server;
}

}  // namespace meshbpf
