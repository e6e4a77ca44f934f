#include "l2/reply.h"

#include <hiredis/hiredis.h>

#include <cstring>
#include <vector>

namespace multicache::l2 {

Reply Reply::from_hiredis(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.type = kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(from_hiredis(r->element[i]));
      }
      break;
    default:
      out.type = kind::nil;
  }
  return out;
}

namespace {

std::size_t decimal_digits(std::size_t n) {
  std::size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

// Appends "<prefix><n>\r\n"; `at` has room for it.
char* put_header(char* at, char prefix, std::size_t n) {
  *at++ = prefix;
  const std::size_t d = decimal_digits(n);
  for (std::size_t i = d; i > 0; --i) {
    at[i - 1] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  at += d;
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

// Bytes of one bulk string of n bytes: "$<n>\r\n<bytes>\r\n".
std::size_t bulk_size(std::size_t n) { return 1 + decimal_digits(n) + 2 + n + 2; }

// Writes the bulk string a followed by b (one argument) at `at`; returns its end.
char* put_bulk(char* at, std::string_view a, std::string_view b) {
  at = put_header(at, '$', a.size() + b.size());
  if (!a.empty()) std::memcpy(at, a.data(), a.size());
  at += a.size();
  if (!b.empty()) std::memcpy(at, b.data(), b.size());
  at += b.size();
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

}  // namespace

// Written here rather than with hiredis's redisFormatCommandArgv, which
// formats each length with sprintf and allocates three times: on an L2 hit
// that was about 3,000 instructions per command, more than the rest of the
// command's client-side path (docs/performance.md).
std::string format_command(std::initializer_list<std::string_view> args) {
  std::size_t size = 3 + decimal_digits(args.size());
  for (auto a : args) size += bulk_size(a.size());
  std::string out(size, '\0');
  char* at = put_header(out.data(), '*', args.size());
  for (auto a : args) at = put_bulk(at, a, {});
  return out;
}

std::string format_key_command(std::string_view name, std::string_view key_prefix,
                               std::string_view key) {
  std::string out(
      3 + decimal_digits(2) + bulk_size(name.size()) + bulk_size(key_prefix.size() + key.size()),
      '\0');
  char* at = put_header(out.data(), '*', 2);
  at = put_bulk(at, name, {});
  put_bulk(at, key_prefix, key);
  return out;
}

}  // namespace multicache::l2
