#pragma once
// Model files: save and load a Model (graph, parameters, state, training state, metadata).
//
//   save(model, "resnet.dagrad")       binary protobuf (proto/dagrad.proto)
//   save(model, "resnet.dagrad.txt")   protobuf text format: the same message, readable and diffable
//
// Loading validates the whole file before building anything; every problem throws dagrad::Error
// naming the file, the node (name and index) or value, and the field. Saving is atomic: a
// temporary file in the target folder is written, flushed, fsynced and renamed over the target,
// so a failed or killed save leaves the old file intact.
#include <cstdint>
#include <string>
#include <string_view>

#include "graph/model.h"

namespace dagrad {

// Version of the file format this build writes and the newest it reads.
inline constexpr std::uint32_t kFormatVersion = 1;

enum class FileFormat { by_extension, binary, text };

struct SaveOptions {
  FileFormat format = FileFormat::by_extension;  // ".dagrad.txt" is text, anything else binary
};

struct LoadOptions {
  std::int64_t max_bytes = std::int64_t{1} << 30;  // files larger than this are refused unread
  FileFormat format = FileFormat::by_extension;
};

void save(const Model& model, const std::string& path, const SaveOptions& options = {});
Model load(const std::string& path, const LoadOptions& options = {});

// In-memory binary form, for embedding a model in another file or sending it.
std::string serialize(const Model& model);
Model parse(std::string_view bytes, const std::string& source_name = "<memory>");

// Text format in memory.
std::string serialize_text(const Model& model);
Model parse_text(std::string_view text, const std::string& source_name = "<memory>");

// Writes bytes to path atomically (temporary file in the same folder, fsync, rename, fsync of the
// folder). Exposed for other writers of files that must never be half-written.
void write_file_atomically(const std::string& path, std::string_view bytes);

// CRC-32C (Castagnoli), as stored per tensor.
std::uint32_t crc32c(std::string_view bytes);

// A one-line description: "graph: 12 values, 5 nodes, 3 parameters (1234 elements), ..."
std::string summarize(const Model& model);

}  // namespace dagrad
