// multicache/multicache.hpp — the umbrella header: include this one.
//
// MultiCache is a two-level cache for C++ services: an in-process L1 in front
// of Redis (L2), with single-flight loading, background refresh, Pub/Sub
// invalidation across instances, a circuit breaker and Snappy compression in
// a wire format shared with the Go library of the same name.
#pragma once

#include "multicache/cache.hpp"
#include "multicache/clock.hpp"
#include "multicache/codec.hpp"
#include "multicache/errors.hpp"
#include "multicache/options.hpp"
#include "multicache/stats.hpp"
#include "multicache/version.hpp"
