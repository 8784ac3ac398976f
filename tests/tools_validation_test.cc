// Library pieces behind "tools that never lie": the memory check, the scan for non-finite
// numbers, and FLOP counts that do not overflow at large batches.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include "autodiff/grad.h"
#include "graph/analysis.h"
#include "graph/tensor.h"
#include "models/zoo.h"
#include "runtime/memory.h"

namespace dagrad {
namespace {

std::int64_t mem_total_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long long kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemTotal:") return static_cast<std::int64_t>(kb) * 1024;
  return 0;
}

TEST(MemoryCheck, AvailableMemoryIsPositiveAndBelowTotal) {
  runtime::MemoryAvailable m = runtime::available_memory();
  EXPECT_GT(m.bytes, 0) << m.source;
  const std::int64_t total = mem_total_bytes();
  ASSERT_GT(total, 0);
  EXPECT_LE(m.bytes, total) << m.source;
  EXPECT_FALSE(m.source.empty());
}

TEST(MemoryCheck, SmallNeedsPass) { EXPECT_NO_THROW(runtime::check_memory_fits(1 << 20, "a test")); }

TEST(MemoryCheck, OneExbibyteFailsWithBothNumbers) {
  const std::int64_t eib = std::int64_t{1} << 60;
  runtime::MemoryAvailable m = runtime::available_memory();
  try {
    runtime::check_memory_fits(eib, "the test run");
    FAIL() << "1 EiB fitted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the test run needs 1.0 EiB (1152921504606846976 bytes) but "), std::string::npos) << msg;
    EXPECT_NE(msg.find("are available ("), std::string::npos) << msg;
    EXPECT_NE(msg.find("pass --ignore-memory-check to run anyway"), std::string::npos) << msg;
    // The available bytes in the message are those available_memory() reports (give or take
    // what other processes did in between): check that a number of bytes is there.
    EXPECT_NE(msg.find(" bytes) are available"), std::string::npos) << msg;
    EXPECT_NE(msg.find(m.source), std::string::npos) << msg;
  }
}

TEST(MemoryCheck, HumanBytes) {
  EXPECT_EQ(runtime::human_bytes(512), "512 bytes");
  EXPECT_EQ(runtime::human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(runtime::human_bytes(std::int64_t{13207024435}), "12.3 GiB");
}

TEST(NonFinite, NamesTensorIndexAndValue) {
  TensorMap m;
  m.emplace("a.weight", Tensor::from<float>({2, 2}, {1, 2, 3, 4}));
  m.emplace("b.running_var", Tensor::from<float>({4}, {1, 1, 1, std::numeric_limits<float>::infinity()}));
  m.emplace("c.bias", Tensor::from<double>({2}, {std::nan(""), 0}));
  m.emplace("labels", Tensor::from<std::int64_t>({2}, {1, 2}));
  EXPECT_EQ(first_non_finite(m), std::optional<std::string>("b.running_var[3] = inf"));
  EXPECT_EQ(first_non_finite("x", m.at("c.bias")), std::optional<std::string>("x[0] = nan"));
  EXPECT_EQ(first_non_finite("y", Tensor::from<double>({3}, {0, -std::numeric_limits<double>::infinity(), 1})),
            std::optional<std::string>("y[1] = -inf"));
  EXPECT_EQ(first_non_finite("a", m.at("a.weight")), std::nullopt);
  EXPECT_EQ(first_non_finite("labels", m.at("labels")), std::nullopt);
  EXPECT_EQ(first_non_finite(TensorMap{}), std::nullopt);
}

TEST(FlopCount, TotalsPastInt64AtLargeBatchAreCorrect) {
  // VGG-16's training step at batch 10^8 is about 10^19 FLOPs: more than int64 holds, while each
  // node's count still fits. Every count is linear in the batch, so the total must scale exactly.
  Graph small = autodiff::grad_parameters(models::build_model("vgg16", {.batch = 1})).graph;
  Graph large = autodiff::grad_parameters(models::build_model("vgg16", {.batch = 100000000})).graph;
  const double per_image = graph_flops(small);
  const double total = graph_flops(large);
  EXPECT_GT(total, static_cast<double>(std::numeric_limits<std::int64_t>::max()));
  EXPECT_NEAR(total / per_image, 1e8, 1e8 * 1e-6);
  for (const Node& node : large.nodes()) EXPECT_GE(node_flops(large, node), 0) << node.name;
}

TEST(FlopCount, OverflowingNodeNamesIt) {
  // At batch 10^11 the first convolution alone has 2 * 3.2e17 outputs * 27 taps, about 1.7e19 FLOPs.
  Graph g = models::build_model("vgg16", {.batch = 100000000000});
  bool threw = false;
  for (const Node& node : g.nodes()) {
    try {
      node_flops(g, node);
    } catch (const Error& e) {
      threw = true;
      const std::string msg = e.what();
      EXPECT_NE(msg.find("the FLOP count of node '" + node.name + "' (" + node.op + ") overflows int64"), std::string::npos) << msg;
      break;
    }
  }
  EXPECT_TRUE(threw);
}

}  // namespace
}  // namespace dagrad
