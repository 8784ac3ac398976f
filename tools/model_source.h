#pragma once
// The model a subcommand works on: a file (positional FILE: .dagrad, .dagrad.txt or .onnx) or a zoo
// model (--model NAME).
#include <string>

#include "graph/model.h"
#include "tools/cli.h"

namespace dagrad::cli {

// Adds --model, --batch and --seed.
void add_model_source_options(po::options_description& options, std::int64_t default_batch);
// Adds FILE as the first positional argument.
void add_model_file_positional(po::options_description& options, po::positional_options_description& positional);
// Loads the FILE or builds the --model (exactly one must be given); --batch re-shapes the inputs
// of a dagrad file and fixes the symbolic batch dim of an .onnx file (1 unless given). With
// needs_loss, a model without a loss (an imported classifier) gets models::attach_classifier_loss.
Model load_model_source(const po::variables_map& vm, bool training = true, bool needs_loss = false);
// Imports an .onnx file at `batch` (for its symbolic first dims) in training or inference form;
// the graph can be re-batched afterwards (Graph::reshape_inputs, as the trainer and evaluate do).
Model import_onnx_file(const std::string& path, bool training, std::int64_t batch);
// Loads any model file: dagrad's own formats, or an .onnx file imported at `batch` (for its
// symbolic first dims) in training or inference form. A dagrad file keeps its batch.
Model load_model_file(const std::string& path, bool training, std::int64_t onnx_batch);
// "resnet_ref" or the file's path, for messages.
std::string model_source_label(const po::variables_map& vm);

}  // namespace dagrad::cli
