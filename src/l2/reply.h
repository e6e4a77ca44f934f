// l2/reply.h — a Redis reply copied out of hiredis, owned by value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace multicache::l2 {

struct Reply {
  enum class kind { nil, status, error, integer, string, array };
  kind type = kind::nil;
  std::string str;           // status, error and string replies
  std::int64_t integer = 0;  // integer replies
  std::vector<Reply> elements;

  static Reply from_hiredis(const redisReply* r);
  bool is_error() const { return type == kind::error; }
};

// RESP encoding of one command (argv of binary-safe strings).
std::string format_command(std::initializer_list<std::string_view> args);
// format_command({name, key_prefix + key}) without building the key first.
std::string format_key_command(std::string_view name, std::string_view key_prefix,
                               std::string_view key);

}  // namespace multicache::l2
