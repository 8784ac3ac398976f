// Ops describe themselves: only ops/ (and the tests and benchmarks, which exercise ops by name)
// may name an op in a string. The runtime, the analyses, the file format, the models, the trainer
// and the tools ask the op's definition instead, so a new op needs no edits outside its own file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "graph/op.h"

TEST(OpNames, NoOpNameInAStringOutsideOps) {
  namespace fs = std::filesystem;
  const fs::path root = DAGRAD_SOURCE_DIR;
  std::vector<std::string> quoted;
  for (const dagrad::OpDef* def : dagrad::op_registry().all()) quoted.push_back('"' + def->name + '"');
  ASSERT_GT(quoted.size(), 20u);
  std::string found;
  int files = 0;
  for (const char* layer : {"graph", "autodiff", "runtime", "proto", "models", "train", "tools"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / layer)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      ++files;
      std::ifstream in(entry.path());
      std::string line;
      for (int number = 1; std::getline(in, line); ++number)
        for (const std::string& name : quoted)
          // A word that is also an op's name but means something else says so on its line.
          if (line.find("not the op") == std::string::npos)
          if (line.find(name) != std::string::npos)
            found += fs::relative(entry.path(), root).string() + ":" + std::to_string(number) + ": " + name + "\n";
    }
  }
  EXPECT_GT(files, 30);
  EXPECT_TRUE(found.empty()) << "op names in strings outside ops/ (ask the OpDef's traits instead):\n" << found;
}
