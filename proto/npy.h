#pragma once
// NumPy .npy files (format versions 1.0 to 3.0), so dumped tensors open with numpy.load and
// arrays saved with numpy.save feed `dagrad run`.
#include <string>
#include <string_view>

#include "graph/tensor.h"

namespace dagrad {

std::string to_npy(const Tensor& tensor);                     // the file's bytes (version 1.0)
void save_npy(const Tensor& tensor, const std::string& path);  // written atomically

// Reads an .npy file of dtype '<f4', '<f8' or '<i8' (float32, float64, int64) in C order. Every
// field is checked: the magic, the version, the header dictionary (exactly 'descr',
// 'fortran_order' and 'shape'), the dtype, the shape, and that the data holds exactly the bytes
// the header declares. Throws dagrad::Error naming the file and the field.
Tensor load_npy(const std::string& path);
// The same from bytes in memory; `source` names them in errors.
Tensor parse_npy(std::string_view bytes, const std::string& source);

}  // namespace dagrad
