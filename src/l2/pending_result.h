// l2/pending_result.h — the replies of one pipeline, filled in as they come.
//
// Completes once: when every reply is in, or at the first failure of the
// whole pipeline. A part that failed (fail_some: a cluster node that did not
// answer) does not end it: its replies become error replies, and the result,
// once the rest is in, is !ok with every reply, the others usable. A waiter
// (execute) blocks in wait_until() on a futex, not on mu_ (see
// util/one_shot_event.h for the syscalls that saves); a submitter gets its
// callback instead, run exactly once, outside the lock, on the thread that
// completed it.
// After a waiter gives up (timeout), late replies are dropped; a waiter that
// asks for partial results gets the replies in by then (a cluster pipeline
// whose nodes but one answered: a stalled node's keys fail, not everyone's).
//
// Thread-safety: every member from any thread; mu_ guards the state.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "l2/command_client.h"
#include "util/mutex.h"
#include "util/one_shot_event.h"

namespace multicache::l2 {

class PendingResult {
 public:
  PendingResult(std::size_t replies, CommandClient::Callback on_done)
      : replies_(replies),
        answered_(replies, false),
        remaining_(replies),
        on_done_(std::move(on_done)) {}

  void fail(std::string why) {
    CommandClient::Callback cb;
    Result r;
    {
      util::MutexLock lock(mu_);
      if (done_) return;
      done_ = true;
      error_ = std::move(why);
      if (on_done_) {
        cb = std::move(on_done_);
        r.error = error_;
      }
    }
    finish(std::move(cb), std::move(r));
  }

  // Stores reply i; the last one completes the result.
  void set(std::size_t i, Reply reply) {
    CommandClient::Callback cb;
    Result r;
    {
      util::MutexLock lock(mu_);
      if (done_) return;
      replies_[i] = std::move(reply);
      answered_[i] = true;
      if (--remaining_ != 0) return;
      complete_locked(&cb, &r);
    }
    finish(std::move(cb), std::move(r));
  }

  // The commands at `indexes` (not answered yet) failed for `why`: each gets
  // an error reply saying so; the result completes when the rest is in.
  void fail_some(const std::vector<std::size_t>& indexes, const std::string& why) {
    CommandClient::Callback cb;
    Result r;
    {
      util::MutexLock lock(mu_);
      if (done_) return;
      for (const std::size_t i : indexes) {
        replies_[i] = Reply{};
        replies_[i].type = Reply::kind::error;
        replies_[i].str = why;
        answered_[i] = true;
      }
      if (partial_error_.empty()) partial_error_ = why;
      remaining_ -= indexes.size();
      if (remaining_ != 0) return;
      complete_locked(&cb, &r);
    }
    finish(std::move(cb), std::move(r));
  }

  bool done() const {
    util::MutexLock lock(mu_);
    return done_;
  }

  // For a result without a callback: waits until it completes or deadline
  // passes ("command timeout"); spins first for up to spin (OneShotEvent).
  // On a timeout with partial = true and some replies in, the result is !ok
  // with every reply, those still missing being "command timeout" errors
  // (as fail_some() would make them); otherwise a timeout has no replies.
  Result wait_until(std::chrono::steady_clock::time_point deadline,
                    std::chrono::microseconds spin = std::chrono::microseconds{0},
                    bool partial = false) {
    completed_.wait_until(deadline, spin);
    Result result;
    util::MutexLock lock(mu_);
    if (!done_) {
      done_ = true;  // late replies are dropped by set()
      result.error = "command timeout";
      if (partial && remaining_ < replies_.size()) {
        for (std::size_t i = 0; i < replies_.size(); ++i) {
          if (answered_[i]) continue;
          replies_[i] = Reply{};
          replies_[i].type = Reply::kind::error;
          replies_[i].str = result.error;
        }
        result.replies = std::move(replies_);
      }
      return result;
    }
    if (!error_.empty()) {
      result.error = error_;
      return result;
    }
    result.ok = partial_error_.empty();
    result.error = partial_error_;
    result.replies = std::move(replies_);
    return result;
  }

 private:
  // The last reply is in: done, and for a callback, the result to pass it.
  void complete_locked(CommandClient::Callback* cb, Result* r) MC_REQUIRES(mu_) {
    done_ = true;
    if (!on_done_) return;
    *cb = std::move(on_done_);
    r->ok = partial_error_.empty();
    r->error = partial_error_;
    r->replies = std::move(replies_);
  }

  // After done_ is set: wakes the waiter, or runs the callback. The wake-up
  // comes after the lock is released, so the waiter does not wake only to
  // block on mu_ again (two context switches instead of one). The caller of
  // set()/fail() holds a reference to this object, so it outlives the call.
  void finish(CommandClient::Callback cb, Result r) {
    if (cb) {
      cb(std::move(r));
    } else {
      completed_.set();
    }
  }

  mutable util::Mutex mu_;
  util::OneShotEvent completed_;  // without a callback: set once done_ is (not on a timeout)
  std::vector<Reply> replies_ MC_GUARDED_BY(mu_);
  std::vector<bool> answered_ MC_GUARDED_BY(mu_);  // reply i is in (or failed by fail_some)
  std::size_t remaining_ MC_GUARDED_BY(mu_);
  bool done_ MC_GUARDED_BY(mu_) = false;
  std::string error_ MC_GUARDED_BY(mu_);          // the whole pipeline failed
  std::string partial_error_ MC_GUARDED_BY(mu_);  // the first part that failed
  CommandClient::Callback on_done_ MC_GUARDED_BY(mu_);
};

}  // namespace multicache::l2
