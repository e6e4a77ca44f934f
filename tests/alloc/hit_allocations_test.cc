// Issue 7: "no heap allocation on a hit of a small value; a zero-copy
// accessor for large ones". This binary replaces the global operator new to
// count the calling thread's allocations (so it is its own executable;
// l2_read_allocations_test.cc reads the count through thread_allocations()).
#include <gtest/gtest.h>

#include <cstdlib>
#include <multicache/multicache.hpp>
#include <new>
#include <string>

namespace {

thread_local long t_allocations = 0;

}  // namespace

void* operator new(std::size_t n) {
  ++t_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace multicache::test {

long thread_allocations() { return t_allocations; }

namespace {

using namespace std::chrono_literals;

struct Point {
  int x = 0;
  int y = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Point, x, y)
};

// Allocations made by `n` calls of fn on this thread.
template <class Fn>
long allocations_of(int n, Fn fn) {
  const long before = t_allocations;
  for (int i = 0; i < n; ++i) fn();
  return t_allocations - before;
}

TEST(HitAllocations, SmallValuesAreReadWithoutTheHeap) {
  Cache cache(Options{});  // L1 only: a hit is the same path with Redis
  cache.set<int>("int", 42, 1h);
  cache.set<std::string>("short", "fits-in-sso", 1h);  // <= 15 bytes: no heap
  cache.set<Point>("point", Point{1, 2}, 1h);
  long sum = 0;
  auto int_hit = [&] { sum += cache.get_or_load<int>("int", 1h, [] { return 0; }); };
  auto string_hit = [&] {
    sum += static_cast<long>(
        cache.get_or_load<std::string>("short", 1h, [] { return std::string(); }).size());
  };
  auto point_hit = [&] { sum += cache.get_or_load<Point>("point", 1h, [] { return Point{}; }).y; };
  auto get_hit = [&] { sum += cache.get<int>("int").value_or(0); };
  int_hit();  // first calls may set up thread-local state
  string_hit();
  point_hit();
  get_hit();
  EXPECT_EQ(allocations_of(1000, int_hit), 0);
  EXPECT_EQ(allocations_of(1000, string_hit), 0);
  EXPECT_EQ(allocations_of(1000, point_hit), 0);
  EXPECT_EQ(allocations_of(1000, get_hit), 0);
  EXPECT_EQ(sum, 42L * 1001 + 11 * 1001 + 2 * 1001 + 42L * 1001);
  EXPECT_EQ(cache.stats().l1_hits, 4004u);
}

TEST(HitAllocations, LargeValuesHaveAZeroCopyAccessor) {
  Cache cache(Options{});
  cache.set<std::string>("big", std::string(64 * 1024, 'x'), 1h);
  std::size_t total = 0;
  auto shared_hit = [&] {
    const std::shared_ptr<const std::string> v =
        cache.get_or_load_shared<std::string>("big", 1h, [] { return std::string(); });
    total += v->size();
  };
  shared_hit();
  EXPECT_EQ(allocations_of(1000, shared_hit), 0);
  EXPECT_EQ(total, 1001u * 64 * 1024);
  // visit_or_load: no allocation either, and no shared count to bump.
  total = 0;
  auto visit_hit = [&] {
    total += cache.visit_or_load<std::string>(
        "big", 1h, [] { return std::string(); }, [](const std::string& v) { return v.size(); });
  };
  EXPECT_EQ(allocations_of(1000, visit_hit), 0);
  EXPECT_EQ(total, 1000u * 64 * 1024);
  // The copying accessor allocates (the string's buffer), as documented.
  EXPECT_GT(
      allocations_of(
          10,
          [&] {
            total += cache.get_or_load<std::string>("big", 1h, [] { return std::string(); }).size();
          }),
      0);
}

// A string's codec is the identity: set() sizes and stores its bytes without
// encoding a copy first. Per set of an L1-only cache: the stored copy (its
// shared_ptr block with the string object, and the string's buffer) and the
// entry; nothing else.
TEST(HitAllocations, SetOfAStringCopiesItsBytesOnce) {
  Cache cache(Options{});
  const std::string value(1000, 'x');
  auto set = [&] { cache.set<std::string>("k", value, 1h); };
  set();  // the first insert may size the shard's index
  EXPECT_EQ(allocations_of(100, set), 300);
  EXPECT_EQ(cache.get<std::string>("k").value_or(""), value);
}

}  // namespace
}  // namespace multicache::test
