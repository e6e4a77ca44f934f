// One shard's eviction order: CLOCK, and W-TinyLFU's window, probation and
// protected segments with sketch admission.
#include "l1/shard_policy.h"

#include <gtest/gtest.h>

#include <deque>

namespace multicache::l1 {
namespace {

constexpr std::int64_t k_now = 10;

class ShardPolicyTest : public ::testing::Test {
 protected:
  Entry* make(std::uint64_t hash, std::int64_t expires_at_ns = 1'000'000) {
    Entry& e = entries_.emplace_back();
    e.hash = hash;
    e.expires_at_ns = expires_at_ns;
    return &e;
  }
  static void reference(Entry* e) { e->referenced.store(true); }
  // Inserts as L1Cache does for a fill that needs no eviction.
  Entry* add(ShardPolicy& p, std::uint64_t hash) {
    Entry* e = make(hash);
    p.insert(e);
    p.rebalance(k_now);
    return e;
  }
  void count(std::uint64_t hash, int times) {
    for (int i = 0; i < times; ++i) sketch_.increment(hash);
  }

  FrequencySketch sketch_{1000};
  std::deque<Entry> entries_;
};

TEST_F(ShardPolicyTest, ClockIsOneRingWithSecondChances) {
  ShardPolicy p(nullptr);
  Entry* a = add(p, 1);
  Entry* b = add(p, 2);
  add(p, 3);
  EXPECT_EQ(p.window_size(), 3u);  // no segments, rebalance does nothing
  EXPECT_EQ(p.probation_size(), 0u);
  reference(a);
  const Eviction v = p.victim(k_now, nullptr);
  EXPECT_EQ(v.entry, b);  // a had its second chance
  EXPECT_FALSE(v.not_admitted);
  EXPECT_FALSE(a->referenced.load());
}

TEST_F(ShardPolicyTest, TheWindowHoldsOnePercent) {
  ShardPolicy p(&sketch_);
  Entry* first = add(p, 1);
  EXPECT_EQ(p.window_size(), 1u);
  add(p, 2);
  EXPECT_EQ(p.window_size(), 1u);  // the older entry went on to probation
  EXPECT_EQ(p.probation_size(), 1u);
  EXPECT_EQ(ShardPolicy::segment_of(first), segment::probation);
  for (std::uint64_t h = 3; h <= 300; ++h) add(p, h);
  EXPECT_EQ(p.window_size(), 3u);
  EXPECT_EQ(p.probation_size(), 297u);
  EXPECT_EQ(p.protected_size(), 0u);
}

TEST_F(ShardPolicyTest, AReferencedWindowEntryGetsASecondChanceInTheWindow) {
  ShardPolicy p(&sketch_);
  Entry* a = add(p, 1);
  reference(a);
  Entry* b = add(p, 2);
  EXPECT_EQ(ShardPolicy::segment_of(a), segment::window);
  EXPECT_EQ(ShardPolicy::segment_of(b), segment::probation);
}

TEST_F(ShardPolicyTest, ALessPopularCandidateIsNotAdmitted) {
  ShardPolicy p(&sketch_);
  Entry* popular = add(p, 1);  // will be probation's victim
  count(1, 5);
  Entry* candidate = add(p, 2);
  count(2, 2);
  Entry* newest = make(3);  // the entry just inserted: never the victim
  p.insert(newest);
  const Eviction v = p.victim(k_now, newest);
  EXPECT_EQ(v.entry, candidate);
  EXPECT_TRUE(v.not_admitted);
  EXPECT_EQ(ShardPolicy::segment_of(popular), segment::probation);
}

TEST_F(ShardPolicyTest, AMorePopularCandidateReplacesProbationsVictim) {
  ShardPolicy p(&sketch_);
  Entry* rare = add(p, 1);
  count(1, 1);
  Entry* candidate = add(p, 2);
  count(2, 4);
  Entry* newest = make(3);
  p.insert(newest);
  const Eviction v = p.victim(k_now, newest);
  EXPECT_EQ(v.entry, rare);
  EXPECT_FALSE(v.not_admitted);
  EXPECT_EQ(ShardPolicy::segment_of(candidate), segment::probation);
}

TEST_F(ShardPolicyTest, EqualPopularityKeepsTheMainRegion) {
  ShardPolicy p(&sketch_);
  Entry* old = add(p, 1);
  Entry* candidate = add(p, 2);
  count(1, 3);
  count(2, 3);
  Entry* newest = make(3);
  p.insert(newest);
  EXPECT_EQ(p.victim(k_now, newest).entry, candidate);
  EXPECT_EQ(ShardPolicy::segment_of(old), segment::probation);
}

TEST_F(ShardPolicyTest, HitsInProbationPromoteToProtectedAtEvictionTime) {
  ShardPolicy p(&sketch_);
  std::vector<Entry*> main;
  for (std::uint64_t h = 1; h <= 10; ++h) main.push_back(add(p, h));
  // main[0..8] in probation, main[9] in the window.
  reference(main[0]);
  reference(main[1]);
  const Eviction v = p.victim(k_now, nullptr);  // window within its share: main victim
  EXPECT_EQ(v.entry, main[2]);
  EXPECT_EQ(ShardPolicy::segment_of(main[0]), segment::protected_);
  EXPECT_EQ(ShardPolicy::segment_of(main[1]), segment::protected_);
  EXPECT_FALSE(main[0]->referenced.load());  // a new hit is needed to stay protected
  EXPECT_EQ(p.protected_size(), 2u);
}

TEST_F(ShardPolicyTest, ProtectedOverItsShareDemotesToProbation) {
  ShardPolicy p(&sketch_);
  std::vector<Entry*> main;
  for (std::uint64_t h = 1; h <= 11; ++h) main.push_back(add(p, h));
  for (std::size_t i = 0; i < 10; ++i) reference(main[i]);  // every probation entry hit
  const Eviction v = p.victim(k_now, nullptr);
  ASSERT_NE(v.entry, nullptr);
  EXPECT_EQ(ShardPolicy::segment_of(v.entry), segment::probation);
  // Protected holds at most 80% of the main region (10 entries).
  EXPECT_LE(p.protected_size(), 8u);
  EXPECT_EQ(p.protected_size() + p.probation_size(), 10u);
}

TEST_F(ShardPolicyTest, ExpiredEntriesGoFirst) {
  ShardPolicy p(&sketch_);
  add(p, 1);
  count(1, 9);
  Entry* expired = make(2, k_now);  // expires now
  p.insert(expired);
  p.rebalance(k_now);  // the window's older entry moves on; expired stays newest
  Entry* newest = make(3);
  p.insert(newest);
  const Eviction v = p.victim(k_now, newest);
  EXPECT_EQ(v.entry, expired);
  EXPECT_FALSE(v.not_admitted);
}

TEST_F(ShardPolicyTest, NeverEvictsKeep) {
  for (const FrequencySketch* s : {static_cast<const FrequencySketch*>(nullptr),
                                   static_cast<const FrequencySketch*>(&sketch_)}) {
    ShardPolicy p(s);
    Entry* only = make(1);
    p.insert(only);
    EXPECT_EQ(p.victim(k_now, only).entry, nullptr);
    Entry* other = add(p, 2);
    EXPECT_EQ(p.victim(k_now, other).entry, only);
    p.remove(only);
    p.remove(other);
    EXPECT_TRUE(p.empty());
    EXPECT_EQ(p.any(), nullptr);
  }
}

TEST_F(ShardPolicyTest, NeverEvictsAReplacedValueKeptInTheMainRegion) {
  ShardPolicy p(&sketch_);
  Entry* in_probation = add(p, 1);
  Entry* in_window = add(p, 2);
  ASSERT_EQ(ShardPolicy::segment_of(in_probation), segment::probation);
  EXPECT_EQ(p.victim(k_now, in_probation).entry, in_window);
  // Likewise when the rest of probation gets promoted on the way.
  add(p, 3);  // in_window moves on to probation, behind in_probation
  p.remove(in_probation);
  p.insert_into(in_probation, segment::probation);  // as L1Cache replaces a value
  reference(in_window);
  EXPECT_EQ(p.victim(k_now, in_probation).entry, in_window);  // promoted, then demoted
}

}  // namespace
}  // namespace multicache::l1
