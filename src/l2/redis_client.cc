#include "l2/redis_client.h"

#include <hiredis/hiredis.h>

#include <future>
#include <thread>

#include "l2/pending_result.h"

namespace multicache::l2 {

struct RedisClient::Batch {
  Batch(std::vector<std::string> cmds, std::size_t aff, Callback on_done)
      : commands(std::move(cmds)), affinity(aff), result(commands.size(), std::move(on_done)) {}
  std::vector<std::string> commands;
  std::size_t affinity = k_any;
  PendingResult result;
};

RedisClient::RedisClient(ClientSettings settings, EventLoop* shared_loop)
    : settings_(std::move(settings)),
      own_loop_(shared_loop == nullptr ? std::make_unique<EventLoop>() : nullptr),
      loop_(shared_loop == nullptr ? own_loop_.get() : shared_loop) {
  if (settings_.direct_size > 0) {
    direct_ = std::make_unique<DirectPool>(settings_.connection, settings_.direct_size);
  }
  const int n = settings_.pool_size;
  loop_->post([this, n] {
    for (int i = 0; i < n; ++i) {
      ConnectionSettings cs = settings_.connection;
      cs.name = "command#" + std::to_string(i);
      auto conn = std::make_unique<Connection>(*loop_, std::move(cs));
      auto* raw = conn.get();
      auto first = std::make_shared<bool>(true);  // loop thread only
      auto attempt_done = [this, first] {
        if (*first) attempts_done_.fetch_add(1, std::memory_order_acq_rel);
        *first = false;
      };
      raw->on_ready([this, attempt_done, first] {
        if (!*first) reconnects_.fetch_add(1, std::memory_order_relaxed);
        attempt_done();
        ready_count_.fetch_add(1, std::memory_order_acq_rel);
        auto parked = std::move(parked_);  // sent while the first attempts ran
        parked_.clear();
        for (auto& b : parked) dispatch(b);
      });
      raw->on_lost([this, attempt_done](bool was_ready) {
        if (was_ready) ready_count_.fetch_sub(1, std::memory_order_acq_rel);
        attempt_done();
        if (first_attempts_done() && ready_count_.load() == 0) fail_parked("not connected");
      });
      conns_.push_back(std::move(conn));
    }
    for (auto& c : conns_) c->start();
  });
}

RedisClient::~RedisClient() { stop(); }

void RedisClient::stop() {
  if (stopped_.exchange(true)) return;
  if (direct_) direct_->close_all();
  // Connections die on the loop thread; their pending callbacks fail batches.
  if (own_loop_) {
    loop_->post([this] {
      for (auto& c : conns_) c->shutdown();
      conns_.clear();
      fail_parked("client stopped");
    });
    loop_->stop();
    return;
  }
  // Not from inside a hiredis callback: a context cannot be freed there.
  if (loop_->in_loop_thread()) {
    for (auto& c : conns_) c->shutdown();
    conns_.clear();
    fail_parked("client stopped");
    return;
  }
  std::promise<void> done;
  auto closed = done.get_future();
  if (loop_->post([this, &done] {
        for (auto& c : conns_) c->shutdown();
        conns_.clear();
        fail_parked("client stopped");
        done.set_value();
      })) {
    closed.wait();
  }
}

void RedisClient::fail_parked(const std::string& why) {
  auto parked = std::move(parked_);
  parked_.clear();
  for (auto& b : parked) b->result.fail(why);
}

void RedisClient::reset_connections() {
  if (direct_) direct_->reset();
  loop_->post([this] {
    for (auto& c : conns_) c->reset("reconnecting to a new primary");
  });
}

bool RedisClient::wait_connected(std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!connected() && attempts_done_.load() < settings_.pool_size &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return connected();
}

Result RedisClient::execute(std::vector<std::string> commands, std::size_t affinity) {
  return execute(std::move(commands), affinity,
                 std::chrono::steady_clock::now() + settings_.connection.command_timeout);
}

Result RedisClient::execute(std::vector<std::string> commands, std::size_t affinity,
                            std::chrono::steady_clock::time_point deadline) {
  if (auto early = answer_without_sending(commands, stopped_.load(std::memory_order_acquire))) {
    return std::move(*early);
  }
  if (!settings_.breaker) return run(std::move(commands), affinity, deadline);
  const auto generation = settings_.breaker->admit();
  if (!generation) {
    Result r;
    r.error = k_breaker_open;
    return r;
  }
  Result r;
  try {
    r = run(std::move(commands), affinity, deadline);
  } catch (...) {  // out of memory: still a result the breaker must hear
    settings_.breaker->record(*generation, false);
    throw;
  }
  settings_.breaker->record(*generation, r.ok);
  return r;
}

Result RedisClient::run(std::vector<std::string> commands, std::size_t affinity,
                        std::chrono::steady_clock::time_point deadline) {
  Result result;
  if (!connected() && first_attempts_done()) {
    result.error = "not connected";
    return result;
  }
  // Reads go on the blocking connections, from the callers' own threads,
  // combined into pipelines when callers overlap (DirectPool); the loop takes
  // what they decline, and every write.
  if (direct_ && DirectPool::read_only(commands)) {
    if (auto r = direct_->try_execute(commands, affinity, deadline)) {
      return std::move(*r);
    }
  }
  // The loop gets what is left of the same deadline: one timeout per call.
  auto batch = std::make_shared<Batch>(std::move(commands), affinity, nullptr);
  if (!loop_->post([this, batch] { dispatch(batch); })) {
    result.error = "client stopped";
    return result;
  }
  return batch->result.wait_until(deadline, settings_.connection.spin_wait);
}

void RedisClient::submit(std::vector<std::string> commands, Callback done, std::size_t affinity) {
  if (auto early = answer_without_sending(commands, stopped_.load(std::memory_order_acquire))) {
    if (done) done(std::move(*early));
    return;
  }
  if (!settings_.breaker) return queue(std::move(commands), std::move(done), affinity);
  const auto generation = settings_.breaker->admit();
  if (!generation) {
    Result r;
    r.error = k_breaker_open;
    if (done) done(std::move(r));
    return;
  }
  // The breaker hears how the pipeline ends, whichever way.
  Callback recorded = [breaker = settings_.breaker, gen = *generation,
                       then = std::move(done)](Result r) {
    breaker->record(gen, r.ok);
    if (then) then(std::move(r));
  };
  try {
    queue(std::move(commands), std::move(recorded), affinity);
  } catch (...) {  // out of memory before the pipeline was queued
    settings_.breaker->record(*generation, false);
    throw;
  }
}

void RedisClient::queue(std::vector<std::string> commands, Callback done, std::size_t affinity) {
  Result early;
  if (!connected() && first_attempts_done()) {
    early.error = "not connected";
  } else {
    // If the post fails the batch is dropped unrun: its callback is moved
    // back out through a shared slot so it still runs exactly once.
    auto slot = std::make_shared<Callback>(std::move(done));
    auto batch = std::make_shared<Batch>(std::move(commands), affinity, [slot](Result r) {
      if (*slot) (*slot)(std::move(r));
    });
    if (loop_->post([this, batch] { dispatch(batch); })) return;
    done = std::move(*slot);
    early.error = "client stopped";
  }
  if (done) done(std::move(early));
}

void RedisClient::dispatch(const std::shared_ptr<Batch>& batch) {
  if (batch->result.done()) return;                // its caller gave up while it was queued
  if (stopped_.load(std::memory_order_acquire)) {  // posted after stop()'s own task
    batch->result.fail("client stopped");
    return;
  }
  Connection* conn = nullptr;
  if (batch->affinity != k_any && !conns_.empty()) {
    Connection* c = conns_[batch->affinity % conns_.size()].get();
    if (c->is_ready()) conn = c;
  }
  for (std::size_t i = 0; i < conns_.size() && conn == nullptr; ++i) {
    Connection* c = conns_[(next_conn_ + i) % conns_.size()].get();
    if (c->is_ready()) conn = c;
  }
  next_conn_ = (next_conn_ + 1) % std::max<std::size_t>(1, conns_.size());
  if (conn == nullptr) {
    // A new client (a cluster node met through a redirect): wait for the
    // first connect instead of failing; it ends within the connect timeout.
    if (!first_attempts_done()) {
      parked_.push_back(batch);
      return;
    }
    batch->result.fail("not connected");
    return;
  }
  for (std::size_t i = 0; i < batch->commands.size(); ++i) {
    const bool sent = conn->send(batch->commands[i], [batch, i](const redisReply* r) {
      if (r == nullptr) {
        batch->result.fail("connection lost");
      } else {
        batch->result.set(i, Reply::from_hiredis(r));
      }
    });
    if (!sent) {
      batch->result.fail("send failed");
      return;
    }
  }
}

}  // namespace multicache::l2
