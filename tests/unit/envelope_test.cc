// wire/envelope: the Redis value format shared with the Go library.
#include "wire/envelope.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <string>

// Allocation probe. Replacing the global operator new affects the whole
// unit_tests binary, but it only forwards to malloc like the default one; it
// additionally records the largest request made by a thread while that thread
// has tracking switched on. AddressSanitizer owns operator new itself, so the
// probe (and the assertions on it) exist only in builds without it; there the
// fuzzers' malloc limit watches for the same thing.
#if defined(__SANITIZE_ADDRESS__)
#define MC_ALLOCATION_PROBE 0
#else
#define MC_ALLOCATION_PROBE 1
#endif
namespace {
thread_local bool t_tracking = false;
thread_local std::size_t t_largest = 0;
}  // namespace

#if MC_ALLOCATION_PROBE
void* operator new(std::size_t n) {
  if (t_tracking && n > t_largest) t_largest = n;
  for (;;) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace multicache::wire {
namespace {

std::string header(std::uint64_t stale, std::uint8_t flag) {
  std::string h;
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((stale >> (8 * i)) & 0xff));
  h.push_back(static_cast<char>(flag));
  return h;
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);  // the engine's output sequence is fixed by the standard
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() & 0xff));
  return s;
}

std::string compressible(std::size_t n) {
  std::string s;
  while (s.size() < n) s += "the quick brown fox jumps over the lazy dog; ";
  s.resize(n);
  return s;
}

const EncodeOptions k_raw{.compress = false};
const EncodeOptions k_snappy{.compress = true, .compress_min_bytes = 256};

TEST(Envelope, ExactByteLayout) {
  const std::string out = encode_envelope(0x0102030405060708ull, "abc", k_raw);
  const unsigned char expected[] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
                                    0x02, 0x01, 0x00, 'a',  'b',  'c'};
  ASSERT_EQ(out.size(), sizeof(expected));
  for (std::size_t i = 0; i < sizeof(expected); ++i) {
    EXPECT_EQ(static_cast<unsigned char>(out[i]), expected[i]) << "byte " << i;
  }
}

TEST(Envelope, ExactByteLayoutCompressed) {
  const std::string payload = compressible(1000);
  const std::string out = encode_envelope(1700000000, payload, k_snappy);
  std::string body;
  snappy::Compress(payload.data(), payload.size(), &body);
  EXPECT_EQ(out, header(1700000000, 1) + body);
}

TEST(Envelope, RoundTripRaw) {
  for (std::uint64_t stale :
       {std::uint64_t{0}, std::uint64_t{1700000000}, std::numeric_limits<std::uint64_t>::max()}) {
    const std::string payload = std::string("hello\0world\xff", 12);
    const std::string bytes = encode_envelope(stale, payload, k_raw);
    const Decoded d = decode_envelope(bytes);
    EXPECT_EQ(d.error, decode_error::none);
    EXPECT_EQ(d.stale_after_unix_s, stale);
    EXPECT_FALSE(d.was_compressed);
    EXPECT_EQ(d.payload(), payload);
  }
}

TEST(Envelope, RoundTripSnappy) {
  const std::string payload = compressible(10000);
  const std::string out = encode_envelope(42, payload, k_snappy);
  EXPECT_EQ(static_cast<unsigned char>(out[8]), k_flag_snappy);
  EXPECT_LT(out.size(), k_header_size + payload.size());
  const Decoded d = decode_envelope(out);
  EXPECT_EQ(d.error, decode_error::none);
  EXPECT_EQ(d.stale_after_unix_s, 42u);
  EXPECT_TRUE(d.was_compressed);
  EXPECT_EQ(d.payload(), payload);
}

TEST(Envelope, DecodesHandBuiltSnappyBlock) {
  // Raw Snappy block as any encoder (e.g. Go's) may write it: varint length 3,
  // then one literal tag ((3 - 1) << 2) and the 3 bytes.
  const std::string body(
      "\x03\x08"
      "abc",
      5);
  const Decoded d = decode_envelope(header(7, 1) + body);
  EXPECT_EQ(d.error, decode_error::none);
  EXPECT_TRUE(d.was_compressed);
  EXPECT_EQ(d.payload(), "abc");
}

TEST(Envelope, CompressesOnlyFromMinBytes) {
  const std::string below = compressible(255);
  const std::string at = compressible(256);
  EXPECT_EQ(encode_envelope(1, below, k_snappy), header(1, 0) + below);
  EXPECT_EQ(static_cast<unsigned char>(encode_envelope(1, at, k_snappy)[8]), k_flag_snappy);
  EXPECT_EQ(decode_envelope(encode_envelope(1, at, k_snappy)).payload(), at);
}

TEST(Envelope, NoCompressionWhenDisabled) {
  const std::string payload = compressible(10000);
  EXPECT_EQ(encode_envelope(1, payload, k_raw), header(1, 0) + payload);
  const EncodeOptions off_min0{.compress = false, .compress_min_bytes = 0};
  EXPECT_EQ(encode_envelope(1, payload, off_min0), header(1, 0) + payload);
}

TEST(Envelope, IncompressibleStaysRaw) {
  const std::string payload = random_bytes(4096, 12345);
  const std::string out = encode_envelope(9, payload, k_snappy);
  EXPECT_EQ(out, header(9, 0) + payload);
  const Decoded d = decode_envelope(out);
  EXPECT_EQ(d.error, decode_error::none);
  EXPECT_FALSE(d.was_compressed);
  EXPECT_EQ(d.payload(), payload);
}

TEST(Envelope, EmptyPayloadIsValid) {
  const std::string out = encode_envelope(5, "", k_snappy);
  EXPECT_EQ(out, header(5, 0));
  Decoded d = decode_envelope(out);
  EXPECT_EQ(d.error, decode_error::none);
  EXPECT_EQ(d.stale_after_unix_s, 5u);
  EXPECT_TRUE(d.payload().empty());

  // A Snappy-compressed empty payload (one byte: varint 0) is valid too.
  std::string empty_block;
  snappy::Compress("", 0, &empty_block);
  d = decode_envelope(header(5, 1) + empty_block);
  EXPECT_EQ(d.error, decode_error::none);
  EXPECT_TRUE(d.payload().empty());
}

TEST(Envelope, TooShort) {
  const std::string full = encode_envelope(0x1122334455667788ull, "", k_raw);
  ASSERT_EQ(full.size(), 9u);
  for (std::size_t n = 0; n <= 8; ++n) {
    const Decoded d = decode_envelope(std::string_view(full).substr(0, n));
    EXPECT_EQ(d.error, decode_error::too_short) << "length " << n;
    EXPECT_TRUE(d.payload().empty());
  }
}

TEST(Envelope, UnknownFlag) {
  for (std::uint8_t flag : {std::uint8_t{2}, std::uint8_t{255}}) {
    const Decoded d = decode_envelope(header(1, flag) + "payload");
    EXPECT_EQ(d.error, decode_error::bad_flag) << "flag " << int{flag};
    EXPECT_TRUE(d.payload().empty());
  }
}

TEST(Envelope, CorruptSnappyBody) {
  // Random bytes (fixed seed).
  const std::string garbage = random_bytes(64, 777);
  ASSERT_FALSE(snappy::IsValidCompressedBuffer(garbage.data(), garbage.size()));
  Decoded d = decode_envelope(header(1, 1) + garbage);
  EXPECT_EQ(d.error, decode_error::bad_compression);
  EXPECT_TRUE(d.payload().empty());

  // A valid block cut short.
  std::string block;
  const std::string payload = compressible(2000);
  snappy::Compress(payload.data(), payload.size(), &block);
  for (std::size_t cut : {std::size_t{1}, std::size_t{5}, block.size() / 2, block.size() - 1}) {
    d = decode_envelope(header(1, 1) + block.substr(0, block.size() - cut));
    EXPECT_EQ(d.error, decode_error::bad_compression) << "cut " << cut;
    EXPECT_TRUE(d.payload().empty());
  }

  // Empty body with the Snappy flag: not even a length.
  d = decode_envelope(header(1, 1));
  EXPECT_EQ(d.error, decode_error::bad_compression);
}

// Decodes `bytes` and returns the largest single allocation made meanwhile.
std::size_t largest_allocation_decoding(const std::string& bytes, Decoded* out) {
  t_largest = 0;
  t_tracking = true;
  *out = decode_envelope(bytes);
  t_tracking = false;
  return t_largest;
}

TEST(Envelope, HugeClaimedLengthAboveCapIsRejectedWithoutAllocating) {
  // Varint 0xFFFFFFFF (4 GiB - 1), then a literal tag and a few bytes.
  const std::string body("\xff\xff\xff\xff\x0f\x08xyz", 9);
  Decoded d;
  const std::size_t largest = largest_allocation_decoding(header(1, 1) + body, &d);
  EXPECT_EQ(d.error, decode_error::bad_compression);
  EXPECT_TRUE(d.payload().empty());
  if (MC_ALLOCATION_PROBE) {
    EXPECT_LT(largest, std::size_t{1} << 20);
  }
}

TEST(Envelope, HugeClaimedLengthBelowCapIsRejectedWithoutAllocating) {
  // Varint 64 MiB (0x04000000 = 80 80 80 20), then one 3-byte literal: a
  // 9-byte block can never expand to 64 MiB, so the claim is a lie and must
  // be rejected before the output buffer is sized from it.
  const std::string body("\x80\x80\x80\x20\x08xyz", 8);
  std::size_t claimed = 0;
  ASSERT_TRUE(snappy::GetUncompressedLength(body.data(), body.size(), &claimed));
  ASSERT_EQ(claimed, std::size_t{64} << 20);
  Decoded d;
  const std::size_t largest = largest_allocation_decoding(header(1, 1) + body, &d);
  EXPECT_EQ(d.error, decode_error::bad_compression);
  EXPECT_TRUE(d.payload().empty());
  if (MC_ALLOCATION_PROBE) {
    EXPECT_LT(largest, std::size_t{1} << 20) << "decode allocated the claimed length";
  }
}

TEST(Envelope, ErrorNames) {
  EXPECT_STREQ(to_string(decode_error::none), "none");
  EXPECT_STREQ(to_string(decode_error::too_short), "too_short");
  EXPECT_STREQ(to_string(decode_error::bad_flag), "bad_flag");
  EXPECT_STREQ(to_string(decode_error::bad_compression), "bad_compression");
}

// A raw payload is read in place (a read does not copy the value's bytes
// before decoding them); a decompressed one lives in the result, and stays
// valid when the result is copied or moved, also for payloads short enough
// for std::string's inline buffer.
TEST(Envelope, RawPayloadIsAViewOfTheInputAndCopiesStayValid) {
  const std::string raw = encode_envelope(3, std::string(300, 'r'), k_raw);
  const Decoded d = decode_envelope(raw);
  EXPECT_EQ(d.payload().data(), raw.data() + k_header_size);
  EXPECT_EQ(d.payload(), std::string(300, 'r'));

  std::string block;
  snappy::Compress("tiny", 4, &block);
  const std::string small = header(3, 1) + block;
  Decoded a = decode_envelope(small);
  ASSERT_EQ(a.error, decode_error::none);
  const Decoded copy = a;
  const Decoded moved = std::move(a);
  EXPECT_EQ(copy.payload(), "tiny");
  EXPECT_EQ(moved.payload(), "tiny");
  EXPECT_EQ(moved.payload().data(), moved.inflated.data());
}

}  // namespace
}  // namespace multicache::wire
