#pragma once
// Early checks of a command's output path, so a long job fails before it starts, not after.
#include <string>

namespace dagrad::cli {

// Throws dagrad::Error naming `what` and `path` unless a file can be created at `path`: its folder
// exists, is a folder and is writable (tried by creating and unlinking a temporary file there, so
// it also holds for root and read-only mounts), and `path` itself is not a folder.
void check_output_writable(const std::string& path, const std::string& what);

}  // namespace dagrad::cli
