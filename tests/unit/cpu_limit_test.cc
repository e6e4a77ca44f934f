// util/cpu_limit: cgroup files in a temporary tree, and the affinity mask.
#include "util/cpu_limit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/one_cpu.h"

namespace multicache::util {
namespace {

namespace fs = std::filesystem;

TEST(CgroupPath, FindsTheV2LineAndTheV1HierarchyListingAController) {
  const std::string self =
      "12:memory:/mem/a\n4:cpu,cpuacct:/kubepods/pod1/c1\n1:name=systemd:/sd\n0::/v2/x/y\n";
  EXPECT_EQ(cgroup_path(self, ""), "/v2/x/y");
  EXPECT_EQ(cgroup_path(self, "cpu"), "/kubepods/pod1/c1");
  EXPECT_EQ(cgroup_path(self, "cpuacct"), "/kubepods/pod1/c1");
  EXPECT_EQ(cgroup_path(self, "cpuset"), "");  // no such hierarchy: not "cpu,cpuacct"
  EXPECT_EQ(cgroup_path("0::/\n", ""), "/");
  EXPECT_EQ(cgroup_path("3:cpu:/a", ""), "");  // v1 only
  EXPECT_EQ(cgroup_path("", "cpu"), "");
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cpu_limit_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "a" / "b");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& rel, const std::string& text) { std::ofstream(root_ / rel) << text; }
  std::string root() const { return root_.string(); }
  fs::path root_;
};

TEST_F(CgroupTree, V2TakesTheTightestQuotaOnThePath) {
  EXPECT_TRUE(std::isinf(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v2)));  // no files
  write("a/b/cpu.max", "max 100000\n");
  EXPECT_TRUE(std::isinf(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v2)));
  write("a/cpu.max", "150000 100000\n");
  EXPECT_DOUBLE_EQ(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v2), 1.5);
  write("a/b/cpu.max", "50000 100000\n");
  EXPECT_DOUBLE_EQ(cgroup_cpu_limit(root(), "/a/b/", cgroup_version::v2), 0.5);
  write("cpu.max", "20000 100000\n");  // the root itself
  EXPECT_DOUBLE_EQ(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v2), 0.2);
  // A path the mount does not have (a container's view): the root still counts.
  EXPECT_DOUBLE_EQ(cgroup_cpu_limit(root(), "/elsewhere/c", cgroup_version::v2), 0.2);
}

TEST_F(CgroupTree, V1ReadsQuotaAndPeriodAndMinusOneIsNoLimit) {
  write("a/cpu.cfs_quota_us", "-1\n");
  write("a/cpu.cfs_period_us", "100000\n");
  EXPECT_TRUE(std::isinf(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v1)));
  write("a/b/cpu.cfs_quota_us", "300000\n");
  write("a/b/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v1), 3.0);
}

TEST_F(CgroupTree, GarbageIsNoLimit) {
  write("a/cpu.max", "lots 100000\n");
  write("a/b/cpu.max", "100000 0\n");
  EXPECT_TRUE(std::isinf(cgroup_cpu_limit(root(), "/a/b", cgroup_version::v2)));
}

TEST(UsableCpus, FollowsTheAffinityMask) {
  double pinned = -1;
  int before = 0;
  {
    const test::PinnedToOneCpu pin;
    pinned = usable_cpus();
    before = pin.cpus_before();
  }
  EXPECT_LE(pinned, 1.0);
  EXPECT_GT(pinned, 0.0);
  EXPECT_LE(usable_cpus(), static_cast<double>(before));
}

}  // namespace
}  // namespace multicache::util
