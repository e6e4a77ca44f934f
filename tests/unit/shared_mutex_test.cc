// util::SharedMutex, the L1 shards' reader-writer lock: readers share it,
// writers exclude readers and each other, and readers cannot starve a writer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace multicache::util {
namespace {

struct Guarded {
  SharedMutex mu;
  // Two copies of one number: a reader that ever sees them differ saw a write
  // half done (and TSan, which runs this suite, sees the race).
  long a MC_GUARDED_BY(mu) = 0;
  long b MC_GUARDED_BY(mu) = 0;
};

TEST(SharedMutex, WritersExcludeReadersAndEachOther) {
  Guarded g;
  std::atomic<bool> stop{false};
  std::atomic<long> torn{0}, reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        ReaderLock lock(g.mu);
        if (g.a != g.b) torn.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  constexpr int k_writes = 1000;
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < k_writes; ++i) {
        WriterLock lock(g.mu);
        ++g.a;
        std::this_thread::yield();  // widen the window a reader could see
        ++g.b;
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  WriterLock lock(g.mu);
  EXPECT_EQ(g.a, 2 * k_writes);  // no write lost to another writer
  EXPECT_EQ(g.b, 2 * k_writes);
}

TEST(SharedMutex, ReadersShareIt) {
  SharedMutex mu;
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&] {
      ReaderLock lock(mu);
      const int n = inside.fetch_add(1) + 1;
      int m = most.load();
      while (n > m && !most.compare_exchange_weak(m, n)) {
      }
      // Stay until all four are in at once (bounded by time, so a broken lock
      // fails the expectation below instead of hanging).
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (most.load() < 4 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::yield();
      }
      inside.fetch_sub(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 4);
}

TEST(SharedMutex, AStreamOfReadersDoesNotStarveAWriter) {
  SharedMutex mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        ReaderLock lock(mu);
        std::this_thread::yield();  // readers overlap all the time
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    WriterLock lock(mu);  // would hang here if readers kept it forever
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  SUCCEED();
}

}  // namespace
}  // namespace multicache::util
