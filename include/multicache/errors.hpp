// multicache/errors.hpp — exceptions thrown by the library.
//
//   std::runtime_error
//     └─ multicache::Error          anything the library itself reports
//          └─ multicache::RedisError  an L2 write or delete the caller must know failed
//
// Reads never throw these: Redis trouble during get/get_or_load is counted and
// falls back. A loader's own exception reaches the caller unchanged. Invalid
// Options throw std::invalid_argument.
#pragma once

#include <stdexcept>
#include <string>

namespace multicache {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisError : public Error {
 public:
  using Error::Error;
};

}  // namespace multicache
