#include "util/cpu_limit.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

namespace multicache::util {

namespace {

constexpr double k_unlimited = std::numeric_limits<double>::infinity();

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A quota and a period in µs; a quota of "max" (v2) or -1 (v1): none.
double ratio(std::string_view quota, std::string_view period) {
  long long q = 0;
  long long p = 0;
  const auto parse = [](std::string_view text, long long* out) {
    return std::from_chars(text.data(), text.data() + text.size(), *out).ec == std::errc();
  };
  if (!parse(quota, &q) || !parse(period, &p) || q <= 0 || p <= 0) return k_unlimited;
  return static_cast<double>(q) / static_cast<double>(p);
}

// Whether a comma-separated list ("cpu,cpuacct") holds name.
bool lists(std::string_view list, std::string_view name) {
  for (;;) {
    const std::size_t comma = list.find(',');
    if (list.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

double limit_in(const std::string& dir, cgroup_version v) {
  if (v == cgroup_version::v1) {
    return ratio(read_file(dir + "/cpu.cfs_quota_us"), read_file(dir + "/cpu.cfs_period_us"));
  }
  std::istringstream in(read_file(dir + "/cpu.max"));  // "<quota> <period>"
  std::string quota, period;
  in >> quota >> period;
  return ratio(quota, period);
}

}  // namespace

std::string cgroup_path(std::string_view text, std::string_view controller) {
  // Lines of "<hierarchy id>:<controllers>:<path>"; v2's is "0::<path>".
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    const std::size_t a = line.find(':');
    const std::size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b != std::string_view::npos) {
      const std::string_view list = line.substr(a + 1, b - a - 1);
      const bool match =
          controller.empty() ? line.substr(0, a) == "0" && list.empty() : lists(list, controller);
      if (match) return std::string(line.substr(b + 1));
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return {};
}

double cgroup_cpu_limit(const std::string& root, std::string_view path, cgroup_version v) {
  double limit = k_unlimited;
  std::string dir(path);
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  for (;;) {
    limit = std::min(limit, limit_in(root + dir, v));
    if (dir.empty()) break;
    const std::size_t slash = dir.rfind('/');
    dir.resize(slash == std::string::npos ? 0 : slash);
  }
  return limit;
}

double usable_cpus() {
  double cpus = k_unlimited;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  const std::string self = read_file("/proc/self/cgroup");
  const std::string v2 = cgroup_path(self, "");
  if (!v2.empty()) {
    cpus = std::min(cpus, cgroup_cpu_limit("/sys/fs/cgroup", v2, cgroup_version::v2));
  }
  const std::string v1 = cgroup_path(self, "cpu");
  if (!v1.empty()) {
    cpus = std::min(cpus, cgroup_cpu_limit("/sys/fs/cgroup/cpu", v1, cgroup_version::v1));
  }
  return cpus;
}

}  // namespace multicache::util
