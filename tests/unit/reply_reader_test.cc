// The in-place reply builder against hiredis's own reply objects (the oracle):
// the same bytes must give the same replies, fed whole or a byte at a time.
#include "l2/reply_reader.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace multicache::l2 {
namespace {

using namespace std::string_literals;

// Every kind of reply, nested arrays and binary bulk strings included.
const std::string k_stream =
    "+OK\r\n"
    "-ERR wrong type\r\n"
    ":42\r\n"
    ":-7\r\n"
    "$5\r\nhello\r\n"
    "$0\r\n\r\n"
    "$-1\r\n"
    "*-1\r\n"
    "*0\r\n"
    "$6\r\na\0\r\nbc\r\n"s
    "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n"
    "*2\r\n*1\r\n*1\r\n:9\r\n-NOPERM no\r\n";

bool same(const Reply& a, const Reply& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.elements.size(); ++i) {
    if (!same(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

std::vector<Reply> oracle(const std::string& bytes) {
  redisReader* r = redisReaderCreate();
  redisReaderFeed(r, bytes.data(), bytes.size());
  std::vector<Reply> out;
  for (;;) {
    void* raw = nullptr;
    EXPECT_EQ(redisReaderGetReply(r, &raw), REDIS_OK);
    if (raw == nullptr) break;
    out.push_back(Reply::from_hiredis(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  redisReaderFree(r);
  return out;
}

// Feeds bytes in chunks of `chunk`, keeping one element per completed reply.
std::vector<Reply> in_place(const std::string& bytes, std::size_t chunk) {
  redisReader* r = redisReaderCreate();
  build_replies_in_place(r);
  std::vector<Reply> out;
  std::size_t done = 0;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    redisReaderFeed(r, bytes.data() + at, std::min(chunk, bytes.size() - at));
    const ReplyTarget target(r, &out);
    for (;;) {
      void* raw = nullptr;
      EXPECT_EQ(redisReaderGetReply(r, &raw), REDIS_OK);
      if (raw == nullptr) break;
      EXPECT_EQ(raw, &out[done]);  // the reply the reader returns is the element
      ++done;
    }
  }
  redisReaderFree(r);
  EXPECT_EQ(out.size(), done);  // nothing partial is left at the end of the stream
  return out;
}

TEST(ReplyReader, MatchesHiredisOwnObjects) {
  const std::vector<Reply> want = oracle(k_stream);
  ASSERT_EQ(want.size(), 12u);
  ASSERT_EQ(want[9].str, "a\0\r\nbc"s);  // the oracle parsed the binary string whole
  for (std::size_t chunk : {k_stream.size(), std::size_t{1}, std::size_t{3}, std::size_t{7}}) {
    const std::vector<Reply> got = in_place(k_stream, chunk);
    ASSERT_EQ(got.size(), want.size()) << "chunk " << chunk;
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(same(got[i], want[i])) << "reply " << i << ", chunk " << chunk;
    }
  }
}

TEST(ReplyReader, AnIncompleteReplyIsTheLastElementUntilItCompletes) {
  redisReader* r = redisReaderCreate();
  build_replies_in_place(r);
  std::vector<Reply> out;
  const std::string first = "*2\r\n:1\r\n", rest = "$2\r\nab\r\n";
  redisReaderFeed(r, first.data(), first.size());
  void* raw = nullptr;
  {
    const ReplyTarget target(r, &out);
    ASSERT_EQ(redisReaderGetReply(r, &raw), REDIS_OK);
  }
  EXPECT_EQ(raw, nullptr);
  ASSERT_EQ(out.size(), 1u);  // the partial array: the caller drops it on failure
  redisReaderFeed(r, rest.data(), rest.size());
  {
    const ReplyTarget target(r, &out);
    ASSERT_EQ(redisReaderGetReply(r, &raw), REDIS_OK);
  }
  ASSERT_EQ(raw, &out[0]);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].type, Reply::kind::array);
  ASSERT_EQ(out[0].elements.size(), 2u);
  EXPECT_EQ(out[0].elements[0].integer, 1);
  EXPECT_EQ(out[0].elements[1].str, "ab");
  redisReaderFree(r);  // with nothing partial: frees nothing of ours
}

TEST(ReplyReader, ReadingWithoutATargetIsAReaderErrorNotACrash) {
  redisReader* r = redisReaderCreate();
  build_replies_in_place(r);
  const std::string bytes = "$3\r\nabc\r\n";
  redisReaderFeed(r, bytes.data(), bytes.size());
  void* raw = nullptr;
  EXPECT_EQ(redisReaderGetReply(r, &raw), REDIS_ERR);
  EXPECT_EQ(raw, nullptr);
  redisReaderFree(r);
}

TEST(ReplyReader, AReaderFreedMidReplyLeavesTheVectorIntact) {
  redisReader* r = redisReaderCreate();
  build_replies_in_place(r);
  std::vector<Reply> out;
  const std::string bytes = "*3\r\n+a\r\n";
  redisReaderFeed(r, bytes.data(), bytes.size());
  {
    const ReplyTarget target(r, &out);
    void* raw = nullptr;
    ASSERT_EQ(redisReaderGetReply(r, &raw), REDIS_OK);
    EXPECT_EQ(raw, nullptr);
  }
  redisReaderFree(r);  // hiredis hands our free hook the partial array: it owns nothing
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].elements[0].str, "a");
}

}  // namespace
}  // namespace multicache::l2
