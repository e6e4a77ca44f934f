// Fault injection under load: a real redis-server is frozen, killed, has its
// connections killed, or sleeps, while 4 threads call get_or_load on 1,000
// keys. Nothing may escape to a caller, every value must be right and fresh
// enough, no call may hang, the breaker must open and close, and Redis must be
// used again afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto k_ttl = 1000ms;       // short, so staleness is checkable
constexpr auto k_loader_time = 2ms;  // the "database"
constexpr auto k_command_timeout = 100ms;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch())
      .count();
}

// Values are "<key>@<load time in ms>", so a reader can tell how old they are.
class Load {
 public:
  explicit Load(Cache& cache) : cache_(cache) {
    for (int t = 0; t < 4; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  void reset_window() { worst_us_ = 0; }
  std::int64_t worst_ms() const { return worst_us_.load() / 1000; }
  std::uint64_t calls() const { return calls_.load(); }
  std::uint64_t exceptions() const { return exceptions_.load(); }
  std::uint64_t wrong() const { return wrong_.load(); }
  std::uint64_t too_old() const { return too_old_.load(); }

 private:
  void run(int seed) {
    std::mt19937 rng(seed);
    while (!stop_) {
      const std::string key = "k" + std::to_string(rng() % 1000);
      const auto t0 = steady::now();
      try {
        const std::string v = cache_.get_or_load<std::string>(key, k_ttl, [key] {
          std::this_thread::sleep_for(k_loader_time);
          return key + "@" + std::to_string(now_ms());
        });
        const auto at = v.find('@');
        if (at == std::string::npos || v.substr(0, at) != key) {
          ++wrong_;
        } else if (now_ms() - std::stoll(v.substr(at + 1)) > (k_ttl + slack(200ms)).count()) {
          ++too_old_;  // served past its TTL
        }
      } catch (...) {
        ++exceptions_;
      }
      const auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count();
      std::int64_t prev = worst_us_.load();
      while (us > prev && !worst_us_.compare_exchange_weak(prev, us)) {
      }
      ++calls_;
    }
  }

  Cache& cache_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> worst_us_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> exceptions_{0};
  std::atomic<std::uint64_t> wrong_{0};
  std::atomic<std::uint64_t> too_old_{0};
  std::vector<std::thread> threads_;
};

class FaultTest : public ::testing::Test {
 protected:
  FaultTest() {
    Options o = options_for(server_, unique_prefix());
    o.circuit_breaker = true;
    o.circuit_breaker_max_failures = 3;
    o.circuit_breaker_open_timeout = 500ms;
    o.command_timeout = k_command_timeout;
    o.connect_timeout = 500ms;
    o.l1_ttl = 50ms;  // keep the load flowing to Redis
    cache_ = std::make_unique<Cache>(o);
  }

  // Runs the load through `fault`, then checks the promises.
  template <class Fault>
  void survive(Fault fault, bool expect_breaker_to_open) {
    Load load(*cache_);
    std::this_thread::sleep_for(300ms);  // warm: L2 in use
    const Stats before = cache_->stats();
    ASSERT_GT(before.l2_hits, 0u);
    load.reset_window();
    fault();
    // Recovery: connected, subscribed, breaker closed (the load drives the probe).
    ASSERT_TRUE(eventually(
        [&] { return cache_->redis_connected() && !cache_->stats().breaker_open; }, 15s));
    const Stats after_fault = cache_->stats();
    const std::int64_t worst = load.worst_ms();
    // Redis is used again.
    ASSERT_TRUE(eventually([&] { return cache_->stats().l2_hits > after_fault.l2_hits + 10; }));

    EXPECT_EQ(load.exceptions(), 0u);
    EXPECT_EQ(load.wrong(), 0u);
    EXPECT_EQ(load.too_old(), 0u);
    // A hang check, not a speed check: one command timeout plus the loader, with a wide margin.
    EXPECT_LT(worst, slack(k_command_timeout + k_loader_time + 400ms).count());
    EXPECT_GT(after_fault.redis_errors, before.redis_errors);
    if (expect_breaker_to_open) {
      EXPECT_GE(after_fault.breaker_transitions, before.breaker_transitions + 3)
          << "closed -> open -> half-open -> closed";
      EXPECT_GT(after_fault.breaker_rejections, before.breaker_rejections);
    }
    RecordProperty("calls", static_cast<int>(load.calls()));
    RecordProperty("worst_ms", static_cast<int>(worst));
    std::printf("  calls=%llu worst=%lld ms redis_errors=%llu breaker_transitions=%llu\n",
                static_cast<unsigned long long>(load.calls()), static_cast<long long>(worst),
                static_cast<unsigned long long>(after_fault.redis_errors - before.redis_errors),
                static_cast<unsigned long long>(after_fault.breaker_transitions -
                                                before.breaker_transitions));
  }

  RedisServer server_;
  std::unique_ptr<Cache> cache_;
};

TEST_F(FaultTest, FrozenForThreeSeconds) {
  survive(
      [&] {
        server_.pause();  // SIGSTOP
        std::this_thread::sleep_for(3s);
        server_.resume();
      },
      true);
}

TEST_F(FaultTest, KilledAndRestartedEmpty) {
  survive(
      [&] {
        server_.kill();
        std::this_thread::sleep_for(1s);
        server_.restart();
      },
      true);
}

TEST_F(FaultTest, AllConnectionsKilled) {
  survive(
      [&] {
        RedisCli cli(server_);
        cli.cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
        cli.cmd({"CLIENT", "KILL", "TYPE", "pubsub"});
        std::this_thread::sleep_for(500ms);
      },
      false);
}

TEST_F(FaultTest, DebugSleepTwoSeconds) {
  survive(
      [&] {
        RedisCli cli(server_, 0, 10s);     // its own reply comes after the 2 s
        cli.cmd({"DEBUG", "SLEEP", "2"});  // blocks this client, and the server, for 2 s
      },
      true);
}

}  // namespace
}  // namespace multicache::test
