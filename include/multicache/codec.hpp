// multicache/codec.hpp — how a value of type T becomes bytes in Redis and back.
//
// A Codec<T> has two static functions:
//   static std::string encode(const T& value);       // may throw: the value is then not cached
//   static T decode(std::string_view bytes);          // throws on bad bytes: counted as a miss
// and may have a third, used for L1 byte accounting (default: encoded size + sizeof(T)):
//   static std::size_t size_of(const T& value);
//
// Built in:
//   - std::string: the raw bytes, unchanged.
//   - any type nlohmann::json can convert (to_json/from_json, or the standard
//     containers of such types): compact JSON text, as Go's encoding/json reads it.
// For anything else (protobuf, msgpack, ...) specialize it:
//   template <> struct multicache::Codec<MyMsg> { static std::string encode(const MyMsg&); ... };
#pragma once

#include <concepts>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace multicache {

template <class T>
struct Codec;

template <>
struct Codec<std::string> {
  static std::string encode(const std::string& value) { return value; }
  static std::string decode(std::string_view bytes) { return std::string(bytes); }
  static std::size_t size_of(const std::string& value) {
    return sizeof(std::string) + (value.capacity() > 15 ? value.capacity() + 1 : 0);
  }
};

namespace detail {
template <class T>
concept json_convertible = requires(const T& value, const nlohmann::json& j) {
  {nlohmann::json(value)};
  { j.get<T>() } -> std::same_as<T>;
};
}  // namespace detail

template <class T>
requires detail::json_convertible<T>
struct Codec<T> {
  static std::string encode(const T& value) { return nlohmann::json(value).dump(); }
  static T decode(std::string_view bytes) { return nlohmann::json::parse(bytes).get<T>(); }
};

// True when Codec<T> is usable.
template <class T>
concept codable = requires(const T& value, std::string_view bytes) {
  { Codec<T>::encode(value) } -> std::convertible_to<std::string>;
  { Codec<T>::decode(bytes) } -> std::convertible_to<T>;
};

// What a Cache can hold: a codable T, or std::optional<U> of a codable U
// (an empty optional is cached as "not found", see Options::negative_ttl).
// Copy-constructible, since a hit returns a copy (get_or_load returns T):
// for a move-only object, cache a type that shares it (a struct holding a
// std::shared_ptr<const U>, with a Codec); a move-only T is refused here,
// not deep inside the library.
template <class T>
concept cacheable = std::copy_constructible<T> &&(codable<T> || requires {
  typename T::value_type;
  requires std::same_as<T, std::optional<typename T::value_type>>;
  requires codable<typename T::value_type>;
});

}  // namespace multicache
