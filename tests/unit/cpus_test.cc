// util/cpus: the affinity mask, pinned and not.
#include "util/cpus.h"

#include <gtest/gtest.h>

#include "support/one_cpu.h"

namespace multicache::util {
namespace {

TEST(UsableCpus, FollowsTheAffinityMask) {
  int pinned = 0;
  int before = 0;
  {
    const test::PinnedToOneCpu pin;
    pinned = usable_cpus();
    before = pin.cpus_before();
  }
  EXPECT_EQ(pinned, 1);
  EXPECT_EQ(usable_cpus(), before);
}

}  // namespace
}  // namespace multicache::util
