// Allocations of an L2 read (L1 miss, Redis hit) on the caller's thread: a
// lone caller leads its own round on a blocking connection, so everything the
// read allocates is counted here (operator new is replaced in
// hit_allocations_test.cc, which counts the calling thread's allocations).
#include <gtest/gtest.h>

#include <memory>
#include <multicache/multicache.hpp>
#include <string>

#include "support/redis_server.h"

namespace multicache::test {

long thread_allocations();  // hit_allocations_test.cc

namespace {

using namespace std::chrono_literals;

// Per get_or_load_shared answered by Redis: the single-flight call and its
// map node; the caller's waiter on the connection; its GET and PTTL
// formatted (a vector and two strings); the replies' vector and the GET
// reply's string; the value read (its shared block and its bytes); the L1
// entry. The round's vector of callers and its wire buffer are the leading
// thread's own, kept between its rounds, so a round allocates neither
// (before: 13 per read).
constexpr long k_per_l2_read = 11;

TEST(ReadAllocations, AnL2ReadAllocatesNoRoundBuffers) {
  RedisServer server;
  auto clock = std::make_shared<ManualClock>();
  Options o;
  o.redis_url = server.url();
  o.clock = clock;
  o.l1_ttl = 1s;  // moving the clock past it sends the next read to Redis
  Cache cache(o);
  const std::string value(100, 'v');
  cache.set<std::string>("key", value, 1h);
  auto l2_read = [&] {
    clock->advance(2s);
    const auto v =  // shared: the value is not copied out
        cache.get_or_load_shared<std::string>("key", 1h, [] { return std::string("loaded"); });
    EXPECT_EQ(*v, value);
  };
  for (int i = 0; i < 10; ++i) l2_read();  // connects, and sizes this thread's buffers
  const Stats before = cache.stats();
  const long start = thread_allocations();
  constexpr int k_reads = 100;
  for (int i = 0; i < k_reads; ++i) l2_read();
  const long per_read = (thread_allocations() - start) / k_reads;
  const Stats after = cache.stats();
  EXPECT_EQ(after.l2_hits - before.l2_hits, static_cast<std::uint64_t>(k_reads));
  EXPECT_EQ(after.loads - before.loads, 0u);
  EXPECT_LE(per_read, k_per_l2_read);
}

}  // namespace
}  // namespace multicache::test
