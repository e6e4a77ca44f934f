#include "wire/envelope.h"

#include <snappy.h>

namespace multicache::wire {

namespace {

void put_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64_le(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

}  // namespace

std::string encode_envelope(std::uint64_t stale_after_unix_s, std::string_view payload,
                            const EncodeOptions& options) {
  std::string out;
  if (options.compress && payload.size() >= options.compress_min_bytes) {
    std::string compressed;
    snappy::Compress(payload.data(), payload.size(), &compressed);
    if (compressed.size() < payload.size()) {
      out.reserve(k_header_size + compressed.size());
      put_u64_le(out, stale_after_unix_s);
      out.push_back(static_cast<char>(k_flag_snappy));
      out.append(compressed);
      return out;
    }
  }
  out.reserve(k_header_size + payload.size());
  put_u64_le(out, stale_after_unix_s);
  out.push_back(static_cast<char>(k_flag_raw));
  out.append(payload);
  return out;
}

Decoded decode_envelope(std::string_view bytes) {
  Decoded d;
  if (bytes.size() < k_header_size) {
    d.error = decode_error::too_short;
    return d;
  }
  d.stale_after_unix_s = get_u64_le(bytes);
  const auto flag = static_cast<std::uint8_t>(bytes[8]);
  const std::string_view body = bytes.substr(k_header_size);
  if (flag == k_flag_raw) {
    d.raw_payload = body;
  } else if (flag == k_flag_snappy) {
    d.was_compressed = true;
    // A Snappy element expands at most ~21x (a 3-byte copy of 64 bytes), so a
    // header claiming more than 32x the body is corrupt: reject it before
    // Uncompress allocates the claimed length. Uncompress validates the rest.
    std::size_t n = 0;
    if (!snappy::GetUncompressedLength(body.data(), body.size(), &n) || n > 32 * body.size() + 64 ||
        !snappy::Uncompress(body.data(), body.size(), &d.inflated)) {
      d.inflated.clear();
      d.error = decode_error::bad_compression;
    }
  } else {
    d.error = decode_error::bad_flag;
  }
  return d;
}

const char* to_string(decode_error e) {
  switch (e) {
    case decode_error::none:
      return "none";
    case decode_error::too_short:
      return "too_short";
    case decode_error::bad_flag:
      return "bad_flag";
    case decode_error::bad_compression:
      return "bad_compression";
  }
  return "unknown";
}

}  // namespace multicache::wire
