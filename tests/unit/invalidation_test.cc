// wire/invalidation: the Pub/Sub message {"key":..., "origin":...}.
#include "wire/invalidation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace multicache::wire {
namespace {

using namespace std::string_literals;

void expect_round_trip(const std::string& key, const std::string& origin) {
  const std::string msg = encode_invalidation(key, origin);
  // Whatever the key, the message is valid JSON (nlohmann rejects invalid UTF-8).
  EXPECT_TRUE(nlohmann::json::accept(msg)) << msg;
  const auto inv = parse_invalidation(msg);
  ASSERT_TRUE(inv.has_value()) << msg;
  EXPECT_EQ(inv->key, key) << msg;
  EXPECT_EQ(inv->origin, origin) << msg;
}

TEST(Invalidation, PlainAsciiExactEncoding) {
  EXPECT_EQ(encode_invalidation("k", "o"), R"({"key":"k","origin":"o"})");
  EXPECT_EQ(encode_invalidation("user:123", "abc"), R"({"key":"user:123","origin":"abc"})");
}

TEST(Invalidation, EmptyOriginIsOmitted) {
  EXPECT_EQ(encode_invalidation("k", ""), R"({"key":"k"})");
  const auto inv = parse_invalidation(encode_invalidation("k", ""));
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "k");
  EXPECT_EQ(inv->origin, "");
}

TEST(Invalidation, RoundTripSpecialCharacters) {
  const std::vector<std::string> keys = {
      "plain",
      "",
      R"(with "quotes")",
      R"(back\slash\\)",
      "new\nline",
      "tab\there",
      "ctrl\x01\x1f",
      "nul\0inside"s,
      "caf\xc3\xa9",               // é
      "\xe6\x97\xa5\xe6\x9c\xac",  // 日本
      "emoji \xf0\x9f\x98\x80",    // U+1F600
      "\xef\xbf\xbd",              // a genuine U+FFFD in the key
      "{\"key\":\"nested\"}",
  };
  for (const auto& key : keys) {
    SCOPED_TRACE(key);
    expect_round_trip(key, "origin-1");
    expect_round_trip(key, "");
  }
}

TEST(Invalidation, ControlCharactersAreEscaped) {
  const std::string msg = encode_invalidation("a\nb\tc\x01", "o");
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(msg.find('\t'), std::string::npos);
  EXPECT_EQ(msg.find('\x01'), std::string::npos);
}

TEST(Invalidation, NonUtf8KeysRoundTripViaKeyHex) {
  const std::vector<std::string> keys = {"\xff\xfe", "\x80", "ok\xc3", "\xc0\x80", "a\xffz"};
  for (const auto& key : keys) {
    SCOPED_TRACE(testing::PrintToString(key));
    expect_round_trip(key, "o");
    expect_round_trip(key, "");
  }
}

TEST(Invalidation, NonUtf8EncodingCarriesLowerHexAndLossyKey) {
  const std::string msg = encode_invalidation("\xff\xfe", "o");
  const auto j = nlohmann::json::parse(msg);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("key_hex"), "fffe");
  EXPECT_EQ(j.at("key"), "\xef\xbf\xbd\xef\xbf\xbd");  // two U+FFFD, as Go would write
  EXPECT_EQ(j.at("origin"), "o");

  const auto lone = nlohmann::json::parse(encode_invalidation("\x80", ""));
  EXPECT_EQ(lone.at("key_hex"), "80");
  EXPECT_FALSE(lone.contains("origin"));
}

TEST(Invalidation, ValidUtf8HasNoKeyHex) {
  const auto j = nlohmann::json::parse(encode_invalidation("caf\xc3\xa9", "o"));
  EXPECT_FALSE(j.contains("key_hex"));
}

TEST(Invalidation, GoStyleMessageWithoutOrigin) {
  const auto inv = parse_invalidation(R"({"key":"k"})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "k");
  EXPECT_EQ(inv->origin, "");
}

TEST(Invalidation, OriginPreserved) {
  const auto inv = parse_invalidation(R"({"origin":"instance-7","key":"user:1"})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "user:1");
  EXPECT_EQ(inv->origin, "instance-7");
}

TEST(Invalidation, UnknownFieldsIgnored) {
  const auto inv =
      parse_invalidation(R"({"key":"k","ts":123,"extra":{"a":[1,2]},"origin":"o","x":null})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "k");
  EXPECT_EQ(inv->origin, "o");
}

TEST(Invalidation, KeyHexPreferredAndUpperCaseAccepted) {
  auto inv = parse_invalidation(R"({"key":"lossy","key_hex":"6869"})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "hi");
  inv = parse_invalidation(R"({"key_hex":"FFfe"})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "\xff\xfe");
  inv = parse_invalidation(R"({"key":"x","key_hex":""})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "");
}

TEST(Invalidation, EscapedJsonIsDecoded) {
  const auto inv = parse_invalidation(R"({"key":"a\"b\\c\n\u0001\u00e9"})");
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "a\"b\\c\n\x01\xc3\xa9");
}

TEST(Invalidation, MalformedIsRejected) {
  const std::vector<std::string> bad = {
      "",
      "not json",
      "{",
      R"({"key":"k")",
      R"(["key","k"])",
      R"("k")",
      "null",
      "42",
      "{}",
      R"({"origin":"o"})",
      R"({"key":1})",
      R"({"key":null})",
      R"({"key":["k"]})",
      R"({"key":{"k":1}})",
      R"({"key":true})",
      R"({"key":"k","origin":5})",
      R"({"key":"k","origin":null})",
      R"({"key":"k","origin":["o"]})",
      R"({"key_hex":"abc"})",
      R"({"key_hex":"zz"})",
      R"({"key_hex":"0g"})",
      R"({"key":"k","key_hex":"a"})",
      R"({"key":"k","key_hex":12})",
      "{\"key\":\"\xff\"}",  // raw invalid UTF-8 inside a JSON string
  };
  for (const auto& m : bad) {
    EXPECT_FALSE(parse_invalidation(m).has_value()) << testing::PrintToString(m);
  }
}

TEST(Invalidation, SizeLimit) {
  const std::string prefix = R"({"key":")";
  const std::string suffix = R"("})";
  const std::size_t fill = k_max_invalidation_bytes - prefix.size() - suffix.size();

  const std::string at_limit = prefix + std::string(fill, 'a') + suffix;
  ASSERT_EQ(at_limit.size(), k_max_invalidation_bytes);
  const auto ok = parse_invalidation(at_limit);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->key.size(), fill);

  const std::string over = prefix + std::string(fill + 1, 'a') + suffix;
  ASSERT_EQ(over.size(), k_max_invalidation_bytes + 1);
  EXPECT_FALSE(parse_invalidation(over).has_value());

  // Oversized garbage is rejected without being parsed (and without throwing).
  EXPECT_FALSE(parse_invalidation(std::string(k_max_invalidation_bytes + 10, '[')).has_value());
}

TEST(Invalidation, DeeplyNestedInputUnderTheLimit) {
  // A hostile message within the size limit must not exhaust the stack.
  const std::size_t depth = 300000;
  const std::string array = std::string(depth, '[') + std::string(depth, ']');
  ASSERT_LE(array.size(), k_max_invalidation_bytes);
  EXPECT_FALSE(parse_invalidation(array).has_value());
  EXPECT_FALSE(parse_invalidation(std::string(depth, '[')).has_value());

  const std::string extra =
      R"({"key":"k","junk":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  ASSERT_LE(extra.size(), k_max_invalidation_bytes);
  const auto inv = parse_invalidation(extra);
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->key, "k");
}

}  // namespace
}  // namespace multicache::wire
