// baseline/blocking_pool.h — the usual C++ Redis access pattern: N blocking
// hiredis connections, a caller borrows one for a round trip. The baseline
// the L2 benchmarks compare against. Thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace multicache::bench {

class BlockingPool {
 public:
  BlockingPool(int port, int size) {
    for (int i = 0; i < size; ++i) {
      redisContext* c = redisConnect("127.0.0.1", port);
      if (c == nullptr || c->err) throw std::runtime_error("BlockingPool: connect failed");
      free_.push_back(c);
    }
  }
  ~BlockingPool() {
    for (auto* c : free_) redisFree(c);
  }
  // GET key, on a borrowed connection; returns the value's size.
  std::size_t get(const std::string& key) {
    redisContext* c;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !free_.empty(); });
      c = free_.back();
      free_.pop_back();
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size()));
    const std::size_t n = r != nullptr && r->type == REDIS_REPLY_STRING ? r->len : 0;
    if (r != nullptr) freeReplyObject(r);
    {
      std::lock_guard lock(mu_);
      free_.push_back(c);
    }
    cv_.notify_one();
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<redisContext*> free_;
};

}  // namespace multicache::bench
