#include "sync/subscriber.h"

#include <hiredis/hiredis.h>

#include <future>
#include <thread>

#include "l2/reply.h"

namespace multicache::sync {

Subscriber::Subscriber(l2::EventLoop& loop, l2::ConnectionSettings settings, std::string channel,
                       std::function<void(std::string_view)> on_message,
                       std::function<void()> on_subscribed)
    : loop_(loop),
      channel_(std::move(channel)),
      on_message_(std::move(on_message)),
      on_subscribed_(std::move(on_subscribed)) {
  handler_ = [this](const redisReply* r) { handle(r); };
  settings.name = "subscriber";
  loop_.post([this, settings = std::move(settings)]() mutable {
    conn_ = std::make_unique<l2::Connection>(loop_, std::move(settings));
    conn_->on_ready([this] {
      if (!conn_->send_subscribe(l2::format_command({"SUBSCRIBE", channel_}), &handler_)) {
        first_attempt_done_.store(true);
      }
    });
    conn_->on_lost([this](bool) {
      subscribed_.store(false, std::memory_order_release);
      first_attempt_done_.store(true);
    });
    conn_->start();
  });
}

Subscriber::~Subscriber() { shutdown(); }

void Subscriber::shutdown() {
  if (shut_down_.exchange(true)) return;
  std::promise<void> done;
  auto f = done.get_future();
  if (loop_.post([this, &done] {
        conn_.reset();
        done.set_value();
      })) {
    f.wait();
  }
  subscribed_.store(false);
}

void Subscriber::reset() {
  if (shut_down_.load()) return;
  loop_.post([this] {
    if (conn_) conn_->reset("resubscribing after a primary change");
  });
}

bool Subscriber::wait_subscribed(std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!subscribed() && !first_attempt_done_.load() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return subscribed();
}

void Subscriber::handle(const redisReply* r) {
  if (r == nullptr) {  // the connection went; it reconnects by itself
    subscribed_.store(false, std::memory_order_release);
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  const redisReply* kind = r->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  const std::string_view k(kind->str, kind->len);
  if (k == "subscribe") {
    // Cleared before marking subscribed: nothing cached before this point is trusted.
    if (on_subscribed_) on_subscribed_();
    subscribed_.store(true, std::memory_order_release);
    first_attempt_done_.store(true);
  } else if (k == "message") {
    const redisReply* payload = r->element[2];
    if (payload->type == REDIS_REPLY_STRING && on_message_) {
      on_message_(std::string_view(payload->str, payload->len));
    }
  }
}

}  // namespace multicache::sync
