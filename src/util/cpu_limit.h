// util/cpu_limit.h — how many CPUs this process can run on at once: the CPUs
// its affinity mask allows (taskset, a cpuset), capped by a cgroup CPU limit
// (a quota per period, the tightest on the process's cgroup path: how
// Kubernetes and `docker --cpus` limit a container), read from cgroup v2
// (cpu.max) and v1 (cpu.cfs_quota_us / cpu.cfs_period_us).
//
// Thread-safety: every function is safe from any thread; usable_cpus() reads
// /proc and /sys on each call (call it once, at construction).
#pragma once

#include <string>
#include <string_view>

namespace multicache::util {

// The cgroup path in a /proc/self/cgroup text: with controller empty, the
// cgroup v2 one ("0::<path>"); else the v1 hierarchy that lists it
// ("4:cpu,cpuacct:<path>" for "cpu"). Empty when there is none.
std::string cgroup_path(std::string_view proc_self_cgroup, std::string_view controller);

enum class cgroup_version { v1, v2 };

// The tightest CPU quota / period of `path` and its ancestors below the
// cgroup mount `root` (directories that are not there are skipped, as when a
// container sees its own cgroup as the root); +infinity when none sets a
// quota, or none can be read.
double cgroup_cpu_limit(const std::string& root, std::string_view path, cgroup_version v);

// min(CPUs in the calling thread's affinity mask, the cgroup limits).
double usable_cpus();

}  // namespace multicache::util
