#include "metrics/http_endpoint.h"

#include <httplib.h>

#include <chrono>

#include "multicache/errors.hpp"

namespace multicache::metrics {

HttpEndpoint::HttpEndpoint(const std::string& host, int port, std::function<std::string()> render)
    : server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("multicache: metrics at /metrics\n", "text/plain; charset=utf-8");
  });
  // Bound and listening from here on: scrapes queue until the thread accepts them.
  port_ =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    throw Error("metrics_listen: cannot listen on " + host + ":" + std::to_string(port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Server::stop() is a no-op until the server runs: wait for that, so the
  // destructor can always stop it.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    server_->stop();
    thread_.join();
    throw Error("metrics_listen: the HTTP server did not start");
  }
}

HttpEndpoint::~HttpEndpoint() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace multicache::metrics
