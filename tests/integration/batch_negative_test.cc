// Negative caching for get_or_load_many<std::optional<U>>: a key the batch
// loader leaves out (or maps to std::nullopt) is "not found", returned as
// such and cached for negative_ttl, in L1 and as a Redis marker that other
// instances, single calls, locked batches and refreshes read and write.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "integration/batch_recorder.h"
#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;
using Maybe = std::optional<std::string>;

class BatchNegativeTest : public RedisTest {
 protected:
  std::string marker_of(const std::string& key) const { return prefix_ + "\x01neg\x01" + key; }
  long long exists(const std::string& redis_key) { return cli_.cmd({"EXISTS", redis_key}).integer; }
  RedisCli cli_{server_};
};

TEST_F(BatchNegativeTest, ALeftOutKeyIsReturnedAsNotFoundAndCachedForNegativeTtl) {
  Options o = options();
  o.negative_ttl = slack(1s);  // outlasts the calls below
  Cache a(o);
  Cache b(o);
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  auto loader = [&](const Keys& k) { return rec.load(k, {"gone"}); };
  const Keys keys{"here", "gone"};

  const auto got = a.get_or_load_many<Maybe>(keys, 60s, loader);
  EXPECT_EQ(got,
            (std::unordered_map<std::string, Maybe>{{"here", "v:here"}, {"gone", std::nullopt}}));
  // The batch's writes were awaited: the marker is there, with negative_ttl.
  EXPECT_EQ(exists(marker_of("gone")), 1);
  const long long pttl = cli_.cmd({"PTTL", marker_of("gone")}).integer;
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, o.negative_ttl.count());
  EXPECT_EQ(exists(prefix_ + "gone"), 0);  // what a Go instance reads: nothing

  // Answered from L1 here, from the marker in the other instance, for a batch
  // and for a single call alike: no more loader calls.
  EXPECT_EQ(a.get_or_load_many<Maybe>(keys, 60s, loader), got);
  EXPECT_EQ(b.get_or_load_many<Maybe>(keys, 60s, loader), got);
  EXPECT_EQ(b.stats().negative_hits, 1u);
  EXPECT_EQ(b.get_or_load<Maybe>("gone", 60s, [] { return Maybe("loaded"); }), std::nullopt);
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"gone", "here"}}));

  // After negative_ttl the loader is asked again, for that key only.
  std::this_thread::sleep_for(o.negative_ttl + 100ms);
  EXPECT_EQ(a.get_or_load_many<Maybe>(keys, 60s, loader), got);
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"gone", "here"}, {"gone"}}));
}

TEST_F(BatchNegativeTest, AnExplicitNulloptIsNotFoundToo) {
  Cache cache(options());
  int calls = 0;
  auto loader = [&](const Keys& k) {
    ++calls;
    std::map<std::string, Maybe> out;
    for (const auto& key : k) out[key] = key == "gone" ? Maybe() : Maybe("v:" + key);
    return out;
  };
  const auto got = cache.get_or_load_many<Maybe>({"here", "gone"}, 60s, loader);
  EXPECT_EQ(got,
            (std::unordered_map<std::string, Maybe>{{"here", "v:here"}, {"gone", std::nullopt}}));
  EXPECT_EQ(exists(marker_of("gone")), 1);
  EXPECT_EQ(cache.get_or_load_many<Maybe>({"gone"}, 60s, loader).at("gone"), std::nullopt);
  EXPECT_EQ(calls, 1);
}

TEST_F(BatchNegativeTest, WithNegativeTtlZeroNotFoundIsReturnedButNotCached) {
  Options o = options();
  o.negative_ttl = 0ms;
  Cache cache(o);
  BatchRecorder rec;
  auto loader = [&](const Keys& k) { return rec.load(k, {"gone"}); };
  for (int i = 0; i < 2; ++i) {
    const auto got = cache.get_or_load_many<Maybe>({"gone"}, 60s, loader);
    EXPECT_EQ(got, (std::unordered_map<std::string, Maybe>{{"gone", std::nullopt}}));
  }
  EXPECT_EQ(rec.calls().size(), 2u);
  EXPECT_EQ(exists(marker_of("gone")), 0);
}

// Without std::optional nothing changes: a left-out key is absent from the
// result and not cached.
TEST_F(BatchNegativeTest, APlainTypeLeavesOutWhatTheLoaderLeftOut) {
  Cache cache(options());
  BatchRecorder rec;
  auto loader = [&](const Keys& k) { return rec.load(k, {"gone"}); };
  for (int i = 0; i < 2; ++i) {
    const auto got = cache.get_or_load_many<std::string>({"gone"}, 60s, loader);
    EXPECT_TRUE(got.empty());
  }
  EXPECT_EQ(rec.calls().size(), 2u);
  EXPECT_EQ(exists(marker_of("gone")), 0);
}

// With distributed_single_flight, the marker a locked batch writes answers
// the instances waiting on its lock: four processes batch-loading the same
// keys, half of which do not exist, call the loader once per key in all.
TEST_F(BatchNegativeTest, LockedBatchesLoadEachMissingKeyOnceAcrossProcesses) {
  Keys keys;
  for (int i = 0; i < 8; ++i) keys.push_back("k" + std::to_string(i));
  auto exists_in_db = [](const std::string& k) { return (k.back() - '0') % 2 == 0; };
  Options o = options();
  o.distributed_single_flight = true;
  o.lock_wait = slack(10s);  // a slow round must not end a wait
  in_processes(4, [&](int p, const std::function<void()>& go) {
    Cache cache(o);
    RedisCli counter(server_);
    Keys mine = keys;
    std::shuffle(mine.begin(), mine.end(), std::mt19937(static_cast<unsigned>(p)));
    go();
    const auto got = cache.get_or_load_many<Maybe>(mine, 60s, [&](const Keys& ks) {
      for (const auto& k : ks) counter.cmd({"INCR", prefix_ + "calls:" + k});
      std::this_thread::sleep_for(200ms);
      std::unordered_map<std::string, std::string> out;
      for (const auto& k : ks) {
        if (exists_in_db(k)) out[k] = "v:" + k;
      }
      return out;
    });
    bool right = got.size() == keys.size();
    for (const auto& k : keys) {
      right = right && got.count(k) == 1 &&
              got.at(k) == (exists_in_db(k) ? Maybe("v:" + k) : std::nullopt);
    }
    return right;
  });
  for (const auto& k : keys) EXPECT_EQ(cli_.cmd({"GET", prefix_ + "calls:" + k}).str, "1") << k;
}

// A background refresh whose loader no longer finds a key replaces it with
// "not found" everywhere (a plain type's key is dropped instead:
// BatchRefreshTest).
TEST_F(BatchNegativeTest, ARefreshThatNoLongerFindsAKeyMarksItNotFound) {
  Options o = options();
  o.early_refresh_ratio = 0.1;  // stale after a tenth of the ttl
  o.refresh_threads = 1;
  Cache cache(o);
  Cache other(o);
  const auto ttl = slack(10s);
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  const Keys keys{"stays", "goes"};
  ASSERT_EQ(
      cache.get_or_load_many<Maybe>(keys, ttl, [&](const Keys& k) { return rec.load(k); }).size(),
      2u);
  EXPECT_EQ(other.get_or_load<Maybe>("goes", ttl, [] { return Maybe("loaded"); }), "v:goes");
  std::this_thread::sleep_for(ttl / 10 + 200ms);  // stale, far from expired
  auto leaves_out = [&](const Keys& k) { return rec.load(k, {"goes"}); };
  const std::uint64_t told = other.stats().invalidations_received;
  // The stale values are answered at once; the refresh then loads both keys.
  const auto got = cache.get_or_load_many<Maybe>(keys, ttl, leaves_out);
  EXPECT_EQ(got,
            (std::unordered_map<std::string, Maybe>{{"stays", "v:stays"}, {"goes", "v:goes"}}));
  ASSERT_TRUE(eventually([&] { return exists(marker_of("goes")) == 1; }));
  EXPECT_EQ(exists(prefix_ + "goes"), 0);
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"goes", "stays"}, {"goes", "stays"}}));
  // This instance, and the other one once told (its copy has most of its ttl
  // left), answer "not found" unasked.
  EXPECT_EQ(cache.get_or_load_many<Maybe>({"goes"}, ttl, leaves_out).at("goes"), std::nullopt);
  // The refresh's writes told it of both keys.
  ASSERT_TRUE(eventually([&] { return other.stats().invalidations_received >= told + 2; }));
  EXPECT_EQ(other.get_or_load<Maybe>("goes", ttl, [] { return Maybe("loaded"); }), std::nullopt);
  EXPECT_EQ(rec.calls().size(), 2u);
}

}  // namespace
}  // namespace multicache::test
