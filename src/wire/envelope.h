// wire/envelope.h — the value format in Redis, byte-compatible with the Go library.
//
//   bytes 0..7  stale-after time, Unix seconds, unsigned 64-bit little-endian
//   byte  8     flags: 0 = payload raw, 1 = payload Snappy-compressed (raw block format)
//   bytes 9..   payload (the codec's bytes, possibly compressed)
//
// Decoding never throws and never reads out of bounds: anything that is not a
// well-formed envelope comes back as an error status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace multicache::wire {

inline constexpr std::size_t k_header_size = 9;
inline constexpr std::uint8_t k_flag_raw = 0;
inline constexpr std::uint8_t k_flag_snappy = 1;

struct EncodeOptions {
  bool compress = false;
  std::size_t compress_min_bytes = 256;
};

// Builds header + payload. Compresses when asked and the payload is at least
// compress_min_bytes long and compression actually shrinks it.
std::string encode_envelope(std::uint64_t stale_after_unix_s, std::string_view payload,
                            const EncodeOptions& options);

enum class decode_error { none, too_short, bad_flag, bad_compression };

struct Decoded {
  std::uint64_t stale_after_unix_s = 0;
  bool was_compressed = false;
  decode_error error = decode_error::none;
  std::string_view raw_payload;  // a raw payload: a view of decode_envelope's input
  std::string inflated;          // a compressed payload, decompressed

  // The codec's bytes (empty on error): a view of the decoded input (raw) or
  // of inflated (compressed), so it is valid while both live. Copies and
  // moves of a Decoded keep it valid.
  std::string_view payload() const {
    return was_compressed ? std::string_view(inflated) : raw_payload;
  }
};

// Reads an envelope without copying a raw payload: the result's payload()
// views `bytes`, which must outlive its use.
Decoded decode_envelope(std::string_view bytes);

const char* to_string(decode_error e);

}  // namespace multicache::wire
