// tools/bench_options.h — multicache-bench's command line: what a run does,
// parsed strictly (a value must be a whole number or a finite real, all of
// the argument, within the option's range), and its trace files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace multicache::tool {

struct Config {
  std::string redis;  // empty: throwaway server; "none": L1-only
  std::size_t keys = 100000;
  double zipf = 0.99;
  double reads = 0.95;
  std::size_t value_size = 100;
  int threads = 2;
  double duration_s = 10;
  int loader_us = 1000;
  std::size_t l1_items = 10000;
  bool json = false;
  bool simulate = false;
  bool help = false;       // --help / -h: print usage() and exit 0
  std::string trace_file;  // empty: Zipf over keys
};

// A bad command line or trace file; what() says which option and why.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws UsageError.
Config parse(int argc, char** argv);

// The options, one per line, with their ranges and defaults.
const char* usage();

// A trace file: little-endian u64 key ids, one per request. Returns dense ids
// (0..distinct-1) in request order. Throws UsageError on a file that cannot
// be read, is empty, or is not a whole number of ids.
std::vector<std::uint32_t> load_trace(const std::string& path, std::size_t* distinct);

// url with its user information (password) replaced by "***", for messages.
std::string redacted(const std::string& url);

}  // namespace multicache::tool
