// dagrad bench: images/s of the trainer's training step (forward, backward, divergence checks, SGD
// with momentum) and of inference on a random batch, the peak resident memory and the plans' peak bytes.
// --sweep: the same for batch 1, 2, 4, ..., --max-batch and each of --sweep-threads, as a table, CSV
// and an SVG plot (optionally beside a peer's CSV, e.g. bench/torch_sweep.py's).
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "autodiff/gradcheck.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "ops/kernels/cpu_isa.h"
#include "proto/model_file.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "tools/svg_plot.h"
#include "train/trainer.h"

namespace dagrad::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The trainer asks its dataset only for the sample shape, size and classes here: the bench hands
// each step its random batch itself, and the normalization is stored in the model beforehand.
class BatchShape : public train::Dataset {
 public:
  BatchShape(std::int64_t size, Shape sample, std::int64_t classes) : size_(size), sample_(std::move(sample)), classes_(classes) {}
  std::int64_t size() const override { return size_; }
  Shape sample_shape() const override { return sample_; }
  std::int64_t classes() const override { return classes_; }
  std::int64_t get(std::int64_t, std::span<float>) const override { fail("bench: the batch is random; there are no samples to read"); }

 private:
  std::int64_t size_;
  Shape sample_;
  std::int64_t classes_;
};

// CPU seconds of the process (all threads): on a shared machine, the work a run really did.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

// The first "model name" of /proc/cpuinfo ("Intel(R) Xeon(R) Processor"), "unknown" without one.
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) break;
      const std::size_t first = line.find_first_not_of(" \t", colon + 1);
      return first == std::string::npos ? "unknown" : line.substr(first);
    }
  return "unknown";
}

struct Measurement {
  std::int64_t batch = 0;
  int threads = 0;
  int steps = 0;
  double train_seconds = 0, infer_seconds = 0;  // wall time of all timed steps
  double train_cpu = 0, infer_cpu = 0;          // CPU time of all timed steps
  std::int64_t train_peak_bytes = 0, infer_peak_bytes = 0;
  double train_rate() const { return static_cast<double>(batch) * steps / train_seconds; }
  double infer_rate() const { return static_cast<double>(batch) * steps / infer_seconds; }
};

// Times `steps` training steps, then `steps` inference runs, of zoo model `name` at one batch size
// and thread count, each after `warmup` untimed ones.
Measurement measure(const std::string& name, std::int64_t batch, int threads, int steps, int warmup, bool check_memory,
                    const std::string& what, bool fuse) {
  // Training: the trainer's own step (forward, backward, the divergence checks, SGD with momentum
  // 0.9, weight decay 5e-4 and a constant lr 0.05) on one random batch of `batch` images.
  Model model;
  model.graph = models::build_model(name, {.batch = batch, .training = true});
  const models::ModelSignature sig = models::ModelSignature::of(model.graph);
  const Graph& g = model.graph;
  train::store_normalization({}, model);  // the random images are already centred, of variance 1
  const BatchShape shape(batch, sig.sample_shape(g), sig.classes(g));
  train::Trainer trainer(model, shape, nullptr,
                         {.epochs = 1, .batch = batch, .sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4},
                          .schedule = "constant", .threads = threads, .fuse = fuse});
  // Inference: the same network with running statistics, logits only.
  Graph infer = models::build_model(name, {.batch = batch, .training = false});
  runtime::Plan infer_plan = runtime::compile(infer, {.threads = threads, .fuse = fuse}, {models::ModelSignature::of(infer).logits});
  if (check_memory) {
    // Counted before the batch is made: both plans' peaks (each plan keeps its run buffers for the
    // next run, so both are alive at the end), the parameters and state, the momentum buffers and
    // the random batch.
    std::int64_t needed = trainer.peak_bytes() + infer_plan.peak_bytes();
    for (const TensorMap* map : {&model.parameters, &model.state, &model.training->buffers})
      for (const auto& [tensor_name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : g.values_of_kind(ValueKind::input)) needed += byte_count(g.value(id).type.shape, g.value(id).type.dtype);
    runtime::check_memory_fits(needed, what);
  }
  TensorMap data = autodiff::random_inputs(g, 12345, sig.classes(g));
  const train::Batch random_batch{.images = std::move(data.at(g.value(sig.image).name)), .labels = std::move(data.at(g.value(sig.label).name))};
  Measurement m{.batch = batch, .threads = threads, .steps = steps};
  auto train_step = [&] { trainer.step(random_batch); };
  for (int i = 0; i < warmup; ++i) train_step();
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  for (int i = 0; i < steps; ++i) train_step();
  m.train_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  m.train_cpu = cpu_seconds() - cpu_start;

  runtime::Feeds infer_feeds = runtime::feeds_from({&model.parameters, &model.state});
  infer_feeds[g.value(sig.image).name] = &random_batch.images;
  infer_feeds[g.value(sig.label).name] = &random_batch.labels;
  for (int i = 0; i < warmup; ++i) runtime::run(infer_plan, infer_feeds);
  start = Clock::now();
  cpu_start = cpu_seconds();
  for (int i = 0; i < steps; ++i) runtime::run(infer_plan, infer_feeds);
  m.infer_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  m.infer_cpu = cpu_seconds() - cpu_start;
  m.train_peak_bytes = trainer.peak_bytes();
  m.infer_peak_bytes = infer_plan.peak_bytes();
  return m;
}

// ---- the sweep's CSV

// The columns of `--csv` (and of bench/torch_sweep.py's CSV, which --peer-csv reads): who measured
// (framework and version), the kernel path and CPU, the point (model, batch, threads, timed steps),
// images/s and milliseconds per step for training and inference, the plans' peak bytes (empty for
// a peer that cannot tell), and the CPU milliseconds per step of the whole process (all threads):
// on a busy machine, the work a step really took.
constexpr const char* kSweepColumns[] = {"framework", "isa", "cpu", "model", "batch", "threads", "steps",
                                         "train_images_per_s", "infer_images_per_s", "train_step_ms", "infer_step_ms",
                                         "train_peak_bytes", "infer_peak_bytes", "train_step_cpu_ms", "infer_step_cpu_ms"};

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

std::string sweep_csv(const std::string& model, const std::string& isa, const std::string& cpu, const std::vector<Measurement>& rows) {
  std::string out;
  for (const char* column : kSweepColumns) out += (out.empty() ? "" : ",") + std::string(column);
  out += "\n";
  for (const Measurement& m : rows) {
    const std::vector<std::string> fields = {"dagrad " DAGRAD_VERSION, isa, cpu, model, std::to_string(m.batch),
                                             std::to_string(m.threads), std::to_string(m.steps),
                                             number_text(m.train_rate()), number_text(m.infer_rate()),
                                             number_text(1000 * m.train_seconds / m.steps),
                                             number_text(1000 * m.infer_seconds / m.steps),
                                             std::to_string(m.train_peak_bytes), std::to_string(m.infer_peak_bytes),
                                             number_text(1000 * m.train_cpu / m.steps), number_text(1000 * m.infer_cpu / m.steps)};
    for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
    out += "\n";
  }
  return out;
}

// One line of CSV into fields (RFC 4180 quoting within the line; our files have no line breaks in fields).
std::vector<std::string> split_csv_line(const std::string& line, const std::string& where) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') quoted = true;
    else if (c == ',') fields.emplace_back();
    else if (c != '\r') fields.back() += c;
  }
  if (quoted) fail(where, ": unterminated quoted field");
  return fields;
}

// One point of a sweep as plotted: measured now, or read back from a CSV.
struct SweepPoint {
  std::string framework, isa, cpu;
  std::int64_t batch;
  int threads;
  double train_rate, infer_rate;
};

SweepPoint point_of(const Measurement& m, const std::string& isa, const std::string& cpu) {
  return {.framework = "dagrad", .isa = isa, .cpu = cpu, .batch = m.batch, .threads = m.threads, .train_rate = m.train_rate(),
          .infer_rate = m.infer_rate()};
}

// Reads the points of a sweep CSV (ours or a peer's) given as --`flag`: the columns framework,
// batch, threads, train_images_per_s and infer_images_per_s by name, in any order; isa and cpu if
// present; other columns are ignored. If the file has a model column, every row must name `model`:
// another network's numbers beside ours would mislead.
std::vector<SweepPoint> read_sweep_csv(const std::string& flag, const std::string& path, const std::string& model) {
  const std::string shown = "--" + flag + " " + path;
  std::ifstream in(path);
  if (!in) fail(shown, ": cannot open: ", std::strerror(errno));
  std::string line;
  if (!std::getline(in, line)) fail(shown, ": empty file; expected a header line with the columns of dagrad bench --sweep --csv");
  const std::vector<std::string> header = split_csv_line(line, path + " line 1");
  auto column = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) fail(shown, ": no column '", name, "' in the header line");
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t framework = column("framework"), batch = column("batch"), threads = column("threads"),
                    train = column("train_images_per_s"), infer = column("infer_images_per_s");
  const auto optional_column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());  // size(): absent
  };
  const std::size_t model_column = optional_column("model"), isa = optional_column("isa"), cpu = optional_column("cpu");
  std::vector<SweepPoint> points;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty() || line == "\r") continue;
    const std::string where = path + " line " + std::to_string(number);
    const std::vector<std::string> fields = split_csv_line(line, where);
    if (fields.size() != header.size())
      fail("--" + flag + " " + where, ": ", fields.size(), " fields where the header has ", header.size());
    if (model_column < header.size()) {
      const std::string& row_model = fields[model_column];
      if (row_model != model) fail("--" + flag + " " + where, ": model '", row_model, "', but this sweep measures '", model, "'");
    }
    auto integer = [&](std::size_t i, std::int64_t low, std::int64_t high) {
      std::int64_t v = 0;
      const std::string& text = fields[i];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < low || v > high)
        fail("--" + flag + " " + where, ": ", header[i], " must be an integer from ", low, " to ", high, ", got '", text, "'");
      return v;
    };
    auto rate = [&](std::size_t i) {
      double v = 0;
      const std::string& text = fields[i];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0)
        fail("--" + flag + " " + where, ": ", header[i], " must be a non-negative number, got '", text, "'");
      return v;
    };
    points.push_back({.framework = fields[framework].empty() ? "peer" : fields[framework],
                      .isa = isa < header.size() ? fields[isa] : "unknown",
                      .cpu = cpu < header.size() ? fields[cpu] : "unknown",
                      .batch = integer(batch, 1, std::int64_t{1} << 40),
                      .threads = static_cast<int>(integer(threads, 1, 1024)),
                      .train_rate = rate(train),
                      .infer_rate = rate(infer)});
  }
  if (points.empty()) fail(shown, ": no data rows after the header");
  return points;
}

// ---- the sweep's plot

std::string palette_color(std::size_t index) {
  static const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  return palette[index % (sizeof palette / sizeof *palette)];
}

std::string threads_text(int threads) { return std::to_string(threads) + (threads == 1 ? " thread" : " threads"); }

// dagrad's points solid, the peer's dashed, one colour per thread count; a line per (framework,
// threads) in each of the two panels, training and inference.
std::string sweep_svg(const std::string& model, const std::vector<SweepPoint>& ours, const std::vector<SweepPoint>& peer) {
  std::vector<int> thread_counts;
  for (const std::vector<SweepPoint>* points : {&ours, &peer})
    for (const SweepPoint& p : *points)
      if (std::find(thread_counts.begin(), thread_counts.end(), p.threads) == thread_counts.end()) thread_counts.push_back(p.threads);
  auto color = [&](int t) {
    return palette_color(static_cast<std::size_t>(std::find(thread_counts.begin(), thread_counts.end(), t) - thread_counts.begin()));
  };
  std::vector<PlotPanel> panels = {{.title = "training step", .lines = {}}, {.title = "inference", .lines = {}}};
  auto add_lines = [&](const std::vector<SweepPoint>& points, bool dashed) {
    std::map<std::pair<std::string, int>, std::vector<const SweepPoint*>> lines;  // (framework, threads) -> points
    for (const SweepPoint& p : points) lines[{dashed ? p.framework : "dagrad", p.threads}].push_back(&p);
    for (int t : thread_counts)  // in the order the thread counts were given
      for (auto& [key, line_points] : lines) {
        if (key.second != t) continue;
        std::stable_sort(line_points.begin(), line_points.end(), [](const SweepPoint* a, const SweepPoint* b) { return a->batch < b->batch; });
        PlotLine train{.label = key.first + ", " + threads_text(t), .color = color(t), .dashed = dashed, .points = {}};
        PlotLine infer = train;
        for (const SweepPoint* p : line_points) {
          train.points.emplace_back(static_cast<double>(p->batch), p->train_rate);
          infer.points.emplace_back(static_cast<double>(p->batch), p->infer_rate);
        }
        panels[0].lines.push_back(std::move(train));
        panels[1].lines.push_back(std::move(infer));
      }
  };
  add_lines(ours, false);
  add_lines(peer, true);
  const std::string isa = ours.empty() ? "unknown" : ours.front().isa, cpu = ours.empty() ? "unknown" : ours.front().cpu;
  return log2_line_chart_svg(model + ": images/s by batch size (kernels " + isa + ", " + cpu + ")", "batch (log2 scale)", "images/s",
                             panels);
}

// ---- options

// "--sweep-threads 1,2": distinct counts from 1 to 1024, in the order given.
std::vector<int> parse_thread_list(const std::string& text) {
  std::vector<int> counts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    int v = 0;
    auto [last, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || last != item.data() + item.size() || v < 1 || v > 1024)
      throw UsageError("--sweep-threads must be a comma-separated list of thread counts from 1 to 1024, got '" + text + "'");
    if (std::find(counts.begin(), counts.end(), v) != counts.end())
      throw UsageError("--sweep-threads lists " + std::to_string(v) + " twice, got '" + text + "'");
    counts.push_back(v);
    if (end == text.size()) break;
    begin = end + 1;
  }
  return counts;
}

// A progress line redrawn in place on a terminal's stderr (never on stdout, never into a file),
// cleared when the sweep ends or fails.
class SweepProgress {
 public:
  explicit SweepProgress(bool shown) : shown_(shown) {}
  ~SweepProgress() {
    if (shown_) std::cerr << "\r\033[K" << std::flush;
  }
  SweepProgress(const SweepProgress&) = delete;
  SweepProgress& operator=(const SweepProgress&) = delete;
  void point(std::size_t index, std::size_t count, std::int64_t batch, int threads, int steps) {
    if (shown_)
      std::cerr << "\r\033[Kbench sweep " << index + 1 << "/" << count << ": batch " << batch << ", " << threads_text(threads)
                << ", " << steps << " steps" << std::flush;
  }

 private:
  bool shown_;
};

int run_sweep(const po::variables_map& vm, const std::string& name, int steps, int warmup, const std::string& isa, const std::string& cpu) {
  const std::string csv_path = vm.count("csv") ? vm["csv"].as<std::string>() : "";
  const std::string svg_path = vm.count("svg") ? vm["svg"].as<std::string>() : "";
  // The peer's file is read before the (long) sweep, so a bad one fails at once.
  const std::vector<SweepPoint> peer =
      vm.count("peer-csv") ? read_sweep_csv("peer-csv", vm["peer-csv"].as<std::string>(), name) : std::vector<SweepPoint>{};
  if (vm.count("from-csv")) {
    // Redraw a saved sweep (e.g. the best of several rounds) without measuring again.
    for (const char* flag : {"max-batch", "sweep-threads", "min-images", "steps", "warmup", "csv", "json"})
      if (vm.count(flag) && !vm[flag].defaulted()) throw UsageError(std::string("--") + flag + " measures; --from-csv only draws");
    if (svg_path.empty()) throw UsageError("--from-csv needs --svg (it only draws)");
    const std::vector<SweepPoint> ours = read_sweep_csv("from-csv", vm["from-csv"].as<std::string>(), name);
    write_file_atomically(svg_path, sweep_svg(name, ours, peer));
    return kExitOk;
  }
  const std::int64_t max_batch = int_in(vm, "max-batch", 1, std::int64_t{1} << 20);
  if ((max_batch & (max_batch - 1)) != 0)
    throw UsageError("--max-batch must be a power of two (the sweep doubles the batch from 1), got " + std::to_string(max_batch));
  const std::vector<int> thread_counts = parse_thread_list(vm["sweep-threads"].as<std::string>());
  const std::int64_t min_images = int_in(vm, "min-images", 0, std::int64_t{1} << 30);

  std::vector<std::int64_t> batches;
  for (std::int64_t b = 1; b <= max_batch; b *= 2) batches.push_back(b);
  std::vector<Measurement> rows;
  {
    SweepProgress progress(stderr_is_terminal());
    for (int threads : thread_counts)
      for (std::int64_t batch : batches) {
        // Small batches take more steps, so every point times at least --min-images images.
        const int point_steps = static_cast<int>(std::max<std::int64_t>(steps, (min_images + batch - 1) / batch));
        progress.point(rows.size(), thread_counts.size() * batches.size(), batch, threads, point_steps);
        rows.push_back(measure(name, batch, threads, point_steps, warmup, !vm["ignore-memory-check"].as<bool>(),
                               "bench --sweep of '" + name + "' at batch " + std::to_string(batch) + " (lower --max-batch)",
                               !vm["no-fusion"].as<bool>()));
      }
  }
  if (!csv_path.empty()) write_file_atomically(csv_path, sweep_csv(name, isa, cpu, rows));
  if (!svg_path.empty()) {
    std::vector<SweepPoint> ours;
    for (const Measurement& m : rows) ours.push_back(point_of(m, isa, cpu));
    write_file_atomically(svg_path, sweep_svg(name, ours, peer));
  }

  if (vm.count("json")) {
    nlohmann::json points = nlohmann::json::array();
    for (const Measurement& m : rows)
      points.push_back({{"batch", m.batch},
                        {"threads", m.threads},
                        {"steps", m.steps},
                        {"train_images_per_s", m.train_rate()},
                        {"infer_images_per_s", m.infer_rate()},
                        {"train_step_ms", 1000 * m.train_seconds / m.steps},
                        {"infer_step_ms", 1000 * m.infer_seconds / m.steps},
                        {"train_step_cpu_ms", 1000 * m.train_cpu / m.steps},
                        {"infer_step_cpu_ms", 1000 * m.infer_cpu / m.steps},
                        {"plan_peak_bytes", m.train_peak_bytes},
                        {"infer_plan_peak_bytes", m.infer_peak_bytes}});
    std::cout << nlohmann::json{{"model", name}, {"isa", isa}, {"cpu", cpu}, {"points", points}}.dump() << "\n";
    return kExitOk;
  }
  std::printf("model %s, kernels %s, CPU %s\n", name.c_str(), isa.c_str(), cpu.c_str());
  std::printf("%7s %5s %5s %12s %12s %12s %12s\n", "threads", "batch", "steps", "train img/s", "infer img/s", "train peak",
              "infer peak");
  for (const Measurement& m : rows)
    std::printf("%7d %5lld %5d %12.1f %12.1f %12s %12s\n", m.threads, static_cast<long long>(m.batch), m.steps, m.train_rate(),
                m.infer_rate(), runtime::human_bytes(m.train_peak_bytes).c_str(), runtime::human_bytes(m.infer_peak_bytes).c_str());
  std::printf("(peak: the plans' peak bytes)\n");
  return kExitOk;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  options.add_options()("model", po::value<std::string>()->default_value("resnet_ref"), "zoo model name")(
      "batch", po::value<std::int64_t>()->default_value(64), "images per step")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "steps", po::value<int>()->default_value(20), "timed steps (after the warm-up steps)")(
      "warmup", po::value<int>()->default_value(3), "untimed steps first")(
      "json", "print one JSON object instead of text")(
      "ignore-memory-check", po::bool_switch(), "run even if the plans need more memory than is available")(
      "no-fusion", po::bool_switch(), "run every node as its own kernel (to measure what fusion gains)")(
      "sweep", po::bool_switch(), "measure batch 1, 2, 4, ..., --max-batch for each of --sweep-threads")(
      "max-batch", po::value<std::int64_t>()->default_value(256), "--sweep: the largest batch (a power of two)")(
      "sweep-threads", po::value<std::string>()->default_value("1,2"), "--sweep: comma-separated thread counts")(
      "min-images", po::value<std::int64_t>()->default_value(256),
      "--sweep: time at least this many images per point (small batches take more steps)")(
      "csv", po::value<std::string>(),
      "--sweep: write the points as CSV with the columns framework, isa, cpu, model, batch, threads, steps, "
      "train_images_per_s, infer_images_per_s, train_step_ms, infer_step_ms, train_peak_bytes, infer_peak_bytes, "
      "train_step_cpu_ms, infer_step_cpu_ms (peak: the plans' peak bytes; CPU: all threads)")(
      "svg", po::value<std::string>(), "--sweep: write a plot of images/s against batch (log2), training and inference")(
      "peer-csv", po::value<std::string>(), "--sweep: draw this CSV's points (e.g. bench/torch_sweep.py's) dashed beside dagrad's")(
      "from-csv", po::value<std::string>(), "--sweep: draw --svg from this saved --csv instead of measuring");
  po::variables_map vm;
  if (!parse("bench",
             "[--model NAME] [--batch N] [--threads N] [--steps N] [--json]\n"
             "       dagrad bench --sweep [--model NAME] [--max-batch N] [--sweep-threads 1,2] [--steps N] [--csv FILE] [--svg FILE] "
             "[--peer-csv FILE] [--json]\n"
             "       dagrad bench --sweep --from-csv FILE --svg FILE [--peer-csv FILE] [--model NAME]",
             options, positional, args, vm))
    return kExitOk;
  const std::string name = vm["model"].as<std::string>();
  require_zoo_model(name);
  const int steps = static_cast<int>(int_at_least(vm, "steps", 1));
  const int warmup = static_cast<int>(int_at_least(vm, "warmup", 0));
  const bool sweep = vm["sweep"].as<bool>();
  // Options of the other mode are mistakes, not something to ignore silently.
  for (const char* flag : sweep ? std::vector<const char*>{"batch", "threads"}
                                : std::vector<const char*>{"max-batch", "sweep-threads", "min-images", "csv", "svg", "peer-csv", "from-csv"})
    if (vm.count(flag) && !vm[flag].defaulted())
      throw UsageError(std::string("--") + flag + (sweep ? " is for a single run; --sweep takes --max-batch and --sweep-threads"
                                                         : " needs --sweep"));
  const std::string isa = kernels::isa_name(kernels::active_isa());
  const std::string cpu = cpu_model_name();
  if (sweep) return run_sweep(vm, name, steps, warmup, isa, cpu);

  const std::int64_t batch = int_at_least(vm, "batch", 1);
  const int threads = threads_option(vm);
  const Measurement m = measure(name, batch, threads, steps, warmup, !vm["ignore-memory-check"].as<bool>(),
                                "bench of '" + name + "' with --batch " + std::to_string(batch), !vm["no-fusion"].as<bool>());
  if (vm.count("json")) {
    nlohmann::json j = {{"model", name},
                        {"batch", batch},
                        {"threads", threads},
                        {"steps", steps},
                        {"isa", isa},
                        {"cpu", cpu},
                        {"train_images_per_s", m.train_rate()},
                        {"infer_images_per_s", m.infer_rate()},
                        {"train_step_ms", 1000 * m.train_seconds / steps},
                        {"infer_step_ms", 1000 * m.infer_seconds / steps},
                        {"train_step_cpu_ms", 1000 * m.train_cpu / steps},
                        {"infer_step_cpu_ms", 1000 * m.infer_cpu / steps},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"plan_peak_bytes", m.train_peak_bytes},
                        {"infer_plan_peak_bytes", m.infer_peak_bytes}};
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::printf("model %s batch %lld threads %d steps %d\n", name.c_str(), static_cast<long long>(batch), threads, steps);
  std::printf("kernels %s, CPU %s\n", isa.c_str(), cpu.c_str());
  std::printf("train  %8.2f ms/step  %9.1f images/s  (%.2f CPU ms/step)\n", 1000 * m.train_seconds / steps, m.train_rate(),
              1000 * m.train_cpu / steps);
  std::printf("infer  %8.2f ms/step  %9.1f images/s  (%.2f CPU ms/step)\n", 1000 * m.infer_seconds / steps, m.infer_rate(),
              1000 * m.infer_cpu / steps);
  std::printf("peak RSS %.1f MiB, plan peak %.1f MiB (train), %.1f MiB (infer)\n", peak_rss_bytes() / 1048576.0,
              m.train_peak_bytes / 1048576.0, m.infer_peak_bytes / 1048576.0);
  return kExitOk;
}

}  // namespace dagrad::cli
