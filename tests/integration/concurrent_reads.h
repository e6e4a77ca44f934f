// concurrent_reads.h — many threads reading at once through one client, each
// checking that it got its own replies: the check behind the pipelining
// tests (the event loop's, and the blocking connections' rounds).
#pragma once

#include <atomic>
#include <barrier>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "l2/command_client.h"
#include "l2/reply.h"

namespace multicache::test {

// Keys "k0".."k<keys-1>" hold "v0"..., without a TTL.
struct ConcurrentReads {
  int failed = 0;    // an error, or not two replies
  int wrong = 0;     // two replies, but not this key's
  int declined = 0;  // execute returned nullopt (DirectPool: the loop's to take)
};

// `threads` threads start together; each sends `calls` pipelines of GET +
// PTTL (as a cache read does) through execute(commands) ->
// std::optional<Result>, over the keys in a per-thread order.
template <class Execute>
ConcurrentReads read_concurrently(Execute execute, int threads, int calls, int keys) {
  std::atomic<int> failed{0}, wrong{0}, declined{0};
  std::barrier start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int c = 0; c < calls; ++c) {
        const int i = (t * 31 + c * 7) % keys;
        const std::string k = "k" + std::to_string(i);
        const std::optional<l2::Result> r = execute(std::vector<std::string>{
            l2::format_command({"GET", k}), l2::format_command({"PTTL", k})});
        if (!r) {
          declined.fetch_add(1);
        } else if (!r->ok || r->replies.size() != 2) {
          failed.fetch_add(1);
        } else if (r->replies[0].str != "v" + std::to_string(i) ||
                   r->replies[1].type != l2::Reply::kind::integer || r->replies[1].integer != -1) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return {failed.load(), wrong.load(), declined.load()};
}

}  // namespace multicache::test
