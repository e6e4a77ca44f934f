// One shard's flat key → entry index, checked against std::map under random
// inserts and erases, with hashes chosen to collide (same home bucket, same
// tag, same full hash) so that probes run across buckets.
#include "l1/flat_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace multicache::l1 {
namespace {

class FlatIndexTest : public ::testing::Test {
 protected:
  ~FlatIndexTest() override {
    for (auto& [key, e] : model_) Entry::destroy(e);
  }
  void add(const std::string& key, std::uint64_t hash) {
    Entry* e = Entry::create(key);
    e->hash = hash;
    index_.reserve_one();
    index_.insert(e);
    model_[key] = e;
  }
  void remove(const std::string& key) {
    Entry* e = model_.at(key);
    index_.erase(e);
    model_.erase(key);
    Entry::destroy(e);
  }
  // Every key in the model is found as its own entry; every other key is not.
  void check(const std::vector<std::pair<std::string, std::uint64_t>>& universe) {
    ASSERT_EQ(index_.size(), model_.size());
    for (const auto& [key, hash] : universe) {
      auto it = model_.find(key);
      Entry* found = index_.find(key, hash);
      if (it == model_.end()) {
        ASSERT_EQ(found, nullptr) << key;
      } else {
        ASSERT_EQ(found, it->second) << key;
        ASSERT_EQ(found->key(), key);
      }
    }
  }

  FlatIndex index_;
  std::map<std::string, Entry*> model_;
};

TEST_F(FlatIndexTest, EmptyFindsNothing) {
  EXPECT_EQ(index_.find("a", 1), nullptr);
  EXPECT_EQ(index_.find("", 0), nullptr);
  EXPECT_EQ(index_.size(), 0u);
}

TEST_F(FlatIndexTest, KeysAreComparedNotJustHashes) {
  add("alpha", 42);
  add("beta", 42);  // the very same hash
  EXPECT_EQ(index_.find("alpha", 42), model_["alpha"]);
  EXPECT_EQ(index_.find("beta", 42), model_["beta"]);
  EXPECT_EQ(index_.find("gamma", 42), nullptr);
  EXPECT_EQ(index_.find("alpha", 43), nullptr);  // the stored hash must match too
  remove("alpha");
  EXPECT_EQ(index_.find("alpha", 42), nullptr);
  EXPECT_EQ(index_.find("beta", 42), model_["beta"]);
}

TEST_F(FlatIndexTest, RandomChurnMatchesAMap) {
  // Hash classes: 0 → all keys share one hash (one home bucket, one tag, so
  // probes cross many buckets and overflow counts saturate); 1 → 16 hashes;
  // 2 → distinct hashes.
  for (int hash_class = 0; hash_class < 3; ++hash_class) {
    std::vector<std::pair<std::string, std::uint64_t>> universe;
    for (int i = 0; i < 600; ++i) {
      const std::uint64_t hash = hash_class == 0   ? 7
                                 : hash_class == 1 ? static_cast<std::uint64_t>(i % 16)
                                                   : std::hash<int>{}(i)*0x9E3779B97F4A7C15ULL;
      universe.emplace_back("key-" + std::to_string(i), hash);
    }
    std::mt19937 rng(1234 + hash_class);
    for (int step = 0; step < 6000; ++step) {
      const auto& [key, hash] = universe[rng() % universe.size()];
      if (model_.count(key) != 0) {
        remove(key);
      } else {
        add(key, hash);
      }
      if (step % 500 == 0) check(universe);
    }
    check(universe);
    // Drain, then the index must be empty and still work.
    while (!model_.empty()) remove(model_.begin()->first);
    check(universe);
    add(universe[0].first, universe[0].second);
    check(universe);
    remove(universe[0].first);
  }
}

// 400 keys of one hash: the first buckets' overflow counts saturate (255).
// Erasing one key at a time, every other key must still be found after each
// erase — a saturated count must stay saturated, not count down.
TEST_F(FlatIndexTest, SaturatedOverflowCountsStayCorrectWhileDraining) {
  std::vector<std::pair<std::string, std::uint64_t>> universe;
  for (int i = 0; i < 400; ++i) {
    universe.emplace_back("same-" + std::to_string(i), 99);
    add(universe.back().first, 99);
  }
  check(universe);
  for (const auto& [key, hash] : universe) {
    remove(key);
    check(universe);
  }
}

TEST_F(FlatIndexTest, GrowsPastManyBucketsAndClears) {
  std::vector<std::pair<std::string, std::uint64_t>> universe;
  for (int i = 0; i < 20000; ++i) {
    universe.emplace_back(std::to_string(i), std::hash<std::string>{}(std::to_string(i)));
    add(universe.back().first, universe.back().second);
  }
  check(universe);
  index_.clear();
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_EQ(index_.find(universe[5].first, universe[5].second), nullptr);
}

}  // namespace
}  // namespace multicache::l1
