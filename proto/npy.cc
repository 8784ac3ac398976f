#include "proto/npy.h"

#include <bit>

#include "proto/model_file.h"

namespace dagrad {

std::string to_npy(const Tensor& tensor) {
  static_assert(std::endian::native == std::endian::little, "npy writer assumes a little-endian host");
  const char* descr = tensor.dtype() == DType::f32 ? "<f4" : tensor.dtype() == DType::f64 ? "<f8" : "<i8";
  std::string shape = "(";
  for (std::int64_t d : tensor.shape()) shape += std::to_string(d) + ",";
  if (tensor.rank() > 1) shape.pop_back();  // (3,) for rank 1, (2,3) otherwise, () for scalars
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic(6) + version(2) + header length(2) + header, padded with spaces to a multiple of 64, ending in '\n'.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return bytes;
}

void save_npy(const Tensor& tensor, const std::string& path) { write_file_atomically(path, to_npy(tensor)); }

}  // namespace dagrad
