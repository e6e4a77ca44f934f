// Background refresh before expiry, against a real Redis.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <functional>
#include <latch>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "integration/test_types.h"

// A value whose codec refuses "bad" (as a user's codec may throw).
namespace multicache::test {
struct Picky {
  std::string v;
  bool operator==(const Picky&) const = default;
};
}  // namespace multicache::test
template <>
struct multicache::Codec<multicache::test::Picky> {
  static std::string encode(const test::Picky& p) {
    if (p.v == "bad") throw std::runtime_error("cannot encode");
    return p.v;
  }
  static test::Picky decode(std::string_view b) { return {std::string(b)}; }
};

namespace multicache::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

class RefreshTest : public ::testing::Test {
 protected:
  RedisServer server_;
  std::string prefix_ = unique_prefix();
  Options options() const {
    Options o = options_for(server_, prefix_);
    o.early_refresh_ratio = 0.5;
    return o;
  }
};

// L1-only options on a ManualClock: stale at half the ttl.
Options manual_options(const std::shared_ptr<ManualClock>& clock) {
  Options o;
  o.early_refresh_ratio = 0.5;
  o.clock = clock;
  return o;
}

TEST_F(RefreshTest, AStaleReadReturnsAtOnceAndOneReloadReplacesBothLevels) {
  Cache cache(options());
  std::atomic<int> loads{0};
  auto loader = [&loads] {
    const int n = loads.fetch_add(1) + 1;
    if (n > 1) std::this_thread::sleep_for(300ms);  // the refresh is slow
    return "v" + std::to_string(n);
  };
  EXPECT_EQ(cache.get_or_load<std::string>("k", 2s, loader), "v1");
  std::this_thread::sleep_for(1200ms);  // past 2 s * 0.5: stale, not expired

  constexpr int k_readers = 100;
  std::barrier start(k_readers);
  std::atomic<long> worst_us{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < k_readers; ++i) {
    readers.emplace_back([&] {
      start.arrive_and_wait();
      const auto t0 = steady::now();
      const std::string v = cache.get_or_load<std::string>("k", 2s, loader);
      const long us =
          std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count();
      long prev = worst_us.load();
      while (us > prev && !worst_us.compare_exchange_weak(prev, us)) {
      }
      EXPECT_EQ(v, "v1");  // the old value, at once
    });
  }
  for (auto& t : readers) t.join();
  // Well under the loader's 300 ms: nobody waited for the refresh.
  EXPECT_LT(worst_us.load(), std::chrono::microseconds(slack(150ms)).count());
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 1; }));
  EXPECT_EQ(loads.load(), 2);  // exactly one reload for 100 stale reads
  EXPECT_EQ(cache.get<std::string>("k"), "v2");
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v2");
  EXPECT_GT(cli.cmd({"PTTL", prefix_ + "k"}).integer, 1500);  // a full new ttl
}

// The stale-after time goes to Redis in whole seconds, rounded down. Counted
// stale as soon as that second began, a value read back right after it was
// written with a short TTL was stale at once, and every instance that read it
// reloaded it (a loader call, a write and an invalidation of every copy).
// The writes here start just after a second begins, so each one's stale-after
// time (500 ms on) falls in the second it is written in.
TEST_F(RefreshTest, AnotherInstanceDoesNotFindAJustWrittenValueStale) {
  Cache writer(options());  // early_refresh_ratio 0.5: stale after 500 ms
  Cache reader(options());
  std::atomic<int> reader_loads{0};
  auto read = [&](const std::string& key) {
    return reader.get_or_load<std::string>(key, 1s, [&] {
      ++reader_loads;
      return std::string("r");
    });
  };
  std::this_thread::sleep_until(
      std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()) + 10ms);
  for (int i = 0; i < 12; ++i) {
    const std::string key = "k" + std::to_string(i);
    writer.set<std::string>(key, "w", 1s);
    // The set's invalidation first, so that it cannot drop the copy read next.
    ASSERT_TRUE(eventually([&] { return reader.stats().invalidations_received == i + 1u; }));
    EXPECT_EQ(read(key), "w");
    std::this_thread::sleep_for(10ms);
  }
  // Nor do the copies the reader keeps in L1 turn stale before their time.
  for (int i = 0; i < 12; ++i) EXPECT_EQ(read("k" + std::to_string(i)), "w");
  std::this_thread::sleep_for(100ms);  // a refresh those reads queued would have started
  EXPECT_EQ(reader.stats().l2_hits, 12u);
  EXPECT_EQ(reader.stats().l1_hits, 12u);
  EXPECT_EQ(reader.stats().refreshes_started, 0u);
  EXPECT_EQ(reader_loads.load(), 0);
}

TEST_F(RefreshTest, AFailingRefreshKeepsServingTheOldValueUntilExpiry) {
  Cache cache(options());
  std::atomic<int> loads{0};
  auto loader = [&loads]() -> std::string {
    if (loads.fetch_add(1) == 0) return "v1";
    throw std::runtime_error("database down");
  };
  EXPECT_EQ(cache.get_or_load<std::string>("k", 2s, loader), "v1");
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(cache.get_or_load<std::string>("k", 2s, loader), "v1");  // stale, refresh fails
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_failed >= 1; }));
  EXPECT_EQ(cache.get_or_load<std::string>("k", 2s, loader), "v1");  // still served
  std::this_thread::sleep_for(1000ms);                               // now past the 2 s expiry
  EXPECT_THROW(cache.get_or_load<std::string>("k", 2s, loader), std::runtime_error);
}

TEST_F(RefreshTest, ARefreshTellsOtherInstancesToDropTheirCopy) {
  Cache a(options());
  Cache b(options());
  std::atomic<int> loads{0};
  auto loader = [&loads] { return "v" + std::to_string(loads.fetch_add(1) + 1); };
  EXPECT_EQ(a.get_or_load<std::string>("k", 2s, loader), "v1");
  // b holds it in L1 (once a's write, which a did not wait for, has landed).
  ASSERT_TRUE(eventually([&] { return b.get<std::string>("k") == "v1"; }));
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(a.get_or_load<std::string>("k", 2s, loader), "v1");  // triggers the refresh
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received >= 1; }));
  EXPECT_EQ(b.get<std::string>("k"), "v2");
}

// With negative_ttl 0 (absence is not cached), a refresh whose loader finds
// nothing (the row was deleted) must not leave the old value cached. It did:
// the value stayed in L1 (its refresh claim never released, so no other
// refresh came), in Redis and in other instances' L1, and was served until
// its ttl ran out.
TEST_F(RefreshTest, ARefreshThatFindsNothingWithoutNegativeCachingDropsTheOldValue) {
  Options o = options();
  o.negative_ttl = 0ms;
  Cache a(o);
  Cache b(o);
  std::atomic<int> loads{0};
  auto loader = [&loads]() -> std::optional<std::string> {
    if (loads.fetch_add(1) == 0) return std::string("v1");
    return std::nullopt;  // deleted meanwhile
  };
  using Opt = std::optional<std::string>;
  EXPECT_EQ(a.get_or_load<Opt>("k", 3s, loader), "v1");
  ASSERT_TRUE(eventually([&] { return b.get<Opt>("k") == Opt("v1"); }));  // b holds it in L1
  std::this_thread::sleep_for(1600ms);                   // stale (1.5 s), not expired (3 s)
  EXPECT_EQ(a.get_or_load<Opt>("k", 3s, loader), "v1");  // queues the refresh
  ASSERT_TRUE(eventually([&] { return a.stats().refreshes_ok == 1; }));
  EXPECT_EQ(loads.load(), 2);
  EXPECT_EQ(a.get_or_load<Opt>("k", 3s, loader), std::nullopt);
  EXPECT_EQ(loads.load(), 3);  // not cached: loaded again
  RedisCli cli(server_);
  std::string raw;
  EXPECT_TRUE(eventually([&] { return !cli.get(prefix_ + "k", &raw); }))
      << "Redis still holds " << raw.substr(9);
  EXPECT_TRUE(eventually([&] { return !b.get<Opt>("k").has_value(); }));
}

// A refresh while another instance writes a new value leaves that value
// alone, whether the reload found a value or nothing: it replaces only the
// bytes it read. (A "not found" deleted the key and set the marker
// unconditionally: the other instance's write was lost.) b announces on
// another channel, as if its invalidation had not reached a yet; a's
// compare-and-set loses, so a drops its reload from L1 too.
TEST_F(RefreshTest, ARefreshDoesNotReplaceAValueWrittenMeanwhile) {
  using Opt = std::optional<std::string>;
  Cache a(options());
  Options late = options();
  late.pubsub_channel = prefix_ + "unheard";
  Cache b(late);
  RedisCli cli(server_);
  for (const Opt& reloaded : {Opt(), Opt("v2")}) {
    const std::string k = reloaded ? "found" : "gone";
    EXPECT_EQ(a.get_or_load<Opt>(k, 3s, [] { return Opt("v1"); }), "v1");
    std::this_thread::sleep_for(1600ms);  // stale (1.5 s), not expired (3 s)
    const std::uint64_t refreshed = a.stats().refreshes_ok;
    EXPECT_EQ(a.get_or_load<Opt>(k, 3s,
                                 [&] {
                                   b.set<Opt>(k, Opt("new"), 60s);  // after the refresh's read
                                   return reloaded;
                                 }),
              "v1");
    ASSERT_TRUE(eventually([&] { return a.stats().refreshes_ok == refreshed + 1; })) << k;
    std::string raw;
    ASSERT_TRUE(cli.get(prefix_ + k, &raw)) << k << ": the new value was deleted";
    EXPECT_EQ(raw.substr(9), "new") << k;
    EXPECT_EQ(cli.cmd({"EXISTS", prefix_ + "\x01neg\x01" + k}).integer, 0) << k;
    EXPECT_EQ(a.get<Opt>(k), Opt("new")) << k << ": a kept its reload";
  }
}

TEST(RefreshWithoutRedisTest, ARefreshThatFindsNothingWithoutNegativeCachingDropsTheOldValue) {
  auto clock = std::make_shared<ManualClock>();
  Options o = manual_options(clock);
  o.negative_ttl = 0ms;
  Cache cache(o);
  std::atomic<int> loads{0};
  auto loader = [&loads]() -> std::optional<std::string> {
    if (loads.fetch_add(1) == 0) return std::string("v1");
    return std::nullopt;
  };
  using Opt = std::optional<std::string>;
  EXPECT_EQ(cache.get_or_load<Opt>("k", 10s, loader), "v1");
  clock->advance(6s);  // stale
  EXPECT_EQ(cache.get_or_load<Opt>("k", 10s, loader), "v1");
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 1; }));
  EXPECT_EQ(cache.get_or_load<Opt>("k", 10s, loader), std::nullopt);
  EXPECT_EQ(loads.load(), 3);
}

TEST_F(RefreshTest, AValueReadFromRedisAlreadyStaleIsRefreshed) {
  // Another instance (Go, say) wrote it long ago: stale-after is in the past.
  RedisCli cli(server_);
  cli.cmd({"SET", prefix_ + "old", std::string(8, '\0') + std::string(1, '\0') + "ancient", "PX",
           "60000"});
  Cache cache(options());
  EXPECT_EQ(cache.get_or_load<std::string>("old", 60s, [] { return std::string("renewed"); }),
            "ancient");  // served at once...
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 1; }));
  std::string raw;  // ...and renewed in the background
  ASSERT_TRUE(cli.get(prefix_ + "old", &raw));
  EXPECT_EQ(raw.substr(9), "renewed");
}

// A refresh queued before a set() of its key (here behind another refresh on
// the only refresh thread) must not replace the set()'s value when it runs.
void expect_a_queued_refresh_not_to_undo_a_set(Cache& cache, std::chrono::milliseconds ttl,
                                               const std::function<void()>& make_stale) {
  // Owned by the loader's copies: the refresh that runs it may still be
  // leaving unblock.wait() when this function returns (it counts its refresh
  // with a relaxed counter, which orders nothing for TSan).
  struct Blocking {
    std::latch running{1}, unblock{1};
    std::atomic<int> loads{0};
  };
  const auto sync = std::make_shared<Blocking>();
  std::latch& blocker_running = sync->running;
  std::latch& unblock = sync->unblock;
  auto blocker = [sync] {
    if (sync->loads.fetch_add(1) > 0) {
      sync->running.count_down();
      sync->unblock.wait();
    }
    return std::string("b");
  };
  cache.get_or_load<std::string>("block", ttl, blocker);
  cache.get_or_load<std::string>("k", ttl, [] { return std::string("loaded"); });
  make_stale();
  cache.get_or_load<std::string>("block", ttl, blocker);  // its refresh holds the thread
  blocker_running.wait();
  const std::string stale =
      cache.get_or_load<std::string>("k", ttl, [] { return std::string("reloaded"); });
  cache.set<std::string>("k", "set", ttl);
  unblock.count_down();
  EXPECT_EQ(stale, "loaded");  // and a refresh queued
  ASSERT_TRUE(eventually([&] {
    const Stats s = cache.stats();
    return s.refreshes_ok + s.refreshes_skipped == 2;
  }));
  EXPECT_EQ(cache.stats().refreshes_skipped, 1u);
  EXPECT_EQ(cache.get<std::string>("k"), "set");
}

// A refresh whose value cannot be cached (its codec throws) leaves the old
// entry as it was, claim included: the next stale read refreshes again. (The
// claim stayed set, and the entry went unrefreshed until it expired.)
TEST(RefreshWithoutRedisTest, ARefreshWhoseValueCannotBeCachedLetsTheNextStaleReadRetry) {
  auto clock = std::make_shared<ManualClock>();
  Options o = manual_options(clock);
  o.log = [](log_level, std::string_view) {};
  Cache cache(o);
  std::atomic<int> loads{0};
  auto loader = [&loads] {
    const int n = loads.fetch_add(1);
    return Picky{n == 0 ? "v1" : n == 1 ? "bad" : "v3"};
  };
  EXPECT_EQ(cache.get_or_load<Picky>("k", 10s, loader).v, "v1");
  clock->advance(6s);                                             // stale
  EXPECT_EQ(cache.get_or_load<Picky>("k", 10s, loader).v, "v1");  // refresh: "bad"
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 1; }));
  EXPECT_EQ(cache.stats().encode_errors, 1u);
  EXPECT_EQ(cache.get_or_load<Picky>("k", 10s, loader).v, "v1");  // refresh again: "v3"
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }, 2s));
  EXPECT_EQ(cache.get_or_load<Picky>("k", 10s, loader).v, "v3");
}

TEST(RefreshWithoutRedisTest, ARefreshQueuedBeforeASetDoesNotReplaceIt) {
  auto clock = std::make_shared<ManualClock>();
  Options o = manual_options(clock);
  o.refresh_threads = 1;
  Cache cache(o);
  expect_a_queued_refresh_not_to_undo_a_set(cache, 10s, [&] { clock->advance(6s); });
}

// With Redis, and a stale-after time under a second: Redis holds it in whole
// seconds, so the refresh cannot tell the set()'s value from a stale one.
TEST_F(RefreshTest, ARefreshQueuedBeforeASetDoesNotReplaceItInRedis) {
  Options o = options();
  o.refresh_threads = 1;
  o.early_refresh_ratio = 0.25;  // stale after 500 ms; expiry 1.4 s after the sleep
  Cache cache(o);
  expect_a_queued_refresh_not_to_undo_a_set(cache, 2s, [] { std::this_thread::sleep_for(600ms); });
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "set");
}

// A caller whose key expired while its background refresh ran waits for that
// refresh; when it fails, the caller gets the stale_if_error value, as from a
// load it led itself, not the refresh's exception, and a single call says so
// (read_source::stale_on_error, not joined). Single and batch calls.
TEST(RefreshWithoutRedisTest, CallersWaitingOnAFailedRefreshGetTheStaleIfErrorValue) {
  for (const bool batch : {false, true}) {
    auto clock = std::make_shared<ManualClock>();
    Options o = manual_options(clock);
    o.stale_if_error = 10s;
    Cache cache(o);
    cache.get_or_load<std::string>("k", 10s, [] { return std::string("v1"); });
    clock->advance(6s);  // stale
    std::latch refresh_running(1), unblock(1);
    EXPECT_EQ(cache.get_or_load<std::string>("k", 10s,
                                             [&]() -> std::string {
                                               refresh_running.count_down();
                                               unblock.wait();
                                               throw std::runtime_error("database down");
                                             }),
              "v1");
    refresh_running.wait();
    clock->advance(5s);  // expired while the refresh runs
    std::string got;
    read_source from = read_source::joined;
    std::thread caller([&] {
      try {
        if (batch) {
          auto m = cache.get_or_load_many<std::string>({"k"}, 10s, [](const auto& keys) {
            std::unordered_map<std::string, std::string> out;
            for (const auto& key : keys) out[key] = "batch loaded";
            return out;
          });
          got = m.count("k") != 0 ? m.at("k") : "absent";
        } else {
          got = cache.get_or_load<std::string>(
              "k", 10s, [] { return std::string("loaded"); }, &from);
        }
      } catch (const std::exception& e) {
        got = std::string("threw: ") + e.what();
      }
    });
    const bool joined = eventually([&] { return cache.stats().shared_loads == 1; });
    unblock.count_down();
    caller.join();
    ASSERT_TRUE(joined) << batch;
    EXPECT_EQ(got, "v1") << batch;
    EXPECT_EQ(cache.stats().stale_served_on_error, 1u) << batch;
    if (!batch) {
      EXPECT_EQ(from, read_source::stale_on_error);
    }
  }
}

// A refresh loader that owns the last reference to its cache destroys the
// cache on the refresh thread when the refresh ends: no self-join abort.
TEST_F(RefreshTest, ARefreshLoaderMayHoldTheLastReferenceToItsCache) {
  Options o = options();
  o.early_refresh_ratio = 0.25;  // stale after 500 ms; expiry 1.4 s after the sleep
  auto cache = std::make_shared<Cache>(o);
  std::weak_ptr<Cache> weak = cache;
  cache->get_or_load<std::string>("k", 2s, [] { return std::string("v1"); });
  std::this_thread::sleep_for(600ms);
  std::latch running(1), release(1);
  EXPECT_EQ(cache->get_or_load<std::string>("k", 2s,
                                            [&running, &release, owner = cache] {
                                              running.count_down();
                                              release.wait();
                                              return std::string("v2");
                                            }),
            "v1");
  running.wait();
  cache.reset();
  release.count_down();
  EXPECT_TRUE(eventually([&] { return weak.expired(); }));
  RedisCli cli(server_);  // the refresh completed before the cache went
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v2");
}

// A refresh whose Redis read finds nothing while a remove() outdates it
// goes on to reload, and a caller that joined it meanwhile gets the reload.
// (Cancelled there, it handed that caller nothing, and the caller loaded the
// key again by itself.)
TEST_F(RefreshTest, ACallerJoiningARefreshOutdatedAfterAnEmptyReadGetsTheReload) {
  Options o = options();
  o.early_refresh_ratio = 0.25;  // stale after 500 ms of 2 s
  o.command_timeout = 10s;       // nothing times out while Redis is paused
  Cache cache(o);
  cache.get_or_load<std::string>("k", 2s, [] { return std::string("v1"); });
  RedisCli cli(server_);
  cli.cmd({"DEL", prefix_ + "k"});  // gone from Redis, still in L1
  std::this_thread::sleep_for(600ms);
  server_.pause();  // the refresh's read waits in Redis
  EXPECT_EQ(cache.get_or_load<std::string>("k", 2s, [] { return std::string("reloaded"); }), "v1");
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_started == 1; }, 5s));
  std::thread remover([&] { cache.remove("k"); });  // L1 now, Redis after the resume
  ASSERT_TRUE(eventually([&] { return cache.stats().l1_items == 0; }, 5s));
  std::string got;
  std::thread follower([&] {
    got = cache.get_or_load<std::string>("k", 2s, [] { return std::string("by the follower"); });
  });
  ASSERT_TRUE(eventually([&] { return cache.stats().shared_loads == 1; }, 5s));
  server_.resume();
  follower.join();
  remover.join();
  EXPECT_EQ(got, "reloaded");
}

// close() from a refresh loader shuts the cache down (it cannot wait for
// its own refresh); the destructor, on another thread, waits for it.
TEST_F(RefreshTest, ARefreshLoaderMayCloseItsCache) {
  std::atomic<bool> finished{false};
  std::string close_error = "not called";
  {
    Options o = options();
    o.early_refresh_ratio = 0.25;  // stale after 500 ms; expiry 1.4 s after the sleep
    Cache cache(o);
    cache.get_or_load<std::string>("k", 2s, [] { return std::string("v1"); });
    std::this_thread::sleep_for(600ms);
    std::latch closed(1);
    cache.get_or_load<std::string>("k", 2s, [&] {
      try {
        cache.close();
        close_error.clear();
      } catch (const std::exception& e) {
        close_error = e.what();
      }
      closed.count_down();
      std::this_thread::sleep_for(100ms);
      finished = true;
      return std::string("v2");
    });
    closed.wait();
    // Closed for good: a write now touches L1 only.
    cache.set<std::string>("after", "x", 10s);
  }  // the destructor waits for the refresh still running
  EXPECT_EQ(close_error, "");
  EXPECT_TRUE(finished.load());
  RedisCli cli(server_);
  std::string raw;
  EXPECT_FALSE(cli.get(prefix_ + "after", &raw));
}

// close() on a user thread while a refresh loader calls close() too: the
// user's close() waits for that refresh (with no lock the loader's close()
// needs), and both return.
TEST_F(RefreshTest, CloseRacingACloseFromARefreshLoaderReturns) {
  Options o = options();
  o.early_refresh_ratio = 0.25;  // stale after 500 ms; expiry 1.4 s after the sleep
  Cache cache(o);
  cache.get_or_load<std::string>("k", 2s, [] { return std::string("v1"); });
  std::this_thread::sleep_for(600ms);
  std::latch in_loader(1);
  std::atomic<bool> user_closing{false}, loader_closed{false};
  cache.get_or_load<std::string>("k", 2s, [&] {
    in_loader.count_down();
    while (!user_closing.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);  // the user's close() is waiting for this refresh
    cache.close();
    loader_closed = true;
    return std::string("v2");
  });
  in_loader.wait();
  user_closing = true;
  cache.close();  // used to deadlock: it held close()'s lock while joining the loader
  EXPECT_TRUE(loader_closed.load());  // it waited for the refresh
}

TEST_F(RefreshTest, CloseWaitsForRunningRefreshes) {
  std::latch entered(1);
  std::atomic<bool> finished{false};
  {
    Cache cache(options());
    cache.get_or_load<std::string>("k", 2s, [] { return std::string("v1"); });
    std::this_thread::sleep_for(1100ms);
    cache.get_or_load<std::string>("k", 2s, [&] {
      entered.count_down();
      std::this_thread::sleep_for(200ms);
      finished = true;
      return std::string("v2");
    });
    entered.wait();
    cache.close();  // must not return while the loader runs
    EXPECT_TRUE(finished.load());
  }
}

}  // namespace
}  // namespace multicache::test
