// libFuzzer target: wire::decode_envelope on arbitrary bytes.
//
// Decoding must never crash, leak or hit UB (ASan/UBSan catch that). When the
// input decodes, the payload must survive a re-encode/decode round trip, with
// and without compression; a raw (flag 0) input must re-encode byte-exact.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wire/envelope.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace multicache::wire;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Decoded d = decode_envelope(input);
  (void)to_string(d.error);
  if (d.error != decode_error::none) {
    check(d.payload().empty());
    return 0;
  }
  check(size >= k_header_size);
  check(d.was_compressed == (data[8] == k_flag_snappy));

  for (const bool compress : {false, true}) {
    EncodeOptions options;
    options.compress = compress;
    options.compress_min_bytes = 0;
    const std::string encoded = encode_envelope(d.stale_after_unix_s, d.payload(), options);
    const Decoded again = decode_envelope(encoded);
    check(again.error == decode_error::none);
    check(again.stale_after_unix_s == d.stale_after_unix_s);
    check(again.payload() == d.payload());
    if (!compress) {
      check(!again.was_compressed);
      check(encoded.size() == k_header_size + d.payload().size());
      if (!d.was_compressed) check(encoded == input);
    }
  }
  return 0;
}
