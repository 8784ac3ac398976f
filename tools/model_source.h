#pragma once
// The model a subcommand works on: a file (positional FILE) or a zoo model (--model NAME).
#include <string>

#include "graph/model.h"
#include "tools/cli.h"

namespace dagrad::cli {

// Adds --model, --batch and --seed.
void add_model_source_options(po::options_description& options, std::int64_t default_batch);
// Adds FILE as the first positional argument.
void add_model_file_positional(po::options_description& options, po::positional_options_description& positional);
// Loads the FILE or builds the --model (exactly one must be given); --batch re-shapes the inputs.
Model load_model_source(const po::variables_map& vm, bool training = true);
// "resnet_ref" or the file's path, for messages.
std::string model_source_label(const po::variables_map& vm);

}  // namespace dagrad::cli
