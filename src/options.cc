// options.cc — Options::validate().
#include "multicache/options.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "l2/redis_url.h"
#include "options_internal.h"
#include "util/time.h"
#include "util/utf8.h"

namespace multicache {

namespace {

[[noreturn]] void invalid(const std::string& field, const std::string& why) {
  throw std::invalid_argument(field + ": " + why);
}

bool is_metric_name(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

}  // namespace

std::pair<std::string, int> parse_listen_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    invalid("metrics_listen", "must be host:port, e.g. 127.0.0.1:9464");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port = address.substr(colon + 1);
  int p = -1;
  if (!port.empty() && port.size() <= 5 &&
      port.find_first_not_of("0123456789") == std::string::npos) {
    p = std::stoi(port);
  }
  if (p < 0 || p > 65535) invalid("metrics_listen", "port must be within [0, 65535]");
  return {host, p};
}

static void check_duration(const char* field, std::chrono::milliseconds d, bool allow_zero) {
  if (d.count() < 0 || (!allow_zero && d.count() == 0)) {
    invalid(field, allow_zero ? "must not be negative" : "must be positive");
  }
  if (d.count() > util::k_max_duration_ms) invalid(field, "must be at most 100 years");
}

void Options::validate() const {
  if (!redis_url.empty()) (void)l2::parse_server_url(redis_url);  // throws "redis_url: ..."
  if (l1_max_items < 1) invalid("l1_max_items", "must be at least 1");
  if (l1_max_memory_mb < 1) invalid("l1_max_memory_mb", "must be at least 1");
  if (l1_max_memory_mb > (std::size_t{1} << 24))
    invalid("l1_max_memory_mb", "must be at most 2^24");
  if (pubsub_channel.empty()) invalid("pubsub_channel", "must not be empty");
  if (!(early_refresh_ratio >= 0.1 && early_refresh_ratio <= 0.99)) {
    invalid("early_refresh_ratio",
            "must be within [0.1, 0.99], got " + std::to_string(early_refresh_ratio));
  }
  if (circuit_breaker_max_failures < 1) {
    invalid("circuit_breaker_max_failures", "must be at least 1");
  }
  check_duration("circuit_breaker_open_timeout", circuit_breaker_open_timeout, false);
  if (!is_metric_name(metrics_prefix)) {
    invalid("metrics_prefix", "must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  for (const auto& [name, value] : metrics_labels) {
    static const char* const reserved[] = {"layer",  "status", "type", "reason",
                                           "result", "event",  "le"};
    bool ok =
        !name.empty() && name.rfind("__", 0) != 0 &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
            std::string::npos &&
        !(name[0] >= '0' && name[0] <= '9');
    for (const char* r : reserved) ok = ok && name != r;
    if (!ok) invalid("metrics_labels", "bad or reserved label name \"" + name + "\"");
    // A name given twice would be written twice on every sample, which
    // Prometheus rejects.
    std::size_t times = 0;
    for (const auto& other : metrics_labels) times += other.first == name ? 1 : 0;
    if (times > 1) invalid("metrics_labels", "label name \"" + name + "\" is given twice");
    // Prometheus rejects the whole exposition over one such value.
    if (!util::is_valid_utf8(value)) {
      invalid("metrics_labels", "the value of \"" + name + "\" is not valid UTF-8");
    }
  }
  if (!metrics_listen.empty()) {
    if (!metrics) invalid("metrics_listen", "needs metrics = true");
    (void)parse_listen_address(metrics_listen);  // throws "metrics_listen: ..."
  }
  check_duration("l1_ttl", l1_ttl, true);
  check_duration("negative_ttl", negative_ttl, true);
  check_duration("stale_if_error", stale_if_error, true);
  if (!(ttl_jitter >= 0.0 && ttl_jitter <= 0.5)) {
    invalid("ttl_jitter", "must be within [0, 0.5], got " + std::to_string(ttl_jitter));
  }
  check_duration("lock_ttl", lock_ttl, false);
  check_duration("lock_wait", lock_wait, false);
  check_duration("connect_timeout", connect_timeout, false);
  check_duration("command_timeout", command_timeout, false);
  if (redis_spin_wait.count() < 0 || redis_spin_wait > std::chrono::milliseconds(100)) {
    invalid("redis_spin_wait", "must be within [0, 100 ms]");
  }
  if (redis_spin_wait > command_timeout) {
    invalid("redis_spin_wait", "must not exceed command_timeout");
  }
  if (pool_size < 1 || pool_size > 64) invalid("pool_size", "must be within [1, 64]");
  if (refresh_threads < 1 || refresh_threads > 64) {
    invalid("refresh_threads", "must be within [1, 64]");
  }
  if (refresh_queue_size < 1) invalid("refresh_queue_size", "must be at least 1");
}

}  // namespace multicache
