// load/single_flight.h — one load per key at a time, shared by all who ask.
//
// The first caller of a key becomes the leader and must call finish(); every
// caller that joins before then is a follower and waits for the leader's
// value or exception. A follower asking for a different value type than the
// leader's does not share (it gets a private, unregistered call and leads it).
// The leader's own thread joining its key (a loader asking for the key it
// loads, directly or through other keys' loads) would wait for itself:
// join() throws std::logic_error instead. Loaders on different threads that
// wait for each other's keys (A's loader asks for B while B's asks for A)
// would wait forever: wait() keeps a wait-for graph (each waiting thread →
// the call it waits for → that call's leading thread) and throws
// std::logic_error to the thread whose wait would close a cycle.
//
// Thread-safety: all members thread-safe. The key map is split in 16 shards,
// each guarded by its own mutex; a Call's result is guarded by the Call's
// mutex; the wait-for graph by waits_mu_ (taken before a Call's mutex).
#pragma once

#include <array>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "multicache/detail/type_ops.hpp"
#include "util/hash.h"
#include "util/mutex.h"

namespace multicache::load {

// What wait() throws instead of closing a cycle of loads.
class LoadCycleError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class SingleFlight {
 public:
  class Call {
   private:
    friend class SingleFlight;
    bool done();
    const detail::TypeOps* ops_ = nullptr;
    bool registered_ = false;
    // The thread that leads it (runs the load); set before the call is in
    // its shard's map, read under that shard's mutex.
    std::thread::id leader_;
    util::Mutex mu_;
    util::CondVar cv_;
    bool done_ MC_GUARDED_BY(mu_) = false;
    detail::erased_value value_ MC_GUARDED_BY(mu_);
    std::exception_ptr error_ MC_GUARDED_BY(mu_);
  };

  struct Joined {
    std::shared_ptr<Call> call;
    bool leader = false;
  };

  // Throws std::logic_error when the calling thread leads the key's call.
  Joined join(std::string_view key, const detail::TypeOps* ops);
  // A call led alone, visible to nobody (finish() still must be called).
  static Joined lead_privately(const detail::TypeOps* ops);
  // Follower: blocks until the call's leader finishes; returns its value or
  // rethrows its exception. Throws LoadCycleError instead of waiting when
  // the call's leader (through the calls its thread waits for, and so on)
  // waits for a call this thread leads.
  detail::erased_value wait(const std::shared_ptr<Call>& call);
  // Leader only: publishes the outcome (value or error) and unregisters the key.
  void finish(std::string_view key, const std::shared_ptr<Call>& call, detail::erased_value value,
              std::exception_ptr error);
  // True while a leader holds the key.
  bool in_flight(std::string_view key);

 private:
  struct Shard {
    util::Mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Call>, util::StringHash, std::equal_to<>> calls
        MC_GUARDED_BY(mu);
  };
  Shard& shard_for(std::string_view key) {
    return shards_[util::mix_hash(util::StringHash{}(key)) & (shards_.size() - 1)];
  }
  // Whether the calling thread, waiting for `call`, would close a cycle.
  bool closes_cycle(Call& call, std::thread::id self) MC_REQUIRES(waits_mu_);
  std::array<Shard, 16> shards_;
  // The wait-for graph: each thread blocked in wait() → the call it waits
  // for. A call stays alive while it is here (its waiter holds a reference).
  util::Mutex waits_mu_;
  std::unordered_map<std::thread::id, Call*> waiting_ MC_GUARDED_BY(waits_mu_);
};

}  // namespace multicache::load
