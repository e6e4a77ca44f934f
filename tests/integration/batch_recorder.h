// Batch-call test helpers: the key list and result map types of a
// std::string batch, and BatchRecorder, a batch loader that records each
// call's keys (sorted) and answers every key it is asked for, but those in
// `skip`, with value(key, n) for its n-th call (by default "v<n>").
#pragma once

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace multicache::test {

using Keys = std::vector<std::string>;
using Values = std::unordered_map<std::string, std::string>;

class BatchRecorder {
 public:
  using ValueOf = std::function<std::string(const std::string& key, std::size_t call)>;

  explicit BatchRecorder(ValueOf value =
                             [](const std::string&, std::size_t call) {
                               return "v" + std::to_string(call);
                             })
      : value_(std::move(value)) {}

  Values load(const Keys& keys, const Keys& skip = {}) {
    std::lock_guard lock(mu_);
    Keys sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    calls_.push_back(sorted);
    Values out;
    for (const auto& k : keys) {
      if (std::find(skip.begin(), skip.end(), k) == skip.end()) out[k] = value_(k, calls_.size());
    }
    return out;
  }
  std::vector<Keys> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  ValueOf value_;
  std::mutex mu_;
  std::vector<Keys> calls_;
};

}  // namespace multicache::test
