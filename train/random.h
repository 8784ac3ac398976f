#pragma once
// The trainer's random generator: splitmix64, whose whole state is one integer, so a checkpoint
// stores it exactly and every platform draws the same sequence (std:: distributions do not).
#include <cstdint>
#include <vector>

namespace dagrad::train {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t state = 0) : state_(state) {}
  std::uint64_t state() const { return state_; }

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) without modulo bias: draws below the largest multiple of bound are kept.
  std::uint64_t below(std::uint64_t bound) {
    if (bound <= 1) return 0;
    const std::uint64_t reject_below = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      std::uint64_t r = next();
      if (r >= reject_below) return r % bound;
    }
  }

 private:
  std::uint64_t state_;
};

// The generator state a run starts from for a given seed (decorrelates nearby seeds).
inline std::uint64_t initial_rng_state(std::uint64_t seed) { return SplitMix64(seed ^ 0x5deece66dULL).next(); }

// A uniformly random permutation of 0..n-1 (Fisher-Yates), advancing the generator.
inline std::vector<std::int64_t> random_permutation(std::int64_t n, SplitMix64& rng) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n > 0 ? n : 0));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(i) + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace dagrad::train
