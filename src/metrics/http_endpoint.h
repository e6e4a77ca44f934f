// metrics/http_endpoint.h — serves GET /metrics over HTTP (cpp-httplib).
//
// Owns a server thread. The render function is called on server threads for
// each scrape and must be thread-safe. The destructor stops the server and
// joins its thread. Construction throws multicache::Error if it cannot bind.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace multicache::metrics {

class HttpEndpoint {
 public:
  // host: an address to bind ("127.0.0.1", "0.0.0.0"); port 0 picks a free one.
  HttpEndpoint(const std::string& host, int port, std::function<std::string()> render);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace multicache::metrics
