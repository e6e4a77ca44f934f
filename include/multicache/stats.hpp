// multicache/stats.hpp — a point-in-time snapshot of a Cache's counters.
//
// Counters only grow; gauges (l1_items, l1_bytes, breaker_open) are current
// values. Cache::stats() is thread-safe and wait-free for callers of the
// cache; the fields are read one by one, so a snapshot taken under load is not
// an atomic cut across fields.
#pragma once

#include <cstdint>

namespace multicache {

struct Stats {
  // Reads.
  std::uint64_t l1_hits = 0;                // served from L1 (fresh or stale)
  std::uint64_t l1_misses = 0;              // not in L1 (absent, expired or other type)
  std::uint64_t l2_hits = 0;                // served from Redis
  std::uint64_t l2_misses = 0;              // absent in Redis (or unusable bytes)
  std::uint64_t loads = 0;                  // loader calls that returned a value
  std::uint64_t load_errors = 0;            // loader calls that threw
  std::uint64_t shared_loads = 0;           // callers that waited on another caller's load/read
  std::uint64_t stale_served_on_error = 0;  // failed loads answered with an expired value
                                            // (stale_if_error; once per load, not per caller;
                                            // a failed batch load: once per key)
  std::uint64_t negative_hits = 0;  // "not found" served from a Redis marker (also an l2 hit)

  // Errors.
  std::uint64_t redis_errors = 0;   // failed or timed-out Redis round trips
  std::uint64_t decode_errors = 0;  // corrupt bytes in Redis (short, bad flag, bad Snappy, codec)
  std::uint64_t encode_errors = 0;  // values the codec could not encode (not cached)
  // Redis calls not made because the breaker was open (on a cluster: parts of
  // calls, one per primary whose breaker turned its part away).
  std::uint64_t breaker_rejections = 0;
  std::uint64_t redis_redirects = 0;  // Redis Cluster MOVED/ASK replies followed
  // Reads on the shared blocking connections: rounds (one write of the
  // queued reads, then their replies), and reads that went out in a round
  // another caller led (auto-pipelined).
  std::uint64_t redis_read_rounds = 0;
  std::uint64_t redis_reads_combined = 0;

  // L1.
  std::uint64_t l1_items = 0;
  std::uint64_t l1_bytes = 0;
  std::uint64_t l1_evictions_size = 0;         // evicted for the item bound
  std::uint64_t l1_evictions_bytes = 0;        // evicted for the byte bound
  std::uint64_t l1_evictions_expired = 0;      // dropped because expired
  std::uint64_t l1_evictions_invalidated = 0;  // dropped by remove/set/invalidation
  std::uint64_t l1_rejected_too_large = 0;     // values larger than the whole byte bound
  std::uint64_t l1_not_admitted = 0;  // tinylfu: window entries dropped as less popular than
                                      // probation's victim (not in _size/_bytes)

  // Refresh.
  // Per key: a batch call's refresh of n stale keys counts n, except that a
  // refresh close() discards from the queue counts one skipped, whatever n.
  std::uint64_t refreshes_started = 0;
  std::uint64_t refreshes_ok = 0;  // the reload returned a value (stored unless a write or
                                   // an invalidation of the key came meanwhile), or a
                                   // batch loader left the key out (dropped: not found)
  std::uint64_t refreshes_failed = 0;
  std::uint64_t refreshes_skipped = 0;  // queue full, key loading or written since, closing

  // Cross-instance sync.
  std::uint64_t invalidations_sent = 0;
  std::uint64_t invalidations_received = 0;  // applied to L1
  std::uint64_t invalidations_ignored = 0;   // own messages
  std::uint64_t invalidations_malformed = 0;
  // Loaded values written to Redis while an invalidation of their key
  // arrived, and so deleted again (if Redis still held them), with an
  // invalidation of their own.
  std::uint64_t fill_writes_withdrawn = 0;
  std::uint64_t subscriber_reconnects = 0;
  std::uint64_t l1_clears = 0;  // L1 dropped whole after a (re)subscribe

  // Breaker (on a cluster: the primaries' breakers; open if any is not closed).
  bool breaker_open = false;
  std::uint64_t breaker_transitions = 0;
};

}  // namespace multicache
