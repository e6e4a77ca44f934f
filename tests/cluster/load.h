// cluster/load.h — steady traffic against a cache while a test reshuffles
// the servers under it. Every value is a function of its key, so any read
// can be checked; every exception and every wrong value is counted.
#pragma once

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "multicache/multicache.hpp"

namespace multicache::test {

inline std::string value_of(const std::string& key) { return "v-" + key; }

// Options for a test cache on `url`: its own prefix and channel, no log
// output, and a command timeout long enough for loaded sanitizer builds
// (timeouts are not what these tests are about).
inline Options quiet_options(const std::string& url, const std::string& prefix,
                             std::chrono::milliseconds command_timeout) {
  Options o;
  o.redis_url = url;
  o.key_prefix = prefix;
  o.pubsub_channel = prefix + "sync";
  o.command_timeout = command_timeout;
  o.log = [](log_level, std::string_view) {};
  return o;
}

class Load {
 public:
  Load(Cache& cache, std::vector<std::string> keys, int threads = 4) : keys_(std::move(keys)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &cache, t] { run(cache, static_cast<unsigned>(t)); });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::uint64_t ops() const { return ops_.load(); }
  // get_or_load must never throw; set/remove throw RedisError while Redis
  // cannot take the write (as documented), which is counted apart.
  std::uint64_t read_exceptions() const { return read_exceptions_.load(); }
  std::uint64_t write_errors() const { return write_errors_.load(); }
  std::uint64_t wrong_values() const { return wrong_.load(); }

 private:
  void run(Cache& cache, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, keys_.size() - 1);
    std::uniform_int_distribution<int> op(0, 99);
    using namespace std::chrono_literals;
    while (!stop_.load()) {
      const std::string& key = keys_[pick(rng)];
      const int o = op(rng);
      if (o < 85) {
        try {
          const std::string v =
              cache.get_or_load<std::string>(key, 30s, [&] { return value_of(key); });
          if (v != value_of(key)) wrong_.fetch_add(1);
        } catch (const std::exception&) {
          read_exceptions_.fetch_add(1);
        }
      } else {
        try {
          if (o < 95) {
            cache.set<std::string>(key, value_of(key), 30s);
          } else {
            cache.remove(key);
          }
        } catch (const RedisError&) {
          write_errors_.fetch_add(1);
        }
      }
      ops_.fetch_add(1);
    }
  }

  std::vector<std::string> keys_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ops_{0};
  std::atomic<std::uint64_t> read_exceptions_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::uint64_t> wrong_{0};
};

}  // namespace multicache::test
