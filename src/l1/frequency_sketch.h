// l1/frequency_sketch.h — approximate access counts for TinyLFU admission.
//
// A doorkeeper in front of a count-min sketch. A key's first request only
// sets its two doorkeeper bits; later ones add one to its counter in each of 4
// rows. Counters are 4 bits wide and saturate at 15. Everything one key
// touches lies in one 64-byte block: 32 bytes of counters (4 rows of 16) and
// 256 doorkeeper bits, so an increment or an estimate reads one cache line.
// estimate() is the smallest of the 4 counters, plus one if the doorkeeper
// knows the key.
//
// Aging: after sample_size() recorded additions (doorkeeper bits set or
// counters raised; requests for keys already saturated are not additions),
// every counter is halved and the doorkeeper cleared, so old popularity
// fades. Additions are counted in per-thread stripes (no shared line bounces
// between cores on a hit) and summed every 32nd addition of a stripe, so
// aging starts within a few dozen additions of the mark. Counters and bits are relaxed atomics,
// raised by compare-and-swap: between agings a counter never goes down, so a key seen
// saturated stays so until the next aging (an aging pass may lose a concurrent increment).
//
// Thread-safe; wait-free except the occasional aging pass.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "util/hash.h"
#include "util/thread_stripe.h"

namespace multicache::l1 {

class FrequencySketch {
 public:
  // capacity: the number of entries the cache holds. Memory: 16 to 32 bytes
  // per entry of capacity (a block per 4, powers of two), outside the cache's byte
  // bound. These sizes and the aging period (15 × capacity additions) were
  // picked with multicache-bench --simulate.
  explicit FrequencySketch(std::size_t capacity)
      : blocks_(std::bit_ceil(std::max<std::size_t>(4, capacity / 4))),
        table_(std::make_unique<Block[]>(blocks_)),
        sample_size_(std::max<std::size_t>(960, capacity * 15)) {}

  // What record() did: saturated, the key was saturated already (its
  // doorkeeper bits set and its 4 counters at 15), so this request changed
  // nothing, and it stays so until the next aging, which changes epoch() (a
  // caller may skip the key's requests until then); aging_due, this request
  // reached the aging mark: call age_if_due() (the caller may first release
  // its locks, as an aging pass takes milliseconds on a large sketch).
  struct Counted {
    bool saturated = false;
    bool aging_due = false;
  };

  // Counts one request for the key, and ages when that is due; whether the
  // key was saturated already (see Counted).
  bool increment(std::uint64_t hash) {
    const Counted c = record(hash);
    if (c.aging_due) age_if_due();
    return c.saturated;
  }

  // Counts one request for the key, without aging.
  Counted record(std::uint64_t hash) {
    const std::uint64_t h = util::mix_hash(hash);
    Block& b = block(h);
    if (!test_and_set_doorkeeper(b, h)) return {false, added()};
    // Unrolled, and | rather than ||: every row is bumped (a hit's hot path).
    if (bump(b, slot(h, 0)) | bump(b, slot(h, 1)) | bump(b, slot(h, 2)) | bump(b, slot(h, 3))) {
      return {false, added()};
    }
    return {true, false};
  }

  // Ages (see above) if enough additions were recorded since the last aging
  // and no other thread is aging.
  void age_if_due() {
    if (aging_.exchange(true, std::memory_order_acquire)) return;
    // Another thread may have aged since the caller's addition: count again.
    if (additions() >= sample_size_) age();
    aging_.store(false, std::memory_order_release);
  }

  // Changes at every aging, never 0: a key increment() found saturated in
  // this epoch stays saturated while it lasts (counters only grow between
  // agings). Acquire: counters read after it are no older than its aging.
  std::uint32_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  // Starts loading the key's block, so that a later increment() of the same
  // hash finds it in cache (a hit prefetches, looks up, then counts).
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&block(util::mix_hash(hash)), 1); }

  int estimate(std::uint64_t hash) const {
    const std::uint64_t h = util::mix_hash(hash);
    const Block& b = block(h);
    int best = 15;
    for (int row = 0; row < 4; ++row) best = std::min(best, counter(b, slot(h, row)));
    const std::uint64_t m = doorkeeper_mask(h);
    return best + ((b.doorkeeper[doorkeeper_word(h)].load(std::memory_order_relaxed) & m) == m);
  }

  std::size_t sample_size() const { return sample_size_; }

  // Halves every counter and clears the doorkeeper now (what reaching
  // sample_size() additions does); for tests. Not concurrent with increments'
  // own aging: call it while no other thread uses the sketch.
  void age_now() { age(); }

 private:
  struct alignas(64) Block {
    std::atomic<std::uint8_t> counters[32];  // two 4-bit counters per byte, low nibble first
    std::atomic<std::uint64_t> doorkeeper[4];
  };
  static_assert(sizeof(Block) == 64);

  Block& block(std::uint64_t h) const { return table_[(h >> 8) & (blocks_ - 1)]; }
  // Row r's counter: one of the 16 counters [16r, 16r + 16), picked by 4 hash bits.
  static unsigned slot(std::uint64_t h, int row) {
    return static_cast<unsigned>(row) * 16 + ((h >> (32 + 4 * row)) & 15);
  }
  static int counter(const Block& b, unsigned i) {
    return (b.counters[i / 2].load(std::memory_order_relaxed) >> (4 * (i % 2))) & 15;
  }
  // Adds one unless saturated; whether it did. A compare-and-swap: a plain
  // store of the byte could write back an older value of it (two counters
  // share a byte), lowering a counter that a reader already found saturated
  // and skips until the next aging.
  static bool bump(Block& b, unsigned i) {
    std::atomic<std::uint8_t>& byte = b.counters[i / 2];
    const unsigned shift = 4 * (i % 2);
    std::uint8_t v = byte.load(std::memory_order_relaxed);
    do {
      if (((v >> shift) & 15) == 15) return false;
    } while (!byte.compare_exchange_weak(v, static_cast<std::uint8_t>(v + (1u << shift)),
                                         std::memory_order_relaxed));
    return true;
  }
  // The doorkeeper's two bits of a key: a word and two positions from hash
  // bits that pick neither the block nor the counters.
  static unsigned doorkeeper_word(std::uint64_t h) { return static_cast<unsigned>(h >> 62); }
  static std::uint64_t doorkeeper_mask(std::uint64_t h) {
    return (std::uint64_t{1} << ((h >> 50) & 63)) | (std::uint64_t{1} << ((h >> 56) & 63));
  }
  // Sets the key's doorkeeper bits; whether they were (probably) set already.
  static bool test_and_set_doorkeeper(Block& b, std::uint64_t h) {
    const std::uint64_t m = doorkeeper_mask(h);
    std::atomic<std::uint64_t>& w = b.doorkeeper[doorkeeper_word(h)];
    if ((w.load(std::memory_order_relaxed) & m) == m) return true;
    w.fetch_or(m, std::memory_order_relaxed);
    return false;
  }
  // Counts an addition in this thread's stripe; whether aging is due (every
  // 32nd addition of a stripe sums the stripes).
  bool added() {
    std::atomic<std::size_t>& n = additions_[util::thread_stripe() % k_stripes].n;
    if ((n.fetch_add(1, std::memory_order_relaxed) + 1) % 32 != 0) return false;
    return additions() >= sample_size_;
  }
  std::size_t additions() const {
    std::size_t total = 0;
    for (const Stripe& st : additions_) total += st.n.load(std::memory_order_relaxed);
    return total;
  }
  void age() {
    for (std::size_t i = 0; i < blocks_; ++i) {
      Block& b = table_[i];
      for (auto& c : b.counters) {
        c.store(static_cast<std::uint8_t>((c.load(std::memory_order_relaxed) >> 1) & 0x77),
                std::memory_order_relaxed);
      }
      for (auto& w : b.doorkeeper) w.store(0, std::memory_order_relaxed);
    }
    for (Stripe& st : additions_) st.n.store(0, std::memory_order_relaxed);
    const std::uint32_t next = epoch_.load(std::memory_order_relaxed) + 1;
    epoch_.store(next == 0 ? 1 : next, std::memory_order_release);
  }

  const std::size_t blocks_;
  std::unique_ptr<Block[]> table_;
  const std::size_t sample_size_;
  static constexpr std::size_t k_stripes = 8;
  struct alignas(64) Stripe {
    std::atomic<std::size_t> n{0};
  };
  Stripe additions_[k_stripes];          // additions since the last aging, per thread stripe
  std::atomic<bool> aging_{false};       // one thread ages at a time
  std::atomic<std::uint32_t> epoch_{1};  // see epoch()
};

}  // namespace multicache::l1
