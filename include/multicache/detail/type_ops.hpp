// multicache/detail/type_ops.hpp — type erasure between the templated API and
// the compiled core. Not part of the public API.
//
// The core stores decoded values as std::shared_ptr<const void> together with
// the TypeOps of their type; a read with another T sees a type mismatch and
// goes to Redis instead of reinterpreting the bytes.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "multicache/codec.hpp"

namespace multicache::detail {

using erased_value = std::shared_ptr<const void>;

struct TypeOps {
  // Bytes -> value. Throws on bytes the codec rejects.
  erased_value (*decode)(std::string_view bytes);
  // Value -> bytes. May throw.
  std::string (*encode)(const void* value);
  // Bytes the value occupies in memory, for L1 accounting; encoded_size is the codec's output size.
  std::size_t (*size_of)(const void* value, std::size_t encoded_size);
  // *static_cast<std::optional<T>*>(out) = *static_cast<const T*>(value)
  void (*copy_out)(const void* value, void* out);
};

template <class T>
std::size_t size_of_value(const void* value, std::size_t encoded_size) {
  if constexpr (requires(const T& v) { Codec<T>::size_of(v); }) {
    return Codec<T>::size_of(*static_cast<const T*>(value));
  } else {
    return sizeof(T) + encoded_size;
  }
}

template <class T>
inline constexpr TypeOps type_ops_for{
    [](std::string_view bytes) -> erased_value {
      return std::make_shared<const T>(Codec<T>::decode(bytes));
    },
    [](const void* value) -> std::string {
      return std::string(Codec<T>::encode(*static_cast<const T*>(value)));
    },
    &size_of_value<T>,
    [](const void* value, void* out) {
      static_cast<std::optional<T>*>(out)->emplace(*static_cast<const T*>(value));
    },
};

// A non-owning reference to a callable returning erased_value; valid only
// during the call that received it.
class LoaderRef {
 public:
  template <class F>
  explicit LoaderRef(F& f)
      : obj_(&f), call_([](void* obj) -> erased_value { return (*static_cast<F*>(obj))(); }) {}
  erased_value operator()() const { return call_(obj_); }

 private:
  void* obj_;
  erased_value (*call_)(void*);
};

// An owning, move-only callable returning erased_value, for background refreshes.
class OwnedLoader {
 public:
  OwnedLoader() = default;
  template <class F>
  explicit OwnedLoader(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}
  explicit operator bool() const { return impl_ != nullptr; }
  erased_value operator()() const { return impl_->call(); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual erased_value call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F f) : fn(std::move(f)) {}
    erased_value call() override { return fn(); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

}  // namespace multicache::detail
