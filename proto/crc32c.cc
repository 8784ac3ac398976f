// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, one byte at a time: the
// per-tensor checksum of model files. Small and dependency-free; speed is far from the bottleneck
// (a 100 MB model checks in well under a second).
#include <array>
#include <cstdint>
#include <string_view>

#include "proto/model_file.h"

namespace dagrad {
namespace {
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kTable = make_table();
}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) crc = kTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

}  // namespace dagrad
