#pragma once
// Counter-based random numbers: a value depends only on (seed, stream, index), never on which
// thread draws it or in what order, so random ops are reproducible for any thread count.
#include <cstdint>

namespace dagrad::kernels {

// The splitmix64 finalizer: a bijective mix with good avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits, for element `index` of stream (seed, stream).
inline double counter_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  std::uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL);
  key = mix64(key ^ (stream + 0x632be59bd9b4e019ULL));
  std::uint64_t bits = mix64(key ^ mix64(index + 0xd1b54a32d192ed03ULL));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace dagrad::kernels
