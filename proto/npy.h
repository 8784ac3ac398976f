#pragma once
// NumPy .npy files (format version 1.0), so dumped tensors open with numpy.load.
#include <string>

#include "graph/tensor.h"

namespace dagrad {

std::string to_npy(const Tensor& tensor);                     // the file's bytes
void save_npy(const Tensor& tensor, const std::string& path);  // written atomically

}  // namespace dagrad
