// A program outside the source tree, built against the installed package.
#include <chrono>
#include <cstdio>
#include <multicache/multicache.hpp>

int main() {
  multicache::Cache cache({.l1_max_items = 10});
  const int v = cache.get_or_load<int>("k", std::chrono::seconds(1), [] { return 42; });
  std::printf("consumer: %d (multicache %s)\n", v, multicache::version);
  return v == 42 ? 0 : 1;
}
