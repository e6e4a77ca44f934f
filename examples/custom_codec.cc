// custom_codec — storing a type without JSON: specialize multicache::Codec.
//
// Here a fixed binary layout; the same shape works for protobuf
// (SerializeAsString / ParseFromString) or msgpack.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <multicache/multicache.hpp>
#include <stdexcept>
#include <string>

struct Point {
  std::int32_t x = 0;
  std::int32_t y = 0;
};

template <>
struct multicache::Codec<Point> {
  static std::string encode(const Point& p) {
    std::string out(8, '\0');
    std::memcpy(out.data(), &p.x, 4);
    std::memcpy(out.data() + 4, &p.y, 4);
    return out;
  }
  // Throwing here makes the bytes a counted cache miss, never a crash.
  static Point decode(std::string_view bytes) {
    if (bytes.size() != 8) throw std::invalid_argument("Point: expected 8 bytes");
    Point p;
    std::memcpy(&p.x, bytes.data(), 4);
    std::memcpy(&p.y, bytes.data() + 4, 4);
    return p;
  }
  static std::size_t size_of(const Point&) { return sizeof(Point); }  // L1 accounting
};

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  multicache::Cache cache({.redis_url = argc > 1 ? argv[1] : "", .key_prefix = "example:points:"});
  const Point p = cache.get_or_load<Point>("origin", 1min, [] { return Point{3, 4}; });
  const auto again = cache.get<Point>("origin");
  std::printf("point (%d, %d), cached: %s\n", p.x, p.y, again ? "yes" : "no");
  return again && again->x == 3 && again->y == 4 ? 0 : 1;
}
