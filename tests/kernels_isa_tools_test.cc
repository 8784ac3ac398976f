// The command-line side of the instruction-set paths: `dagrad summary` names the path the kernels
// take, DAGRAD_ISA forces it, and a bad DAGRAD_ISA is a one-line error naming the valid paths.
#include <string>

#include <gtest/gtest.h>

#include "ops/kernels/cpu_isa.h"
#include "tests/process.h"

namespace dagrad::kernels {
namespace {

using dagrad::testing::describe;
using dagrad::testing::ProcessOptions;
using dagrad::testing::ProcessResult;
using dagrad::testing::run_tool;

TEST(KernelsIsaTools, SummaryNamesTheDetectedPath) {
  ProcessOptions options;
  options.env["DAGRAD_ISA"] = "";
  const ProcessResult r = run_tool({"summary", "--model", "resnet_tiny"}, options);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(std::string("isa: ") + isa_name(detected_isa()) + " "), std::string::npos) << describe(r);
}

TEST(KernelsIsaTools, DagradIsaForcesEverySupportedPath) {
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) continue;
    ProcessOptions options;
    options.env["DAGRAD_ISA"] = isa_name(isa);
    const ProcessResult r = run_tool({"summary", "--model", "resnet_tiny"}, options);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find(std::string("isa: ") + isa_name(isa) + " "), std::string::npos) << describe(r);
  }
}

TEST(KernelsIsaTools, UnknownDagradIsaIsAClearError) {
  ProcessOptions options;
  options.env["DAGRAD_ISA"] = "avx1024";
  const ProcessResult r = run_tool({"summary", "--model", "resnet_tiny"}, options);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("avx1024"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("baseline, avx2 or avx512"), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace dagrad::kernels
