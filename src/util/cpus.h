// util/cpus.h — how many CPUs this process's threads can run on at
// once: the CPUs in the calling thread's affinity mask (taskset, a cpuset,
// `docker --cpuset-cpus`; threads inherit it). A CPU quota (`docker --cpus`,
// a Kubernetes CPU limit) does not count: it bounds CPU time, not how many
// threads run side by side (docs/performance.md: what spinning does under
// each).
//
// Thread-safety: safe from any thread; reads the calling thread's mask on
// each call (call it once, at construction).
#pragma once

namespace multicache::util {

// CPUs in the calling thread's affinity mask (at least 1).
int usable_cpus();

}  // namespace multicache::util
