// batch_and_negative — loading many keys in one go, and caching "not found".
//
//   batch_and_negative [redis-url]     (none: L1-only)
#include <chrono>
#include <cstdio>
#include <map>
#include <multicache/multicache.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct Product {
  int id = 0;
  std::string title;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Product, id, title)
};

// The "database": ids 1..5 exist.
std::unordered_map<std::string, Product> db_fetch(const std::vector<std::string>& ids,
                                                  int* queries) {
  ++*queries;  // one query for the whole batch
  std::unordered_map<std::string, Product> found;
  for (const auto& id : ids) {
    const int n = std::stoi(id);
    if (n >= 1 && n <= 5) found[id] = Product{n, "product " + id};
  }
  return found;
}

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  multicache::Cache cache({.redis_url = argc > 1 ? argv[1] : "",
                           .key_prefix = "example:products:",
                           .negative_ttl = 30s});
  int queries = 0;
  const std::vector<std::string> ids = {"1", "2", "3", "42"};
  for (int round = 1; round <= 2; ++round) {
    auto products =
        cache.get_or_load_many<Product>(ids, 10min, [&](const std::vector<std::string>& missing) {
          std::printf("  round %d: database asked for %zu ids in one query\n", round,
                      missing.size());
          return db_fetch(missing, &queries);
        });
    std::printf("round %d: %zu of %zu found\n", round, products.size(), ids.size());
  }

  // "Not found" is cached too: asking for id 42 again does not reach the database.
  for (int i = 0; i < 3; ++i) {
    std::optional<Product> p =
        cache.get_or_load<std::optional<Product>>("42", 10min, [&]() -> std::optional<Product> {
          auto found = db_fetch({"42"}, &queries);
          if (found.empty()) return std::nullopt;
          return found.begin()->second;
        });
    std::printf("id 42: %s\n", p ? p->title.c_str() : "not found");
  }
  // A batch of std::optional<Product> caches "not found" as well: a key the
  // database did not return is std::nullopt in the result, and cached.
  for (int round = 1; round <= 2; ++round) {
    auto products = cache.get_or_load_many<std::optional<Product>>(
        {"1", "42", "43"}, 10min,
        [&](const std::vector<std::string>& missing) { return db_fetch(missing, &queries); });
    std::printf("optional batch %d: 43 is %s\n", round, products.at("43") ? "found" : "not found");
  }
  // A batch of Product does not cache "not found": round 2 asked for 42
  // again. The optional lookup asked once and then served "not found" from
  // the cache; the optional batch asked for what it did not hold once.
  std::printf(
      "database queries: %d (expected 4: two batches, one lookup of 42, one optional batch)\n",
      queries);
  return queries == 4 ? 0 : 1;
}
