// `dagrad bench --sweep` as a user runs it: the CSV has one row per (threads, batch) with the
// documented columns, the SVG is well-formed XML with one line per mode x threads (and the peer's),
// bad options are usage errors (exit 2), a bad peer CSV fails before any measuring, and every
// bench names the kernel path that ran.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace {

namespace fs = std::filesystem;
using dagrad::testing::describe;
using dagrad::testing::fresh_scratch_dir;
using dagrad::testing::run_process;
using dagrad::testing::run_tool;

const std::string kColumns =
    "framework,isa,cpu,model,batch,threads,steps,train_images_per_s,infer_images_per_s,train_step_ms,infer_step_ms,"
    "train_peak_bytes,infer_peak_bytes,train_step_cpu_ms,infer_step_cpu_ms";

// The smallest sweep that still has two thread counts and three batch sizes.
std::vector<std::string> tiny_sweep(std::vector<std::string> extra) {
  std::vector<std::string> args = {"bench", "--sweep", "--model", "resnet_tiny", "--max-batch", "4", "--sweep-threads", "1,2",
                                   "--steps", "1", "--warmup", "0", "--min-images", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

// One CSV line's fields; a CPU name may hold a comma, so quotes are honoured.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (quoted && line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
    else if (line[i] == '"') quoted = !quoted;
    else if (line[i] == ',' && !quoted) fields.emplace_back();
    else fields.back() += line[i];
  }
  return fields;
}

// Nothing but the named files: the atomic writes left no temporary behind.
void expect_only(const fs::path& dir, std::vector<std::string> names) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) found.push_back(entry.path().filename().string());
  std::sort(found.begin(), found.end());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(found, names);
}

TEST(BenchSweep, CsvHasOneRowPerThreadsAndBatchWithTheDocumentedColumns) {
  const fs::path dir = fresh_scratch_dir("bench_sweep_csv");
  auto r = run_tool(tiny_sweep({"--csv", (dir / "sweep.csv").string(), "--json"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "") << "the progress line is for terminals only";
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const std::string isa = j["isa"].get<std::string>();
  EXPECT_TRUE(isa == "baseline" || isa == "avx2" || isa == "avx512") << isa;
  ASSERT_EQ(j["points"].size(), 6u) << r.out;

  const std::vector<std::string> lines = split(read_text(dir / "sweep.csv"), '\n');
  ASSERT_EQ(lines.size(), 7u) << read_text(dir / "sweep.csv");
  EXPECT_EQ(lines[0], kColumns);
  const std::vector<std::pair<int, int>> expected = {{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}};  // threads, batch
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const std::vector<std::string> f = csv_fields(lines[i + 1]);
    ASSERT_EQ(f.size(), 15u) << lines[i + 1];
    EXPECT_EQ(f[0].rfind("dagrad ", 0), 0u) << f[0];
    EXPECT_EQ(f[1], isa);
    EXPECT_EQ(f[3], "resnet_tiny");
    EXPECT_EQ(std::stoi(f[5]), expected[i].first) << lines[i + 1];
    EXPECT_EQ(std::stoi(f[4]), expected[i].second) << lines[i + 1];
    EXPECT_EQ(f[6], "1");
    for (int column : {7, 8, 9, 10}) EXPECT_GT(std::stod(f[column]), 0) << lines[i + 1];
    for (int column : {11, 12}) EXPECT_GT(std::stoll(f[column]), 0) << lines[i + 1];
    for (int column : {13, 14}) EXPECT_GE(std::stod(f[column]), 0) << lines[i + 1];  // CPU clocks tick coarsely
    // The CSV and the JSON are the same measurement.
    EXPECT_EQ(j["points"][i]["batch"].get<int>(), expected[i].second);
    EXPECT_EQ(std::stoll(f[11]), j["points"][i]["plan_peak_bytes"].get<long long>());
  }
  // A bigger batch needs a bigger plan.
  EXPECT_LT(std::stoll(csv_fields(lines[1])[11]), std::stoll(csv_fields(lines[3])[11]));
  expect_only(dir, {"sweep.csv"});
  fs::remove_all(dir);
}

TEST(BenchSweep, MinImagesGivesSmallBatchesMoreSteps) {
  auto r = run_tool({"bench", "--sweep", "--model", "resnet_tiny", "--max-batch", "4", "--sweep-threads", "1", "--steps", "1",
                     "--warmup", "0", "--min-images", "8", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["points"].size(), 3u);
  EXPECT_EQ(j["points"][0]["steps"], 8);
  EXPECT_EQ(j["points"][1]["steps"], 4);
  EXPECT_EQ(j["points"][2]["steps"], 2);
}

TEST(BenchSweep, SvgIsWellFormedXmlWithALinePerModeThreadsAndPeer) {
  const fs::path dir = fresh_scratch_dir("bench_sweep_svg");
  // A peer's CSV as bench/torch_sweep.py writes it, columns reordered and a quoted field with a comma:
  // it is read by column name.
  std::ofstream(dir / "peer.csv") << "batch,threads,framework,isa,train_images_per_s,infer_images_per_s\n"
                                     "1,1,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",40,180\n"
                                     "4,1,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",250,1600\n"
                                     "2,1,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",130,1000\n"
                                     "1,2,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",60,200\n"
                                     "2,2,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",200,1500\n"
                                     "4,2,pytorch 1.13,\"aten AVX2, onednn 2.6.3\",400,2500\n";
  auto r = run_tool(tiny_sweep({"--svg", (dir / "sweep.svg").string(), "--peer-csv", (dir / "peer.csv").string()}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.rfind("model resnet_tiny, kernels ", 0), 0u) << r.out;
  // Python's XML parser: well-formed, and the polylines with their labels and point counts.
  const std::string script =
      "import sys, xml.etree.ElementTree as ET\n"
      "ns = '{http://www.w3.org/2000/svg}'\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "assert root.tag == ns + 'svg', root.tag\n"
      "for p in root.iter(ns + 'polyline'):\n"
      "    print(p.get('data-label'), '|', len(p.get('points').split()), '|', p.get('stroke-dasharray') or 'solid')\n"
      "print('TEXT', ' / '.join(t.text for t in root.iter(ns + 'text') if t.text))\n";
  auto py = run_process({"/usr/bin/python3", "-c", script, (dir / "sweep.svg").string()});
  ASSERT_EQ(py.exit_code, 0) << describe(py) << read_text(dir / "sweep.svg");
  const std::vector<std::string> lines = split(py.out, '\n');
  // Two panels (training, inference), each with dagrad's two lines and the peer's two.
  const std::vector<std::string> per_panel = {"dagrad, 1 thread | 3 | solid", "dagrad, 2 threads | 3 | solid",
                                              "pytorch 1.13, 1 thread | 3 | 6 4", "pytorch 1.13, 2 threads | 3 | 6 4"};
  ASSERT_EQ(lines.size(), 9u) << py.out;
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(lines[i], per_panel[i % 4]) << py.out;
  const std::string& text = lines[8];
  for (const char* label : {"training step", "inference", "batch (log2 scale)", "images/s", "resnet_tiny"})
    EXPECT_NE(text.find(label), std::string::npos) << label << "\n" << text;
  expect_only(dir, {"peer.csv", "sweep.svg"});
  fs::remove_all(dir);
}

// A saved sweep is redrawn without measuring (e.g. the best of several rounds): the same lines.
TEST(BenchSweep, FromCsvRedrawsASavedSweep) {
  const fs::path dir = fresh_scratch_dir("bench_sweep_replot");
  auto sweep = run_tool(tiny_sweep({"--csv", (dir / "sweep.csv").string()}));
  ASSERT_EQ(sweep.exit_code, 0) << describe(sweep);
  auto replot = run_tool({"bench", "--sweep", "--model", "resnet_tiny", "--from-csv", (dir / "sweep.csv").string(), "--svg",
                          (dir / "again.svg").string()});
  ASSERT_EQ(replot.exit_code, 0) << describe(replot);
  EXPECT_EQ(replot.out, "");
  const std::string svg = read_text(dir / "again.svg");
  std::size_t lines = 0;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 4u) << svg;  // training and inference, 1 and 2 threads
  EXPECT_NE(svg.find("data-label=\"dagrad, 2 threads\""), std::string::npos) << svg;
  // The file says which model it holds; drawing it as another is refused.
  auto wrong = run_tool({"bench", "--sweep", "--model", "lenet", "--from-csv", (dir / "sweep.csv").string(), "--svg",
                         (dir / "wrong.svg").string()});
  EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
  EXPECT_NE(wrong.err.find("model 'resnet_tiny', but this sweep measures 'lenet'"), std::string::npos) << describe(wrong);
  EXPECT_FALSE(fs::exists(dir / "wrong.svg"));
  fs::remove_all(dir);
}

TEST(BenchSweep, BadOptionsAreUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"bench", "--sweep", "--max-batch", "3"}, "--max-batch must be a power of two"},
      {{"bench", "--sweep", "--max-batch", "0"}, "--max-batch must be from 1 to"},
      {{"bench", "--sweep", "--sweep-threads", "1,x"}, "--sweep-threads must be a comma-separated list of thread counts from 1 to 1024, got '1,x'"},
      {{"bench", "--sweep", "--sweep-threads", "0"}, "--sweep-threads must be a comma-separated list"},
      {{"bench", "--sweep", "--sweep-threads", "1,"}, "--sweep-threads must be a comma-separated list"},
      {{"bench", "--sweep", "--sweep-threads", "2,2"}, "--sweep-threads lists 2 twice"},
      {{"bench", "--sweep", "--min-images=-1"}, "--min-images must be from 0 to"},
      {{"bench", "--sweep", "--batch", "8"}, "--batch is for a single run"},
      {{"bench", "--sweep", "--threads", "2"}, "--threads is for a single run"},
      {{"bench", "--csv", "x.csv"}, "--csv needs --sweep"},
      {{"bench", "--max-batch", "8"}, "--max-batch needs --sweep"},
      {{"bench", "--sweep", "--model", "nope"}, "unknown --model 'nope'"},
      {{"bench", "--sweep", "--from-csv", "x.csv"}, "--from-csv needs --svg"},
      {{"bench", "--sweep", "--from-csv", "x.csv", "--svg", "x.svg", "--max-batch", "8"}, "--max-batch measures; --from-csv only draws"},
      {{"bench", "--from-csv", "x.csv"}, "--from-csv needs --sweep"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_tool(args);
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_NE(r.err.find(message), std::string::npos) << "wanted: " << message << "\n" << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
  }
}

TEST(BenchSweep, BadPeerCsvFailsBeforeMeasuring) {
  const fs::path dir = fresh_scratch_dir("bench_sweep_peer");
  std::ofstream(dir / "no_batch.csv") << "framework,threads,train_images_per_s,infer_images_per_s\npytorch,1,10,20\n";
  std::ofstream(dir / "bad_rate.csv") << "framework,batch,threads,train_images_per_s,infer_images_per_s\npytorch,1,1,fast,20\n";
  std::ofstream(dir / "short_row.csv") << "framework,batch,threads,train_images_per_s,infer_images_per_s\npytorch,1,1,10\n";
  std::ofstream(dir / "other_model.csv") << "framework,model,batch,threads,train_images_per_s,infer_images_per_s\npytorch,resnet18,1,1,10,20\n";
  std::ofstream(dir / "header_only.csv") << "framework,batch,threads,train_images_per_s,infer_images_per_s\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no_batch.csv", "no_batch.csv: no column 'batch'"},
      {"bad_rate.csv", "bad_rate.csv line 2: train_images_per_s must be a non-negative number, got 'fast'"},
      {"short_row.csv", "short_row.csv line 2: 4 fields where the header has 5"},
      {"header_only.csv", "header_only.csv: no data rows"},
      {"other_model.csv", "other_model.csv line 2: model 'resnet18', but this sweep measures 'resnet_ref'"},
      {"missing.csv", "missing.csv: cannot open"},
  };
  for (const auto& [file, message] : cases) {
    // resnet_ref up to batch 256 would take minutes: failing fast proves the file is read first.
    auto r = run_tool({"bench", "--sweep", "--model", "resnet_ref", "--peer-csv", (dir / file).string(), "--csv",
                       (dir / "out.csv").string()});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find(message), std::string::npos) << "wanted: " << message << "\n" << describe(r);
    EXPECT_FALSE(fs::exists(dir / "out.csv"));
  }
  fs::remove_all(dir);
}

// Every bench says which kernel path ran (the forced one, not just the detected one) and on which CPU.
TEST(BenchSweep, BenchNamesTheKernelPathAndCpu) {
  const dagrad::testing::ProcessOptions baseline{.env = {{"DAGRAD_ISA", "baseline"}}};
  auto json = run_tool({"bench", "--model", "lenet", "--batch", "2", "--steps", "1", "--warmup", "0", "--json"}, baseline);
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["isa"], "baseline");
  EXPECT_FALSE(j["cpu"].get<std::string>().empty());

  auto text = run_tool({"bench", "--model", "lenet", "--batch", "2", "--steps", "1", "--warmup", "0"}, baseline);
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_NE(text.out.find("kernels baseline, CPU "), std::string::npos) << text.out;

  const fs::path dir = fresh_scratch_dir("bench_sweep_isa");
  auto sweep = run_tool({"bench", "--sweep", "--model", "lenet", "--max-batch", "1", "--sweep-threads", "1", "--steps", "1",
                         "--warmup", "0", "--csv", (dir / "s.csv").string()},
                        baseline);
  ASSERT_EQ(sweep.exit_code, 0) << describe(sweep);
  EXPECT_NE(sweep.out.find("kernels baseline, CPU "), std::string::npos) << sweep.out;
  EXPECT_EQ(csv_fields(split(read_text(dir / "s.csv"), '\n').at(1)).at(1), "baseline");
  fs::remove_all(dir);
}

}  // namespace
