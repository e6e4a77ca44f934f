#include "l2/reply_reader.h"

#include <hiredis/hiredis.h>

#include <new>

namespace multicache::l2 {

namespace {

// Where the reply a task describes goes: the target vector's next element
// for a top-level reply, else its slot in the parent array (whose elements
// createArray sized, so earlier siblings never move). Null on allocation
// failure, which hiredis reports as an out-of-memory reader error.
Reply* place(const redisReadTask* task) noexcept {
  try {
    if (task->parent != nullptr) {
      auto* parent = static_cast<Reply*>(task->parent->obj);
      return &parent->elements[static_cast<std::size_t>(task->idx)];
    }
    auto* out = static_cast<std::vector<Reply>*>(task->privdata);
    if (out == nullptr) return nullptr;  // read outside a ReplyTarget: fail the read
    return &out->emplace_back();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) noexcept {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  switch (task->type) {
    case REDIS_REPLY_STATUS:
      r->type = Reply::kind::status;
      break;
    case REDIS_REPLY_ERROR:
      r->type = Reply::kind::error;
      break;
    default:
      r->type = Reply::kind::string;
  }
  try {
    r->str.assign(str, len);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return r;
}

void* create_array(const redisReadTask* task, int elements) noexcept {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::kind::array;
  try {
    r->elements.resize(static_cast<std::size_t>(elements));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return r;
}

void* create_integer(const redisReadTask* task, long long value) noexcept {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::kind::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) noexcept {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::kind::nil;
  return r;
}

// The vector owns every reply; hiredis drops its pointer to a partial one.
void free_object(void*) noexcept {}

redisReplyObjectFunctions k_in_place = {create_string, create_array, create_integer, create_nil,
                                        free_object};

}  // namespace

void build_replies_in_place(redisReader* r) { r->fn = &k_in_place; }

ReplyTarget::ReplyTarget(redisReader* r, std::vector<Reply>* out) : r_(r) { r_->privdata = out; }

ReplyTarget::~ReplyTarget() { r_->privdata = nullptr; }

}  // namespace multicache::l2
