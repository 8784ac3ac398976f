// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the per-tensor checksum of model files.
// Our own small implementation (zlib only has the other CRC-32): the SSE4.2 instruction where the
// CPU has it, else a byte-wise table. Tests pin the standard check value crc32c("123456789").
#include <array>
#include <cstdint>
#include <cstring>
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

std::uint32_t crc32c_table(std::string_view bytes, std::uint32_t crc) {
  for (unsigned char b : bytes) crc = kTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE4.2 has a CRC-32C instruction: 8 bytes a cycle instead of one table lookup a byte, which
// matters for large models (a 550 MB VGG-16 file). Chosen at run time, so any x86-64 CPU works.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::string_view bytes, std::uint32_t crc) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t wide = crc;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    wide = __builtin_ia32_crc32di(wide, word);
  }
  crc = static_cast<std::uint32_t>(wide);
  for (; n > 0; ++p, --n) crc = __builtin_ia32_crc32qi(crc, static_cast<unsigned char>(*p));
  return crc;
}
#endif
}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return crc32c_sse42(bytes, 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
#endif
  return crc32c_table(bytes, 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
}

}  // namespace dagrad
