// l2/cluster_slots.h — Redis Cluster's key → hash slot rule, and the slot map.
//
// slot_of(key) is CRC16-XMODEM(key) mod 16384, hashing only the part inside
// the first "{...}" when that part is non-empty (a hash tag), exactly as
// Redis Cluster does. slot_of_command() finds the key of a RESP-formatted
// command (the first argument; the first KEYS entry of EVAL/EVALSHA) and
// returns -1 for commands without a key (PUBLISH, PING, ...).
// slot_tag(slot) is a short string whose own slot is `slot`: a key that
// starts with "{" + slot_tag(s) + "}" lives in slot s, which is how the cache
// co-locates a key's side keys (its "not found" marker, its lock) with it.
//
// Thread-safety: free functions are pure (slot_tag builds its table once,
// thread-safely). SlotMap is a value; share it as shared_ptr<const SlotMap>.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "l2/redis_url.h"
#include "l2/reply.h"

namespace multicache::l2 {

inline constexpr int k_slot_count = 16384;

std::uint16_t crc16(std::string_view data);
int slot_of(std::string_view key);
int slot_of_command(std::string_view formatted);
const std::string& slot_tag(int slot);

// Which primary serves each slot, by index into `primaries`; -1 when no
// node serves it.
struct SlotMap {
  std::vector<Endpoint> primaries;  // host and port only
  std::array<std::int16_t, k_slot_count> owner{};
  bool complete() const;  // every slot has an owner
};

// Parses a CLUSTER SLOTS reply. Throws std::runtime_error on a reply that
// does not have CLUSTER SLOTS' shape. An empty host in the reply (a node that
// does not know its own address) is taken to be `seed_host`.
SlotMap parse_cluster_slots(const Reply& reply, const std::string& seed_host);

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the slot and the
// node. Returns false for any other error.
struct Redirect {
  bool ask = false;
  int slot = -1;
  Endpoint node;
};
bool parse_redirect(std::string_view error, Redirect* out);

}  // namespace multicache::l2
