// compression_bench — what Snappy buys in Redis, and what it costs per value.
//
// Two payloads: a 200-byte JSON object and a JSON array of 1,000 user records.
// For each: bytes stored in Redis (9-byte header included) raw and compressed,
// and the time to build and to decode the envelope either way.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <nlohmann/json.hpp>
#include <string>

#include "wire/envelope.h"

namespace multicache::bench {
namespace {

std::string small_object() {
  nlohmann::json j = {{"id", 123456},
                      {"name", "John Doe"},
                      {"email", "john.doe@example.com"},
                      {"country", "NL"},
                      {"plan", "premium"},
                      {"created_at", "2024-03-01T12:34:56Z"},
                      {"verified", true},
                      {"tags", {"beta", "newsletter"}},
                      {"score", 4711}};
  return j.dump();  // 188 bytes
}

std::string user_array() {
  nlohmann::json arr = nlohmann::json::array();
  for (int i = 0; i < 1000; ++i) {
    arr.push_back({{"id", 100000 + i},
                   {"name", "User " + std::to_string(i)},
                   {"email", "user" + std::to_string(i) + "@example.com"},
                   {"country", i % 3 == 0 ? "DE" : (i % 3 == 1 ? "US" : "IR")},
                   {"active", i % 2 == 0},
                   {"balance", (i * 7919) % 100000}});
  }
  return arr.dump();
}

const std::string& payload(int which) {
  static const std::string small = small_object();
  static const std::string big = user_array();
  return which == 0 ? small : big;
}

void BM_encode(benchmark::State& state) {
  const std::string& p = payload(static_cast<int>(state.range(0)));
  const bool compress = state.range(1) != 0;
  std::size_t stored = 0;
  for (auto _ : state) {
    std::string e = wire::encode_envelope(1700000000, p, {compress, 0});
    stored = e.size();
    benchmark::DoNotOptimize(e);
  }
  std::string snappy_out;
  snappy::Compress(p.data(), p.size(), &snappy_out);
  state.counters["payload_bytes"] = static_cast<double>(p.size());
  state.counters["snappy_bytes"] = static_cast<double>(snappy_out.size());  // before the fallback
  state.counters["stored_bytes"] = static_cast<double>(stored);
  state.counters["saved_pct"] =
      100.0 * (1.0 - static_cast<double>(stored) / static_cast<double>(p.size() + 9));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * p.size()));
}

void BM_decode(benchmark::State& state) {
  const std::string& p = payload(static_cast<int>(state.range(0)));
  const bool compress = state.range(1) != 0;
  const std::string e = wire::encode_envelope(1700000000, p, {compress, 0});
  for (auto _ : state) {
    wire::Decoded d = wire::decode_envelope(e);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * p.size()));
}

// range(0): 0 = 200-byte object, 1 = 1,000-record array; range(1): compress.
BENCHMARK(BM_encode)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"big", "snappy"});
BENCHMARK(BM_decode)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"big", "snappy"});

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
