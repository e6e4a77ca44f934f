#include "load/single_flight.h"

#include <stdexcept>

namespace multicache::load {

detail::erased_value SingleFlight::Call::wait() {
  util::MutexLock lock(mu_);
  cv_.wait(mu_, [&]() MC_REQUIRES(mu_) { return done_; });
  if (error_) std::rethrow_exception(error_);
  return value_;
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
