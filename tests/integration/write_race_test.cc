// Writes of one key that overlap: a set() during a load, a remove() during a
// batch's fill, a remove() right after a load returned, two set()s.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class WriteRaceTest : public RedisTest {
 protected:
  ~WriteRaceTest() override { g_size_of_hook = nullptr; }
};

// L1 is the only copy: a load that ends after a set() of its key must not
// take the set()'s value out of L1 (it did: the outdated fill dropped the
// key, so the value was lost and the next read called the loader again).
TEST(WriteRaceL1Only, ASetDuringALoadIsKept) {
  Cache cache(Options{});
  std::promise<void> in_loader;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::string loaded;
  std::thread loading([&] {
    loaded = cache.get_or_load<std::string>("k", 60s, [&] {
      in_loader.set_value();
      released.wait();
      return std::string("from the loader");
    });
  });
  in_loader.get_future().wait();
  cache.set<std::string>("k", "from set", 60s);
  release.set_value();
  loading.join();
  EXPECT_EQ(loaded, "from the loader");  // its caller gets what it loaded
  EXPECT_EQ(cache.get<std::string>("k"), "from set");
  int loads = 0;
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s,
                                           [&] {
                                             ++loads;
                                             return std::string("again");
                                           }),
            "from set");
  EXPECT_EQ(loads, 0);
}

// A remove() that returns while a batch is filling: the batch's value for
// that key must not stay in Redis. (Its SET went out after the remove()'s
// DEL; it is now taken back.)
TEST_F(WriteRaceTest, ARemoveDuringABatchFillDoesNotLeaveTheLoadedValueInRedis) {
  std::atomic<int> version{1};
  std::atomic<bool> armed{true};
  std::atomic<Cache*> self{nullptr};
  Options o = options();
  o.test_before_l1_fill = [&](std::string_view key) {
    // "a" is in L1 already; the batch's Redis writes have not gone out.
    if (key != "b" || !armed.exchange(false)) return;
    std::thread remover([&] {
      version = 2;  // the database changes, then the cache entry goes
      self.load()->remove("a");
    });
    remover.join();
  };
  Cache cache(o);
  self = &cache;
  auto got = cache.get_or_load_many<std::string>(
      {"a", "b"}, 60s, [&](const std::vector<std::string>& keys) {
        std::unordered_map<std::string, std::string> out;
        for (const auto& k : keys) out[k] = k + "@v" + std::to_string(version.load());
        return out;
      });
  EXPECT_FALSE(armed.load());
  EXPECT_EQ(got["a"], "a@v1");
  RedisCli cli(server_);
  std::string raw;
  EXPECT_TRUE(eventually([&] { return !cli.get(prefix_ + "a", &raw); }))
      << "Redis still holds " << raw.substr(9);
  EXPECT_TRUE(cli.get(prefix_ + "b", &raw));  // b was not removed
  EXPECT_EQ(cache.stats().fill_writes_withdrawn, 1u);
  Cache other(options());
  EXPECT_EQ(
      other.get_or_load<std::string>("a", 60s, [&] { return "a@v" + std::to_string(version); }),
      "a@v2");
}

// Once get_or_load has returned, its value is in Redis: a remove() that
// another instance makes after that (told by this one) wins. With the load's
// SET sent unawaited, the SET often reached Redis after the DEL and the
// removed value stayed for its whole TTL.
TEST_F(WriteRaceTest, ARemoveAfterALoadReturnedWins) {
  Cache loader_side(options());
  Cache remover_side(options());
  constexpr int k_keys = 300;
  for (int i = 0; i < k_keys; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(loader_side.get_or_load<std::string>(key, 60s, [] { return std::string("old"); }),
              "old");
    remover_side.remove(key);
  }
  RedisCli cli(server_);
  int left = 0;
  std::string raw;
  for (int i = 0; i < k_keys; ++i) left += cli.get(prefix_ + "k" + std::to_string(i), &raw);
  EXPECT_EQ(left, 0);
}

// Two set()s of one key in one instance, the second taking its token after
// the first one's and writing Redis first: whichever reached Redis last, L1
// must not keep the other's value (it kept the first-written value while
// Redis held the other).
TEST_F(WriteRaceTest, TwoSetsOfOneKeyDoNotLeaveL1DifferentFromRedis) {
  // "one" is held once, after its Redis write and before its L1 insert.
  std::promise<void> one_held;
  std::promise<void> one_go;
  std::shared_future<void> one_released = one_go.get_future().share();
  std::atomic<bool> hold_one{true};
  g_size_of_hook = [&](const Hooked& h) {
    if (h.v != "one" || !hold_one.exchange(false)) return;
    one_held.set_value();
    one_released.wait();
  };
  std::promise<void> two_paused;
  std::promise<void> two_go;
  std::shared_future<void> two_released = two_go.get_future().share();
  std::atomic<int> hook_calls{0};
  Options o = options();
  o.test_before_l1_fill = [&](std::string_view key) {
    if (key != "k" || hook_calls.fetch_add(1) != 0) return;
    two_paused.set_value();  // "two": L1's old copy is out, its token taken
    two_released.wait();
  };
  Cache cache(o);
  std::thread setting_two([&] { cache.set<Hooked>("k", Hooked{"two"}, 60s); });
  two_paused.get_future().wait();
  // "one": erases (outdating "two"), takes its token, writes Redis, and
  // stops before its L1 insert.
  std::thread setting_one([&] { cache.set<Hooked>("k", Hooked{"one"}, 60s); });
  one_held.get_future().wait();
  two_go.set_value();  // "two" reaches Redis last; its insert is outdated
  setting_two.join();
  one_go.set_value();  // then "one" tries its insert
  setting_one.join();
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "two");
  EXPECT_EQ(cache.get<Hooked>("k"), Hooked{"two"});
}

// A set() whose value cannot go into L1 after its Redis write must still
// outdate a read of the key that fetched the old value from Redis before the
// write landed. It did not when the insert gave up early (the value expired
// on the way, or exceeds the byte bound): the insert returned before bumping
// the key's generation, so the old value went into L1 after set() returned
// and was served for its whole remaining TTL.
class SetVersusFillTest : public WriteRaceTest {
 protected:
  // Runs set(cache) while a get() of "k" reads "old" from Redis before the
  // set()'s write and fills L1 only after set() returned. slow_write runs
  // in set() right before its Redis write.
  void race(Options o, const std::function<void(Cache&)>& set,
            const std::function<void()>& slow_write) {
    o.test_before_l1_fill = [this, slow_write](std::string_view key) {
      if (key != "k") return;
      const int n = calls_.fetch_add(1);
      if (n == 0) {  // set(): the old copy is out of L1, Redis not written yet
        set_paused_.set_value();
        old_read_f_.wait();
        slow_write();
      } else if (n == 1) {  // get(): "old" read from Redis, L1 not filled yet
        old_read_.set_value();
        set_done_f_.wait();
      }
    };
    cache_ = std::make_unique<Cache>(o);
    std::thread setter([&] { set(*cache_); });
    set_paused_.get_future().wait();
    std::optional<std::string> got;
    std::thread getter([&] { got = cache_->get<std::string>("k"); });
    setter.join();
    set_done_.set_value();
    getter.join();
    EXPECT_EQ(got, "old");  // it read before the write
    EXPECT_EQ(calls_.load(), 2);
  }
  // The hook's state outlives race(): the cache (destroyed first) keeps
  // calling the hook on later fills.
  std::promise<void> set_paused_, old_read_, set_done_;
  std::shared_future<void> old_read_f_ = old_read_.get_future().share();
  std::shared_future<void> set_done_f_ = set_done_.get_future().share();
  std::atomic<int> calls_{0};
  std::unique_ptr<Cache> cache_;
};

TEST_F(SetVersusFillTest, ASetWhoseValueExpiredBeforeReachingL1StillOutdatesAnOlderFill) {
  Cache other(options());
  other.set<std::string>("k", "old", 60s);
  // A 50 ms ttl and a Redis write that takes 100 ms: expired before L1.
  race(
      options(), [](Cache& c) { c.set<std::string>("k", "new", 50ms); },
      [] { std::this_thread::sleep_for(100ms); });
  // Gone from Redis; other's L1 copy goes once the set's invalidation arrives.
  EXPECT_TRUE(eventually([&] { return !other.get<std::string>("k"); }));
  EXPECT_EQ(cache_->get<std::string>("k"), std::nullopt);
}

TEST_F(SetVersusFillTest, ASetTooLargeForL1StillOutdatesAnOlderFill) {
  Cache other(options());
  other.set<std::string>("k", "old", 60s);
  Options o = options();
  o.l1_max_memory_mb = 1;
  const std::string big(2 << 20, 'x');
  race(
      o, [&](Cache& c) { c.set<std::string>("k", big, 60s); }, [] {});
  const auto now = cache_->get<std::string>("k");
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->size(), big.size()) << "L1 kept \"" << now->substr(0, 10) << "\"";
}

}  // namespace
}  // namespace multicache::test
