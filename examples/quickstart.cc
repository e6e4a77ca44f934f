// quickstart — the Go library's quick start, in C++.
//
//   quickstart [redis-url]     (or MULTICACHE_REDIS_URL; none: L1-only mode)
//
// Loads a user through the cache three times: the first call runs the "slow
// database" loader, the next ones are served from memory.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <multicache/multicache.hpp>
#include <string>
#include <thread>

struct User {
  int id = 0;
  std::string name;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(User, id, name)
};

int main(int argc, char** argv) {
  std::string url = argc > 1 ? argv[1] : "";
  if (url.empty()) {
    if (const char* env = std::getenv("MULTICACHE_REDIS_URL")) url = env;
  }
  if (url.empty()) {
    std::cout << "No Redis given: running L1-only (in-process cache, no sharing between "
                 "instances).\n";
  } else {
    std::cout << "Using Redis at " << url << "\n";
  }

  // 1-2. Create the cache (it owns its Redis connections).
  multicache::Cache cache({
      .redis_url = url,
      .l1_max_items = 5000,    // max 5000 items in RAM
      .l1_max_memory_mb = 100  // max 100 MiB in RAM
  });
  if (!url.empty() && !cache.redis_connected()) {
    std::cout << "Redis is not reachable; the cache serves from L1 and the loader meanwhile.\n";
  }

  // 3. get_or_load: the loader runs only if the key is in neither L1 nor Redis.
  cache.remove("user:123");  // start cold, so the demo shows all three layers
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    User user = cache.get_or_load<User>("user:123", std::chrono::minutes(10), [] {
      std::cout << "  Fetching from slow database...\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return User{123, "John Doe"};
    });
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::cout << "User: " << user.name << " (call " << i + 1 << ", " << us << " us)\n";
  }

  // A second instance (another service process, say) finds the value in Redis.
  if (!url.empty()) {
    multicache::Cache other({.redis_url = url});
    auto user = other.get<User>("user:123");
    std::cout << "Second instance reads from Redis: "
              << (user ? user->name : std::string("(not found)")) << "\n";
    // 4. Explicit deletion: removes from Redis and from every instance's L1.
    cache.remove("user:123");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::cout << "After remove(): second instance sees "
              << (other.get<User>("user:123") ? "a value (unexpected)" : "nothing") << "\n";
  }

  const multicache::Stats s = cache.stats();
  std::cout << "stats: l1_hits=" << s.l1_hits << " l1_misses=" << s.l1_misses
            << " l2_hits=" << s.l2_hits << " loads=" << s.loads
            << " redis_errors=" << s.redis_errors << "\n";
  return 0;
}
