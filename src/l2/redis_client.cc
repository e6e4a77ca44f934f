#include "l2/redis_client.h"

#include <hiredis/hiredis.h>

#include <thread>

#include "util/mutex.h"

namespace multicache::l2 {

struct RedisClient::Batch {
  std::vector<std::string> commands;
  std::size_t affinity = k_any;
  std::chrono::steady_clock::time_point deadline;

  util::Mutex mu;
  util::CondVar cv;
  std::vector<Reply> replies MC_GUARDED_BY(mu);
  std::size_t remaining MC_GUARDED_BY(mu) = 0;
  bool done MC_GUARDED_BY(mu) = false;
  std::string error MC_GUARDED_BY(mu);
  Callback on_done MC_GUARDED_BY(mu);  // submit() only; runs once, outside mu

  void fail(std::string why) {
    Callback cb;
    Result r;
    {
      util::MutexLock lock(mu);
      if (done) return;
      done = true;
      error = std::move(why);
      cv.notify_all();
      if (on_done) {
        cb = std::move(on_done);
        r.error = error;
      }
    }
    if (cb) cb(std::move(r));
  }
  void reply(std::size_t i, const redisReply* r) {
    Callback cb;
    Result res;
    {
      util::MutexLock lock(mu);
      if (done) return;
      replies[i] = Reply::from_hiredis(r);
      if (--remaining != 0) return;
      done = true;
      cv.notify_all();
      if (on_done) {
        cb = std::move(on_done);
        res.ok = true;
        res.replies = std::move(replies);
      }
    }
    if (cb) cb(std::move(res));
  }
};

RedisClient::RedisClient(ClientSettings settings)
    : settings_(std::move(settings)), loop_(std::make_unique<EventLoop>()) {
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
      });
      raw->on_lost([this, attempt_done](bool was_ready) {
        if (was_ready) ready_count_.fetch_sub(1, std::memory_order_acq_rel);
        attempt_done();
      });
      conns_.push_back(std::move(conn));
    }
    for (auto& c : conns_) c->start();
  });
}

RedisClient::~RedisClient() { stop(); }

void RedisClient::stop() {
  if (stopped_.exchange(true)) return;
  // Connections die on the loop thread; their pending callbacks fail batches.
  loop_->post([this] {
    for (auto& c : conns_) c->shutdown();
    conns_.clear();
  });
  loop_->stop();
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
  Result result;
  if (commands.empty()) {
    result.ok = true;
    return result;
  }
  if (stopped_.load(std::memory_order_acquire)) {
    result.error = "client stopped";
    return result;
  }
  if (!connected()) {
    result.error = "not connected";
    return result;
  }
  auto batch = std::make_shared<Batch>();
  batch->deadline = std::chrono::steady_clock::now() + settings_.connection.command_timeout;
  {
    util::MutexLock lock(batch->mu);
    batch->replies.resize(commands.size());
    batch->remaining = commands.size();
  }
  batch->commands = std::move(commands);
  batch->affinity = affinity;
  if (!loop_->post([this, batch] { dispatch(batch); })) {
    result.error = "client stopped";
    return result;
  }
  util::MutexLock lock(batch->mu);
  const bool finished = batch->cv.wait_until(batch->mu, batch->deadline,
                                             [&]() MC_REQUIRES(batch->mu) { return batch->done; });
  if (!finished) {
    batch->done = true;  // late replies are dropped by Batch::reply
    result.error = "command timeout";
    return result;
  }
  if (!batch->error.empty()) {
    result.error = batch->error;
    return result;
  }
  result.ok = true;
  result.replies = std::move(batch->replies);
  return result;
}

void RedisClient::submit(std::vector<std::string> commands, Callback done, std::size_t affinity) {
  Result early;
  if (commands.empty()) {
    early.ok = true;
  } else if (stopped_.load(std::memory_order_acquire)) {
    early.error = "client stopped";
  } else if (!connected()) {
    early.error = "not connected";
  } else {
    auto batch = std::make_shared<Batch>();
    {
      util::MutexLock lock(batch->mu);
      batch->replies.resize(commands.size());
      batch->remaining = commands.size();
      batch->on_done = std::move(done);
    }
    batch->commands = std::move(commands);
    batch->affinity = affinity;
    if (loop_->post([this, batch] { dispatch(batch); })) return;
    util::MutexLock lock(batch->mu);
    done = std::move(batch->on_done);
    early.error = "client stopped";
  }
  if (done) done(std::move(early));
}

void RedisClient::dispatch(const std::shared_ptr<Batch>& batch) {
  {
    util::MutexLock lock(batch->mu);
    if (batch->done) return;  // its caller gave up while it was queued
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
    batch->fail("not connected");
    return;
  }
  for (std::size_t i = 0; i < batch->commands.size(); ++i) {
    const bool sent = conn->send(batch->commands[i], [batch, i](const redisReply* r) {
      if (r == nullptr) {
        batch->fail("connection lost");
      } else {
        batch->reply(i, r);
      }
    });
    if (!sent) {
      batch->fail("send failed");
      return;
    }
  }
}

}  // namespace multicache::l2
