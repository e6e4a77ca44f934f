// l2/reply_reader.h — hiredis's reply parser building our Reply values
// directly, through its reply-object hooks (redisReplyObjectFunctions), with
// no redisReply in between.
//
// hiredis's own objects cost a read two allocations per string reply (the
// redisReply and a copy of its bytes), which Reply::from_hiredis then copied
// a third time. With these hooks a string reply's bytes are copied once, from
// the reader's buffer into the Reply, and an integer or nil reply allocates
// nothing.
//
// Use: build_replies_in_place(reader) once, before it parses anything (for a
// blocking context, c->reader right after connecting), then read only inside a ReplyTarget's
// lifetime: every reply the reader completes meanwhile is appended to the target's vector (an
// array's elements into their parent). A reply still incomplete when the target ends (a timeout
// mid-reply) is left as the vector's last element; the caller drops it (keep only one element per
// reply the reader returned) and must close the connection, as after any failed read.
//
// Not thread-safe: one context, one thread at a time (the connection's owner).
#pragma once

#include <vector>

#include "l2/reply.h"

struct redisReader;

namespace multicache::l2 {

void build_replies_in_place(redisReader* r);

class ReplyTarget {
 public:
  ReplyTarget(redisReader* r, std::vector<Reply>* out);
  ~ReplyTarget();
  ReplyTarget(const ReplyTarget&) = delete;
  ReplyTarget& operator=(const ReplyTarget&) = delete;

 private:
  redisReader* r_;
};

}  // namespace multicache::l2
