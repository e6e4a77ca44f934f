#include "load/single_flight.h"

#include <stdexcept>

namespace multicache::load {

bool SingleFlight::Call::done() {
  util::MutexLock lock(mu_);
  return done_;
}

detail::erased_value SingleFlight::wait(const std::shared_ptr<Call>& call) {
  const std::thread::id self = std::this_thread::get_id();
  {
    util::MutexLock lock(waits_mu_);
    if (closes_cycle(*call, self)) {
      throw LoadCycleError(
          "multicache: loaders on different threads wait for each other's keys (a cycle of "
          "loads; this one would wait forever)");
    }
    waiting_[self] = call.get();
  }
  struct Unregister {
    SingleFlight* sf;
    std::thread::id self;
    ~Unregister() {
      util::MutexLock lock(sf->waits_mu_);
      sf->waiting_.erase(self);
    }
  } unregister{this, self};
  util::MutexLock lock(call->mu_);
  call->cv_.wait(call->mu_, [&]() MC_REQUIRES(call->mu_) { return call->done_; });
  if (call->error_) std::rethrow_exception(call->error_);
  return call->value_;
}

bool SingleFlight::closes_cycle(Call& call, std::thread::id self) {
  // Follow call → its leader → the call that leader waits for → ... A call
  // already done wakes its waiters, so a path through it is no cycle. The
  // graph has no cycle yet (every wait that would close one throws), so the
  // walk ends; the bound only guards against a bug turning it into a hang.
  Call* c = &call;
  for (std::size_t hops = 0; hops <= waiting_.size(); ++hops) {
    if (c->done()) return false;
    if (c->leader_ == self) return true;
    auto it = waiting_.find(c->leader_);
    if (it == waiting_.end()) return false;
    c = it->second;
  }
  return false;
}

SingleFlight::Joined SingleFlight::join(std::string_view key, const detail::TypeOps* ops) {
  Shard& s = shard_for(key);
  util::MutexLock lock(s.mu);
  auto it = s.calls.find(key);
  if (it != s.calls.end()) {
    if (it->second->ops_ == ops) {
      if (it->second->leader_ == std::this_thread::get_id()) {
        throw std::logic_error("multicache: the load of \"" + std::string(key) +
                               "\" asked for its own key (it would wait for itself)");
      }
      return {it->second, false};
    }
    auto call = std::make_shared<Call>();  // another type: lead a private call
    call->ops_ = ops;
    return {call, true};
  }
  auto call = std::make_shared<Call>();
  call->ops_ = ops;
  call->registered_ = true;
  call->leader_ = std::this_thread::get_id();
  s.calls.emplace(std::string(key), call);
  return {call, true};
}

SingleFlight::Joined SingleFlight::lead_privately(const detail::TypeOps* ops) {
  auto call = std::make_shared<Call>();
  call->ops_ = ops;
  return {call, true};
}

void SingleFlight::finish(std::string_view key, const std::shared_ptr<Call>& call,
                          detail::erased_value value, std::exception_ptr error) {
  if (call->registered_) {
    Shard& s = shard_for(key);
    util::MutexLock lock(s.mu);
    auto it = s.calls.find(key);
    if (it != s.calls.end() && it->second == call) s.calls.erase(it);
  }
  util::MutexLock lock(call->mu_);
  call->done_ = true;
  call->value_ = std::move(value);
  call->error_ = std::move(error);
  call->cv_.notify_all();
}

bool SingleFlight::in_flight(std::string_view key) {
  Shard& s = shard_for(key);
  util::MutexLock lock(s.mu);
  return s.calls.find(key) != s.calls.end();
}

}  // namespace multicache::load
