#include "bench_options.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace multicache::tool {
namespace {

// All of text as a T: digits only for integers (no sign for unsigned ones, no
// spaces, nothing after), a finite number for doubles. nullopt otherwise.
template <class T>
std::optional<T> number(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) return std::nullopt;
  }
  return value;
}

// The value of option `name`, which must lie in [lo, hi].
template <class T>
T in_range(const std::string& name, const std::string& text, T lo, T hi) {
  const std::optional<T> v = number<T>(text);
  if (!v || *v < lo || *v > hi) {
    char range[96];
    if constexpr (std::is_floating_point_v<T>) {
      std::snprintf(range, sizeof range, "a number from %.15g to %.15g", lo, hi);
    } else {
      std::snprintf(range, sizeof range, "a whole number from %lld to %lld",
                    static_cast<long long>(lo), static_cast<long long>(hi));
    }
    throw UsageError(name + ": \"" + text + "\" is not " + range);
  }
  return *v;
}

}  // namespace

const char* usage() {
  return "usage: multicache-bench [options]\n"
         "  --redis URL|none    Redis to use (default: a throwaway redis-server; none: L1 only)\n"
         "  --keys N            distinct keys, 1..100000000 (default 100000)\n"
         "  --zipf S            Zipf exponent of key popularity, 0..10 (default 0.99)\n"
         "  --trace FILE        take the keys from a trace (little-endian u64 ids) instead\n"
         "  --reads R           fraction of get_or_load, the rest set, 0..1 (default 0.95)\n"
         "  --value-size B      value bytes, 0..536870912 (default 100)\n"
         "  --threads T         1..4096 (default 2)\n"
         "  --duration SEC      0.001..31536000 (default 10)\n"
         "  --loader-us U       loader's sleep, 0..60000000 (default 1000)\n"
         "  --l1-items N        Options::l1_max_items, 1..1000000000 (default 10000)\n"
         "  --json              print the result as one JSON object\n"
         "  --simulate          replay the keys against each L1 policy (no Redis)\n"
         "  --help              this text\n";
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError("missing value after " + a);
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      c.help = true;
    } else if (a == "--redis") {
      c.redis = next();
    } else if (a == "--keys") {
      c.keys = in_range<std::size_t>(a, next(), 1, 100'000'000);
    } else if (a == "--zipf") {
      c.zipf = in_range(a, next(), 0.0, 10.0);
    } else if (a == "--reads") {
      c.reads = in_range(a, next(), 0.0, 1.0);
    } else if (a == "--value-size") {
      c.value_size = in_range<std::size_t>(a, next(), 0, std::size_t{512} << 20);
    } else if (a == "--threads") {
      c.threads = in_range(a, next(), 1, 4096);
    } else if (a == "--duration") {
      c.duration_s = in_range(a, next(), 0.001, 365.0 * 86400);
    } else if (a == "--loader-us") {
      c.loader_us = in_range(a, next(), 0, 60'000'000);
    } else if (a == "--l1-items") {
      c.l1_items = in_range<std::size_t>(a, next(), 1, 1'000'000'000);
    } else if (a == "--json") {
      c.json = true;
    } else if (a == "--simulate") {
      c.simulate = true;
    } else if (a == "--trace") {
      c.trace_file = next();
    } else {
      throw UsageError("unknown option " + a);
    }
  }
  return c;
}

std::vector<std::uint32_t> load_trace(const std::string& path, std::size_t* distinct) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                          &std::fclose);
  if (!f) throw UsageError("cannot open trace " + path + ": " + std::strerror(errno));
  std::vector<std::uint32_t> ids;
  std::unordered_map<std::uint64_t, std::uint32_t> dense;
  unsigned char b[8];
  std::size_t got = 0;
  while ((got = std::fread(b, 1, 8, f.get())) == 8) {
    std::uint64_t key = 0;
    for (int i = 7; i >= 0; --i) key = (key << 8) | b[i];
    const auto [it, fresh] = dense.emplace(key, static_cast<std::uint32_t>(dense.size()));
    ids.push_back(it->second);
  }
  if (std::ferror(f.get())) {
    throw UsageError("cannot read trace " + path + ": " + std::strerror(errno));
  }
  if (got != 0) throw UsageError("trace " + path + ": size is not a multiple of 8 bytes");
  if (ids.empty()) throw UsageError("trace " + path + " is empty");
  *distinct = dense.size();
  return ids;
}

std::string redacted(const std::string& url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const std::size_t start = scheme + 3;
  const std::size_t end = url.find_first_of("/?#", start);  // where the host part ends
  const std::size_t at = url.rfind('@', end == std::string::npos ? end : end - 1);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + "***" + url.substr(at);
}

}  // namespace multicache::tool
