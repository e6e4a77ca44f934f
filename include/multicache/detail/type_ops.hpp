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
#include <type_traits>
#include <utility>
#include <vector>

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
  // Only for T = std::optional<U> (negative caching), else null:
  // whether the value is the empty optional, and a new empty one.
  bool (*is_absent)(const void* value);
  erased_value (*make_absent)();
  // Only for T = std::string, else null: the value's bytes (valid while the
  // value lives), and *static_cast<std::optional<T>*>(out) = T(bytes). L1
  // keeps the view in the entry, so a copying hit reads the bytes directly
  // instead of first loading the std::string object that points at them.
  std::string_view (*bytes_of)(const void* value);
  void (*copy_bytes_out)(std::string_view bytes, void* out);
};

template <class T>
inline constexpr bool is_optional_v = false;
template <class U>
inline constexpr bool is_optional_v<std::optional<U>> = true;

template <class T>
std::size_t size_of_value(const void* value, std::size_t encoded_size) {
  if constexpr (requires(const T& v) { Codec<T>::size_of(v); }) {
    return Codec<T>::size_of(*static_cast<const T*>(value));
  } else {
    return sizeof(T) + encoded_size;
  }
}

template <class T>
constexpr auto bytes_of_value() -> std::string_view (*)(const void*) {
  if constexpr (std::is_same_v<T, std::string>) {
    return [](const void* value) -> std::string_view { return *static_cast<const T*>(value); };
  } else {
    return nullptr;
  }
}

template <class T>
constexpr auto copy_bytes_out() -> void (*)(std::string_view, void*) {
  if constexpr (std::is_same_v<T, std::string>) {
    return [](std::string_view bytes, void* out) {
      static_cast<std::optional<T>*>(out)->emplace(bytes);
    };
  } else {
    return nullptr;
  }
}

// T's bytes are Codec<T>'s; std::optional<U>'s are Codec<U>'s when present
// (absence is stored as a negative marker instead, see cache.hpp).
template <class T>
constexpr TypeOps make_type_ops() {
  if constexpr (is_optional_v<T>) {
    using U = typename T::value_type;
    return TypeOps{
        [](std::string_view bytes) -> erased_value {
          return std::make_shared<const T>(Codec<U>::decode(bytes));
        },
        [](const void* value) -> std::string {
          return std::string(Codec<U>::encode(**static_cast<const T*>(value)));
        },
        [](const void* value, std::size_t encoded_size) -> std::size_t {
          const T& v = *static_cast<const T*>(value);
          return v ? size_of_value<U>(&*v, encoded_size) : sizeof(T);
        },
        [](const void* value, void* out) {
          static_cast<std::optional<T>*>(out)->emplace(*static_cast<const T*>(value));
        },
        [](const void* value) { return !static_cast<const T*>(value)->has_value(); },
        []() -> erased_value { return std::make_shared<const T>(); },
        nullptr,
        nullptr,
    };
  } else {
    return TypeOps{
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
        nullptr,
        nullptr,
        bytes_of_value<T>(),
        copy_bytes_out<T>(),
    };
  }
}

template <class T>
inline constexpr TypeOps type_ops_for = make_type_ops<T>();

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

// A non-owning reference to a callable taking the cached object (as
// const void*); valid only during the call that received it.
class VisitorRef {
 public:
  template <class F>
  explicit VisitorRef(F& f)
      : obj_(&f), call_([](void* obj, const void* value) { (*static_cast<F*>(obj))(value); }) {}
  void operator()(const void* value) const { call_(obj_, value); }

 private:
  void* obj_;
  void (*call_)(void*, const void*);
};

// A non-owning reference to a batch loader: keys in, one value per key out
// (null: not found). Valid only during the call that received it.
class BatchLoaderRef {
 public:
  using Result = std::vector<erased_value>;
  template <class F>
  explicit BatchLoaderRef(F& f)
      : obj_(&f), call_([](void* obj, const std::vector<std::string>& keys) -> Result {
          return (*static_cast<F*>(obj))(keys);
        }) {}
  Result operator()(const std::vector<std::string>& keys) const { return call_(obj_, keys); }

 private:
  void* obj_;
  Result (*call_)(void*, const std::vector<std::string>&);
};

// A loader owned by a background refresh, which runs after the call that
// queued it has returned: keys in, one value per key out (null: not found).
// A single key's loader is wrapped as a batch of one. Move-only.
class OwnedBatchLoader {
 public:
  using Result = std::vector<erased_value>;
  OwnedBatchLoader() = default;
  template <class F>
  explicit OwnedBatchLoader(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}
  explicit operator bool() const { return impl_ != nullptr; }
  Result operator()(const std::vector<std::string>& keys) const { return impl_->call(keys); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual Result call(const std::vector<std::string>& keys) = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F f) : fn(std::move(f)) {}
    Result call(const std::vector<std::string>& keys) override { return fn(keys); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

}  // namespace multicache::detail
