// The CLI fault suite: every subcommand of the dagrad tool run against a broken world (bad flags,
// broken or missing files, bad data folders, read-only and full mounts, a held lock, a killed
// run, stdout to /dev/full), one table row per fault. Each row prepares a fresh scratch folder,
// runs the tool without a shell, and checks the exit code, a message fragment, and that the files
// it must not touch are byte-for-byte unchanged (or absent).
//
// Mount rows need root (mount(2)); without it they are skipped with the reason.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "proto/file_lock.h"
#include "proto/model_file.h"
#include "proto/npy.h"
#include "tests/process.h"

namespace dagrad::testing {
namespace {

namespace fs = std::filesystem;

const char* const kData = "/usr/share/datasets/fashion-mnist";

// What a row's setup leaves behind for its run and for cleanup.
struct Scratch {
  fs::path dir;
  std::vector<fs::path> mounts;          // unmounted (innermost first) before the folder is removed
  std::optional<FileLock> lock;          // held by this process during the run
  std::string skip;                      // non-empty: the row cannot run here (and why)
  ~Scratch() {
    lock.reset();
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

using Setup = std::function<void(Scratch&)>;

struct Row {
  std::string name;
  Setup setup;
  std::vector<std::string> args;               // "{dir}" is the scratch folder, "{data}" the dataset
  int exit_code = 0;
  std::vector<std::string> messages;           // each must appear in stderr (stdout if in_stdout)
  bool in_stdout = false;                      // validate's INVALID, train's "finished"
  std::vector<std::string> unchanged;          // relative to {dir}: bytes identical before and after
  std::vector<std::string> absent;             // relative to {dir}: must not exist afterwards
  std::vector<std::string> present;            // relative to {dir}: must exist afterwards
  bool folder_unchanged = false;               // every file under {dir} unchanged and no new file
  bool no_temporaries = false;                 // no ".tmp." file left anywhere under {dir}
  std::string stdout_path;                     // e.g. "/dev/full"
  bool before_work = false;                    // fails before any work: nothing printed on stdout (no timing: tests never assert on wall-clock time)
  std::function<void(const fs::path&)> after;  // extra checks on the folder

  Row& keep(std::vector<std::string> v) { unchanged = std::move(v); return *this; }
  Row& gone(std::vector<std::string> v) { absent = std::move(v); return *this; }
  Row& made(std::vector<std::string> v) { present = std::move(v); return *this; }
  Row& all_kept() { folder_unchanged = true; return *this; }
  Row& no_tmp() { no_temporaries = true; return *this; }
  Row& out() { in_stdout = true; return *this; }
  Row& to(std::string path) { stdout_path = std::move(path); return *this; }
  Row& early() { before_work = true; return *this; }
  Row& then(std::function<void(const fs::path&)> f) { after = std::move(f); return *this; }
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), dir);
    files[rel.string()] = it->is_regular_file() ? read_bytes(it->path()) : std::string("<folder>");
  }
  return files;
}

// -- the shared trained model: lenet, one short epoch, built once per process.
const fs::path& shared_folder() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("dagrad_cli_fault_shared_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    auto r = run_tool({"train", "--model", "lenet", "--limit-train", "256", "--limit-test", "100", "--epochs", "1",
                       "--batch", "32", "--threads", "2", "--out", (d / "m.dagrad").string()});
    if (r.exit_code != 0) throw std::runtime_error("training the shared model failed: " + describe(r));
    auto e = run_tool({"export", "--model", "resnet_tiny", "--out", (d / "tiny.dagrad").string()});
    if (e.exit_code != 0) throw std::runtime_error("exporting resnet_tiny failed: " + describe(e));
    return d;
  }();
  return dir;
}

// -- setups
void none(Scratch&) {}

void trained(Scratch& s) { fs::copy_file(shared_folder() / "m.dagrad", s.dir / "m.dagrad"); }
void tiny(Scratch& s) { fs::copy_file(shared_folder() / "tiny.dagrad", s.dir / "tiny.dagrad"); }
void garbage(Scratch& s) { write_bytes(s.dir / "g.dagrad", std::string(300, '\xff') + "garbage"); }
void empty(Scratch& s) { write_bytes(s.dir / "e.dagrad", ""); }
void truncated(Scratch& s) {
  const std::string bytes = read_bytes(shared_folder() / "m.dagrad");
  write_bytes(s.dir / "t.dagrad", bytes.substr(0, bytes.size() / 2));
}

// The trained lenet as m.onnx (converted by the tool), with an input batch x.npy it takes.
void trained_onnx(Scratch& s) {
  trained(s);
  auto r = run_tool({"convert", (s.dir / "m.dagrad").string(), (s.dir / "m.onnx").string()});
  if (r.exit_code != 0) throw std::runtime_error("converting the shared model to .onnx failed: " + describe(r));
  const Model m = load((s.dir / "m.dagrad").string());
  save_npy(Tensor(DType::f32, m.graph.value(m.graph.at("image")).type.shape), (s.dir / "x.npy").string());
}
void garbage_onnx(Scratch& s) { write_bytes(s.dir / "g.onnx", std::string(300, '\xff') + "garbage"); }
void garbage_npy_and_onnx(Scratch& s) {
  trained_onnx(s);
  write_bytes(s.dir / "g.npy", std::string("\x93NUMPY\x01\x00", 8) + std::string(2, '\xff'));
}

// The trained lenet with one weight set to NaN.
void nan_param(Scratch& s) {
  Model m = load((shared_folder() / "m.dagrad").string());
  m.parameters.at("conv1.w").data<float>()[3] = NAN;
  save(m, (s.dir / "nan.dagrad").string());
}

// resnet_tiny with an infinite batch-norm running variance.
void inf_running_var(Scratch& s) {
  Model m = load((shared_folder() / "tiny.dagrad").string());
  m.state.at("stem.bn1.running_var").data<float>()[1] = INFINITY;
  save(m, (s.dir / "inf.dagrad").string());
}

// A run trained to completion in this folder: m.dagrad, m.checkpoint.dagrad (finished), m.csv, m.svg.
void trained_here(Scratch& s) {
  auto r = run_tool({"train", "--model", "lenet", "--limit-train", "128", "--limit-test", "64", "--epochs", "1", "--batch",
                     "32", "--threads", "2", "--out", (s.dir / "m.dagrad").string()});
  if (r.exit_code != 0) throw std::runtime_error("setup training failed: " + describe(r));
}

// A data folder {dir}/data linking the real files, then `edit` breaks one.
Setup data_folder(std::function<void(const fs::path&)> edit) {
  return [edit](Scratch& s) {
    const fs::path d = s.dir / "data";
    fs::create_directories(d);
    for (const auto& entry : fs::directory_iterator(kData)) fs::create_symlink(entry.path(), d / entry.path().filename());
    edit(d);
  };
}
std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
const Setup data_missing_test_labels = data_folder([](const fs::path& d) { fs::remove(d / "t10k-labels-idx1-ubyte.gz"); });
const Setup data_missing_train_labels = data_folder([](const fs::path& d) { fs::remove(d / "train-labels-idx1-ubyte.gz"); });
const Setup data_truncated_gz = data_folder([](const fs::path& d) {
  fs::remove(d / "t10k-images-idx3-ubyte.gz");
  write_bytes(d / "t10k-images-idx3-ubyte.gz", read_bytes(fs::path(kData) / "t10k-images-idx3-ubyte.gz").substr(0, 100000));
});
const Setup data_wrong_magic = data_folder([](const fs::path& d) {
  fs::remove(d / "t10k-labels-idx1-ubyte.gz");
  write_bytes(d / "t10k-labels-idx1-ubyte", be32(0x00000803) + be32(10000) + std::string(10000, '\1'));
});
const Setup data_label_count = data_folder([](const fs::path& d) {
  fs::remove(d / "t10k-labels-idx1-ubyte.gz");
  write_bytes(d / "t10k-labels-idx1-ubyte", be32(0x00000801) + be32(9000) + std::string(9000, '\1'));
});
const Setup data_not_gzip = data_folder([](const fs::path& d) {
  fs::remove(d / "train-images-idx3-ubyte.gz");
  write_bytes(d / "train-images-idx3-ubyte.gz", "this is not gzip data at all");
});

// A 1 MiB tmpfs at {dir}/NAME holding `existing.dagrad` (a small model); read-only or filled up.
bool mount_tmpfs(Scratch& s, const std::string& name) {
  const fs::path at = s.dir / name;
  fs::create_directories(at);
  if (::mount("tmpfs", at.c_str(), "tmpfs", 0, "size=1m") != 0) {
    const int err = errno;
    s.skip = std::string("cannot mount a tmpfs (mount(2): ") + std::strerror(err) + (err == EPERM ? "; needs root" : "") + ")";
    return false;
  }
  s.mounts.push_back(at);
  fs::copy_file(shared_folder() / "tiny.dagrad", at / "existing.dagrad");
  return true;
}
void readonly_mount(Scratch& s) {
  if (!mount_tmpfs(s, "ro")) return;
  const fs::path at = s.dir / "ro";
  if (::mount("tmpfs", at.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m") != 0)
    s.skip = std::string("cannot remount read-only: ") + std::strerror(errno);
}
void full_tmpfs(Scratch& s) {
  if (!mount_tmpfs(s, "full")) return;
  std::ofstream filler(s.dir / "full" / "filler", std::ios::binary);
  const std::string block(4096, 'x');
  for (int i = 0; i < 1024 && filler.write(block.data(), block.size()); ++i) filler.flush();
}
void readonly_mount_with_model(Scratch& s) {
  trained(s);
  readonly_mount(s);
}
void full_tmpfs_with_model(Scratch& s) {
  trained(s);
  full_tmpfs(s);
}

void lock_held(Scratch& s) { s.lock.emplace(FileLock::acquire((s.dir / "m.dagrad").string(), "test")); }

std::vector<std::string> killed_run_args(const fs::path& dir) {
  return {"train", "--model", "resnet_ref", "--limit-train", "2048", "--limit-test", "100", "--epochs", "3",
          "--batch", "64", "--threads", "2", "--out", (dir / "m.dagrad").string()};
}

void expect_checkpoints_valid(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool model_file = name.ends_with(".dagrad") || name.ends_with(".dagrad.txt");
    if (!model_file || name.starts_with(".") || name.find(".tmp.") != std::string::npos) continue;
    auto v = run_tool({"validate", entry.path().string()});
    EXPECT_EQ(v.exit_code, 0) << name << ": " << describe(v);
    EXPECT_EQ(v.out.rfind("OK ", 0), 0u) << describe(v);
  }
}

// A training run SIGKILLed mid-run (its lock dies with it); what it left must be valid.
void killed_train(Scratch& s) {
  auto r = run_tool(killed_run_args(s.dir), {.timeout = std::chrono::milliseconds(4500)});
  if (!r.timed_out) ADD_FAILURE() << "the run to kill ended by itself: " << describe(r);
  EXPECT_EQ(r.signal, SIGKILL) << describe(r);
  expect_checkpoints_valid(s.dir);
}

// -- the table
std::vector<Row> rows() {
  std::vector<Row> t;
  auto row = [&](std::string name, Setup setup, std::vector<std::string> args, int code,
                 std::vector<std::string> messages) -> Row& {
    t.push_back(Row{.name = std::move(name), .setup = std::move(setup), .args = std::move(args), .exit_code = code,
                    .messages = std::move(messages)});
    return t.back();
  };
  auto usage = [&](std::string name, std::vector<std::string> args, std::vector<std::string> messages) -> Row& {
    messages.push_back("Try 'dagrad " + args[0] + " --help'.");
    return row(std::move(name), none, std::move(args), 2, std::move(messages));
  };
  const std::string valid_models = "; valid: resnet_ref, ";

  // ---- ops
  usage("ops_unknown_flag", {"ops", "--bogus"}, {"unrecognised option '--bogus'"});
  usage("ops_extra_argument", {"ops", "extra"}, {"too many positional"});
  row("ops_json_stdout_full", none, {"ops", "--json"}, 1, {"dagrad ops: error: cannot write standard output"}).to("/dev/full");
  row("ops_stdout_full", none, {"ops"}, 1, {"standard output"}).to("/dev/full");

  // ---- gradcheck
  usage("gradcheck_unknown_op", {"gradcheck", "--op", "nope"}, {"unknown --op 'nope'; valid: ", "relu", "conv2d"});
  usage("gradcheck_unknown_model", {"gradcheck", "--model", "nope"}, {"unknown --model 'nope'" + valid_models});
  usage("gradcheck_entries_zero", {"gradcheck", "--entries", "0"}, {"--entries must be at least 1, got 0"});
  usage("gradcheck_width_divisor_zero", {"gradcheck", "--width-divisor", "0"}, {"--width-divisor must be at least 1, got 0"});
  usage("gradcheck_batch_text", {"gradcheck", "--batch", "abc"}, {"--batch must be an integer, got 'abc'"});
  usage("gradcheck_seed_negative", {"gradcheck", "--seed", "-1"}, {"--seed must be a non-negative integer, got '-1'"});
  usage("gradcheck_unknown_flag", {"gradcheck", "--bogus"}, {"unrecognised option '--bogus'"});
  row("gradcheck_op_stdout_full", none, {"gradcheck", "--op", "relu"}, 1, {"standard output"}).to("/dev/full");

  // ---- export
  usage("export_missing_out", {"export", "--model", "lenet"}, {"'--out' is required"});
  usage("export_missing_model", {"export", "--out", "{dir}/x.dagrad"}, {"'--model' is required"});
  usage("export_unknown_model", {"export", "--model", "nope", "--out", "{dir}/x.dagrad"}, {"unknown --model 'nope'" + valid_models})
      .gone({"x.dagrad"});
  usage("export_batch_zero", {"export", "--model", "lenet", "--batch", "0", "--out", "{dir}/x.dagrad"},
        {"--batch must be at least 1, got 0"}).gone({"x.dagrad"});
  usage("export_batch_overflow", {"export", "--model", "lenet", "--batch", "99999999999999999999", "--out", "{dir}/x.dagrad"},
        {"got '99999999999999999999'"});
  row("export_missing_folder", none, {"export", "--model", "lenet", "--out", "{dir}/no/x.dagrad"}, 1,
      {"--out '", "/no/x.dagrad'", "does not exist"}).gone({"no"});
  row("export_out_is_folder", none, {"export", "--model", "lenet", "--out", "{dir}"}, 1, {"is a folder"});
  row("export_readonly_mount", readonly_mount, {"export", "--model", "lenet", "--out", "{dir}/ro/existing.dagrad"}, 1,
      {"ro/existing.dagrad", "Read-only file system"}).all_kept();
  row("export_full_tmpfs", full_tmpfs, {"export", "--model", "vgg16", "--out", "{dir}/full/existing.dagrad"}, 1,
      {"full/existing.dagrad", "No space left on device"}).keep({"full/existing.dagrad"}).no_tmp();
  row("export_full_tmpfs_unfilled", [](Scratch& s) { mount_tmpfs(s, "full"); },
      {"export", "--model", "resnet50", "--out", "{dir}/full/existing.dagrad"}, 1, {"No space left on device"})
      .keep({"full/existing.dagrad"}).no_tmp();

  // ---- convert
  usage("convert_missing_out", {"convert", "{dir}/m.dagrad"}, {"'--out' is required"});
  usage("convert_unknown_flag", {"convert", "--bogus", "a", "b"}, {"unrecognised option '--bogus'"});
  row("convert_missing_input", none, {"convert", "{dir}/none.dagrad", "{dir}/x.dagrad"}, 1,
      {"none.dagrad: cannot open: No such file or directory"}).gone({"x.dagrad"});
  row("convert_garbage_input", garbage, {"convert", "{dir}/g.dagrad", "{dir}/x.dagrad.txt"}, 1, {"g.dagrad: not a dagrad file"})
      .gone({"x.dagrad.txt"}).keep({"g.dagrad"});
  row("convert_truncated_input", truncated, {"convert", "{dir}/t.dagrad", "{dir}/x.dagrad"}, 1, {"t.dagrad: truncated"})
      .gone({"x.dagrad"});
  row("convert_missing_folder", trained, {"convert", "{dir}/m.dagrad", "{dir}/no/x.dagrad"}, 1, {"does not exist"})
      .gone({"no"}).keep({"m.dagrad"}).early();
  row("convert_readonly_mount", readonly_mount_with_model, {"convert", "{dir}/m.dagrad", "{dir}/ro/existing.dagrad"}, 1,
      {"ro/existing.dagrad", "Read-only file system"}).all_kept();
  row("convert_full_tmpfs", full_tmpfs_with_model, {"convert", "{dir}/m.dagrad", "{dir}/full/existing.dagrad"}, 1,
      {"full/existing.dagrad", "No space left on device"}).keep({"m.dagrad", "full/existing.dagrad"}).no_tmp();
  usage("convert_opset_11", {"convert", "{dir}/m.dagrad", "{dir}/m.onnx", "--opset", "11"}, {"--opset must be 13 or 17, got 11"});
  usage("convert_onnx_batch_zero", {"convert", "{dir}/m.onnx", "{dir}/m.dagrad", "--batch", "0"}, {"--batch must be at least 1, got 0"});
  row("convert_garbage_onnx", garbage_onnx, {"convert", "{dir}/g.onnx", "{dir}/x.dagrad"}, 1, {"g.onnx"}).gone({"x.dagrad"}).keep({"g.onnx"});
  row("convert_to_onnx_missing_folder", trained, {"convert", "{dir}/m.dagrad", "{dir}/no/x.onnx"}, 1, {"does not exist"}).gone({"no"});
  row("convert_to_onnx", trained, {"convert", "{dir}/m.dagrad", "{dir}/m.onnx"}, 0, {}).keep({"m.dagrad"}).made({"m.onnx"}).no_tmp();
  row("convert_in_place_to_text", trained, {"convert", "{dir}/m.dagrad", "{dir}/m.dagrad.txt"}, 0, {}).keep({"m.dagrad"})
      .made({"m.dagrad.txt"});

  // ---- validate (INVALID goes to stdout)
  row("validate_garbage", garbage, {"validate", "{dir}/g.dagrad"}, 1, {"INVALID ", "g.dagrad: not a dagrad file"}).out()
      .all_kept();
  row("validate_truncated", truncated, {"validate", "{dir}/t.dagrad"}, 1, {"INVALID ", "t.dagrad: truncated or corrupt"})
      .out().all_kept();
  row("validate_empty", empty, {"validate", "{dir}/e.dagrad"}, 1, {"INVALID ", "e.dagrad: empty file"}).out();
  row("validate_folder", none, {"validate", "{dir}"}, 1, {"INVALID ", "not a regular file"}).out();
  row("validate_missing", none, {"validate", "{dir}/none.dagrad"}, 1, {"INVALID ", "cannot open"}).out();
  row("validate_nan_parameter", nan_param, {"validate", "{dir}/nan.dagrad"}, 1, {"INVALID ", "conv1.w"}).out().all_kept();
  row("validate_inf_running_var", inf_running_var, {"validate", "{dir}/inf.dagrad"}, 1, {"INVALID ", "stem.bn1.running_var"})
      .out().all_kept();
  row("validate_ok_stdout_full", trained, {"validate", "{dir}/m.dagrad"}, 1, {"standard output"}).to("/dev/full");
  row("validate_invalid_stdout_full", garbage, {"validate", "{dir}/g.dagrad"}, 1, {"standard output"}).to("/dev/full");
  usage("validate_missing_file_argument", {"validate"}, {"'--file' is required"});
  usage("validate_max_bytes_zero", {"validate", "x.dagrad", "--max-bytes", "0"}, {"--max-bytes must be at least 1, got 0"});
  usage("validate_unknown_flag", {"validate", "x.dagrad", "--bogus"}, {"unrecognised option '--bogus'"});
  row("validate_onnx_ok", trained_onnx, {"validate", "{dir}/m.onnx"}, 0, {"onnx checker: OK\ndagrad import: OK\nOK "}).out().all_kept();
  row("validate_garbage_onnx", garbage_onnx, {"validate", "{dir}/g.onnx"}, 1, {"onnx checker: FAILED: ", "dagrad import: FAILED: ", "INVALID "})
      .out().all_kept();
  row("validate_too_large", trained, {"validate", "{dir}/m.dagrad", "--max-bytes", "1000"}, 1, {"INVALID ", "1000"}).out();

  // ---- train: usage
  const std::vector<std::string> tr = {"train", "--model", "lenet", "--out", "{dir}/m.dagrad"};
  auto train_usage = [&](std::string name, std::vector<std::string> extra, std::vector<std::string> messages) -> Row& {
    std::vector<std::string> args = tr;
    args.insert(args.end(), extra.begin(), extra.end());
    return usage(std::move(name), std::move(args), std::move(messages)).gone({"m.dagrad"});
  };
  train_usage("train_unknown_flag", {"--bogus"}, {"unrecognised option '--bogus'"});
  train_usage("train_batch_text", {"--batch", "abc"}, {"--batch must be an integer, got 'abc'"});
  train_usage("train_batch_overflow", {"--batch", "99999999999999999999"},
              {"--batch must be an integer from -9223372036854775808 to 9223372036854775807, got '99999999999999999999'"});
  train_usage("train_seed_negative", {"--seed", "-1"}, {"--seed must be a non-negative integer, got '-1'"});
  train_usage("train_batch_zero", {"--batch", "0"}, {"--batch must be at least 1, got 0"});
  train_usage("train_image_size_negative", {"--image-size", "-4"}, {"--image-size must be at least 0, got -4"});
  train_usage("train_threads_5000", {"--threads", "5000"}, {"--threads must be 0 (all cores) or from 1 to 1024, got 5000"});
  train_usage("train_lr_negative", {"--lr=-1"}, {"--lr must be", "got -1"});
  train_usage("train_lr_nan", {"--lr", "nan"}, {"--lr", "nan"});
  train_usage("train_momentum_1_5", {"--momentum", "1.5"}, {"--momentum must be in [0, 1), got 1.5"});
  train_usage("train_weight_decay_negative", {"--weight-decay=-0.1"}, {"--weight-decay must be", "got -0.1"});
  train_usage("train_schedule_negative_gamma", {"--schedule", "step:1:-0.5"}, {"--schedule", "GAMMA", "-0.5"});
  train_usage("train_schedule_unknown", {"--schedule", "nope"}, {"unknown learning-rate schedule 'nope'", "cosine"});
  train_usage("train_limit_train_negative", {"--limit-train=-5"}, {"--limit-train must be at least 0, got -5"});
  train_usage("train_eval_batch_zero", {"--eval-batch", "0"}, {"--eval-batch must be at least 1, got 0"});
  train_usage("train_warmup_nan", {"--warmup", "nan"}, {"--warmup must be a finite number, got nan"});
  train_usage("train_epochs_zero", {"--epochs", "0"}, {"--epochs", "0"});
  usage("train_unknown_model", {"train", "--model", "nope", "--out", "{dir}/m.dagrad"}, {"unknown --model 'nope'" + valid_models});
  usage("train_without_out", {"train", "--model", "lenet"}, {"give --out FILE"});
  usage("train_model_and_from", {"train", "--model", "lenet", "--from", "{dir}/m.dagrad", "--out", "{dir}/x.dagrad"},
        {"give exactly one of --model, --from and --resume"});
  usage("train_nothing", {"train"}, {"--model"});

  // ---- train: faults
  const std::vector<std::string> small = {"--limit-train", "128", "--limit-test", "64", "--epochs", "1",
                                          "--batch", "32", "--threads", "2"};
  auto train_row = [&](std::string name, Setup setup, std::vector<std::string> head, int code,
                       std::vector<std::string> messages) -> Row& {
    head.insert(head.end(), small.begin(), small.end());
    return row(std::move(name), std::move(setup), std::move(head), code, std::move(messages));
  };
  train_row("train_out_folder_missing", none, {"train", "--model", "resnet_ref", "--out", "{dir}/no/m.dagrad"}, 1,
            {"--out '", "folder", "does not exist"}).gone({"no"}).all_kept().early();
  train_row("train_out_readonly_mount", readonly_mount, {"train", "--model", "resnet_ref", "--out", "{dir}/ro/m.dagrad"}, 1,
            {"ro/m.dagrad", "Read-only file system"}).all_kept().early();
  train_row("train_data_missing_labels", data_missing_train_labels,
            {"train", "--model", "lenet", "--data-dir", "{dir}/data", "--out", "{dir}/m.dagrad"}, 1, {"train-labels-idx1-ubyte"})
      .gone({"m.dagrad", "m.checkpoint.dagrad", "m.csv"}).early();
  train_row("train_data_missing_folder", none, {"train", "--model", "lenet", "--data-dir", "{dir}/nodata", "--out", "{dir}/m.dagrad"},
            1, {"nodata"}).gone({"m.dagrad"}).early();
  train_row("train_data_not_gzip", data_not_gzip,
            {"train", "--model", "lenet", "--data-dir", "{dir}/data", "--out", "{dir}/m.dagrad"}, 1, {"train-images-idx3-ubyte.gz"})
      .gone({"m.dagrad", "m.checkpoint.dagrad"});
  train_row("train_data_truncated_gz", data_truncated_gz,
            {"train", "--model", "lenet", "--data-dir", "{dir}/data", "--out", "{dir}/m.dagrad"}, 1, {"t10k-images-idx3-ubyte.gz"})
      .gone({"m.dagrad", "m.checkpoint.dagrad"});
  train_row("train_data_wrong_magic", data_wrong_magic,
            {"train", "--model", "lenet", "--data-dir", "{dir}/data", "--out", "{dir}/m.dagrad"}, 1, {"t10k-labels-idx1-ubyte", "magic"})
      .gone({"m.dagrad", "m.checkpoint.dagrad"});
  train_row("train_data_label_count", data_label_count,
            {"train", "--model", "lenet", "--data-dir", "{dir}/data", "--out", "{dir}/m.dagrad"}, 1, {"t10k-labels-idx1-ubyte", "9000"})
      .gone({"m.dagrad", "m.checkpoint.dagrad"});
  row("train_resume_missing", none, {"train", "--resume", "{dir}/ck.dagrad"}, 1, {"ck.dagrad: cannot open"}).all_kept();
  row("train_resume_garbage", garbage, {"train", "--resume", "{dir}/g.dagrad"}, 1, {"g.dagrad: not a dagrad file"}).all_kept();
  row("train_resume_not_a_checkpoint", tiny, {"train", "--resume", "{dir}/tiny.dagrad"}, 1, {"tiny.dagrad", "training state"})
      .all_kept();
  row("train_from_garbage", garbage, {"train", "--from", "{dir}/g.dagrad", "--out", "{dir}/m.dagrad"}, 1, {"g.dagrad: not a dagrad file"})
      .keep({"g.dagrad"}).gone({"m.dagrad"});
  row("train_resume_conflicting_lr", trained_here, {"train", "--resume", "{dir}/m.checkpoint.dagrad", "--lr", "0.1"}, 2,
      {"--lr 0.1 conflicts with the checkpoint", "0.05", "Try 'dagrad train --help'."}).all_kept();
  row("train_resume_conflicting_batch", trained_here, {"train", "--resume", "{dir}/m.checkpoint.dagrad", "--batch", "16"}, 2,
      {"--batch 16 conflicts", "32"}).all_kept();
  row("train_resume_finished", trained_here, {"train", "--resume", "{dir}/m.checkpoint.dagrad"}, 0, {"finished"}).out().all_kept();
  train_row("train_diverges", none, {"train", "--model", "lenet", "--lr", "1e30", "--out", "{dir}/m.dagrad"}, 1,
            {"diverged at step"}).gone({"m.dagrad", "m.checkpoint.dagrad"});
  train_row("train_second_writer", lock_held, {"train", "--model", "lenet", "--out", "{dir}/m.dagrad"}, 1, {"another process"})
      .gone({"m.dagrad", "m.checkpoint.dagrad"}).early();
  row("train_batch_exceeds_memory", none,
      {"train", "--model", "resnet_ref", "--out", "{dir}/m.dagrad", "--batch", "60000", "--epochs", "1", "--threads", "2"}, 1,
      {"needs", "available"}).gone({"m.dagrad", "m.checkpoint.dagrad"}).early();
  {
    std::vector<std::string> rerun = {"train", "--model", "resnet_ref", "--limit-train", "128", "--limit-test", "64",
                                      "--epochs", "1", "--batch", "64", "--threads", "2", "--out", "{dir}/m.dagrad"};
    row("train_after_killed_run", killed_train, rerun, 0, {}).made({"m.dagrad"}).then(expect_checkpoints_valid);
  }

  // ---- evaluate
  row("evaluate_nan_parameter", nan_param, {"evaluate", "{dir}/nan.dagrad", "--limit", "100", "--threads", "2"}, 1, {"conv1.w"})
      .all_kept();
  row("evaluate_data_missing_file", [](Scratch& s) { trained(s); data_missing_test_labels(s); },
      {"evaluate", "{dir}/m.dagrad", "--data-dir", "{dir}/data", "--limit", "100"}, 1, {"t10k-labels-idx1-ubyte"});
  row("evaluate_data_folder_missing", trained, {"evaluate", "{dir}/m.dagrad", "--data-dir", "{dir}/nodata"}, 1, {"nodata"});
  row("evaluate_data_truncated_gz", [](Scratch& s) { trained(s); data_truncated_gz(s); },
      {"evaluate", "{dir}/m.dagrad", "--data-dir", "{dir}/data"}, 1, {"t10k-images-idx3-ubyte.gz"});
  row("evaluate_data_label_count", [](Scratch& s) { trained(s); data_label_count(s); },
      {"evaluate", "{dir}/m.dagrad", "--data-dir", "{dir}/data"}, 1, {"t10k-labels-idx1-ubyte", "9000"});
  row("evaluate_data_wrong_magic", [](Scratch& s) { trained(s); data_wrong_magic(s); },
      {"evaluate", "{dir}/m.dagrad", "--data-dir", "{dir}/data"}, 1, {"t10k-labels-idx1-ubyte", "magic"});
  usage("evaluate_split_unknown", {"evaluate", "{dir}/m.dagrad", "--split", "nope"}, {"unknown --split 'nope'; valid: test, train"});
  usage("evaluate_batch_zero", {"evaluate", "{dir}/m.dagrad", "--batch", "0"}, {"--batch must be at least 1, got 0"});
  usage("evaluate_batch_text", {"evaluate", "{dir}/m.dagrad", "--batch", "abc"}, {"--batch must be an integer, got 'abc'"});
  usage("evaluate_threads_5000", {"evaluate", "{dir}/m.dagrad", "--threads", "5000"}, {"--threads must be 0 (all cores)"});
  usage("evaluate_no_file", {"evaluate"}, {"--file"});
  row("evaluate_missing_file", none, {"evaluate", "{dir}/none.dagrad"}, 1, {"none.dagrad: cannot open"});
  row("evaluate_garbage_file", garbage, {"evaluate", "{dir}/g.dagrad"}, 1, {"g.dagrad: not a dagrad file"});
  row("evaluate_wrong_input_shape", tiny, {"evaluate", "{dir}/tiny.dagrad", "--limit", "10"}, 1, {"[2,6,6]", "[1,28,28]"});

  // ---- summary
  usage("summary_nothing", {"summary"}, {"give exactly one of FILE or --model NAME"});
  usage("summary_unknown_model", {"summary", "--model", "nope"}, {"unknown --model 'nope'" + valid_models});
  usage("summary_batch_text", {"summary", "--model", "lenet", "--batch", "abc"}, {"--batch must be an integer, got 'abc'"});
  row("summary_garbage", garbage, {"summary", "{dir}/g.dagrad"}, 1, {"g.dagrad: not a dagrad file"});
  row("summary_missing_file", none, {"summary", "{dir}/none.dagrad"}, 1, {"none.dagrad: cannot open"});
  row("summary_stdout_full", none, {"summary", "--model", "lenet"}, 1, {"standard output"}).to("/dev/full");

  // ---- dump-graph
  usage("dump_graph_nothing", {"dump-graph"}, {"give exactly one of FILE or --model NAME"});
  usage("dump_graph_format_yaml", {"dump-graph", "--model", "lenet", "--format", "yaml"}, {"'yaml'", "text", "dot", "json"});
  usage("dump_graph_unknown_model", {"dump-graph", "--model", "nope"}, {"unknown --model 'nope'" + valid_models});
  row("dump_graph_garbage", garbage, {"dump-graph", "{dir}/g.dagrad"}, 1, {"g.dagrad: not a dagrad file"});
  row("dump_graph_out_folder_missing", none, {"dump-graph", "--model", "lenet", "-o", "{dir}/no/g.txt"}, 1, {"does not exist"})
      .gone({"no"});
  row("dump_graph_readonly_mount", readonly_mount, {"dump-graph", "--model", "lenet", "-o", "{dir}/ro/g.txt"}, 1,
      {"ro/g.txt", "Read-only file system"}).all_kept();
  row("dump_graph_full_tmpfs", full_tmpfs, {"dump-graph", "--model", "vgg16", "--backward", "-o", "{dir}/full/existing.dagrad"}, 1,
      {"No space left on device"}).keep({"full/existing.dagrad"}).no_tmp();
  row("dump_graph_quoted_spaced_path", none, {"dump-graph", "--model", "lenet", "--format", "dot", "-o", "{dir}/a 'b\" c;$(x).dot"},
      0, {}).made({"a 'b\" c;$(x).dot"});
  row("dump_graph_stdout_full", none, {"dump-graph", "--model", "lenet"}, 1, {"standard output"}).to("/dev/full");
  row("dump_graph_out_is_folder", none, {"dump-graph", "--model", "lenet", "-o", "{dir}"}, 1, {"is a folder"});

  // ---- dump-grads
  usage("dump_grads_format_xml", {"dump-grads", "--model", "lenet", "--random", "--format", "xml"},
        {"unknown --format 'xml'; valid: text, json"});
  usage("dump_grads_split_unknown", {"dump-grads", "--model", "lenet", "--split", "nope"}, {"unknown --split 'nope'"});
  row("dump_grads_input_and_random", trained_onnx, {"dump-grads", "{dir}/m.onnx", "--random", "--input", "image={dir}/x.npy"}, 2,
      {"give --input or --random, not both"}).all_kept();
  row("dump_grads_input_missing_label", trained_onnx, {"dump-grads", "{dir}/m.onnx", "--input", "image={dir}/x.npy"}, 2,
      {"missing --input label=FILE"}).all_kept();

  // ---- run
  usage("run_unknown_flag", {"run", "--bogus"}, {"unrecognised option '--bogus'"});
  usage("run_nothing", {"run"}, {"give exactly one of FILE or --model NAME"});
  usage("run_input_without_name", {"run", "--model", "lenet", "--input", "x.npy"}, {"--input must be NAME=FILE"});
  usage("run_format_yaml", {"run", "--model", "lenet", "--format", "yaml"}, {"unknown --format 'yaml'"});
  row("run_missing_input", trained_onnx, {"run", "{dir}/m.onnx"}, 2, {"missing --input image=FILE", "Try 'dagrad run --help'."}).all_kept();
  row("run_unknown_input", trained_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/x.npy", "--input", "pixels={dir}/x.npy"}, 2,
      {"--input pixels: the model has no input named 'pixels'"}).all_kept();
  row("run_garbage_npy", garbage_npy_and_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/g.npy", "--out", "{dir}/out"}, 1,
      {"g.npy: truncated .npy file"}).keep({"m.onnx", "g.npy"});
  row("run_missing_npy", trained_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/none.npy"}, 1, {"none.npy: cannot open"}).all_kept();
  row("run_garbage_model", garbage_onnx, {"run", "{dir}/g.onnx"}, 1, {"g.onnx"}).all_kept();
  row("run_out_is_file", trained_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/x.npy", "--out", "{dir}/m.dagrad"}, 2,
      {"is a file, not a folder"}).all_kept();
  row("run_writes_out", trained_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/x.npy", "--out", "{dir}/out"}, 0, {})
      .keep({"m.onnx", "x.npy"}).made({"out/index.json", "out/logits.npy"}).no_tmp();
  row("run_stdout_full", trained_onnx, {"run", "{dir}/m.onnx", "--input", "image={dir}/x.npy"}, 1, {"standard output"}).to("/dev/full");

  usage("dump_grads_nothing", {"dump-grads"}, {"give exactly one of FILE or --model NAME"});
  row("dump_grads_garbage", garbage, {"dump-grads", "{dir}/g.dagrad", "--random"}, 1, {"g.dagrad: not a dagrad file"});
  row("dump_grads_out_is_file", garbage, {"dump-grads", "--model", "lenet", "--random", "--out", "{dir}/g.dagrad"}, 1,
      {"is a file, not a folder"}).all_kept();
  row("dump_grads_readonly_mount", readonly_mount, {"dump-grads", "--model", "lenet", "--random", "--out", "{dir}/ro/grads"}, 1,
      {"ro/grads", "Read-only file system"}).all_kept().early();
  row("dump_grads_full_tmpfs", full_tmpfs, {"dump-grads", "--model", "lenet", "--random", "--out", "{dir}/full"}, 1,
      {"No space left on device"}).keep({"full/existing.dagrad"}).no_tmp();
  row("dump_grads_data_missing_labels", data_missing_train_labels,
      {"dump-grads", "--model", "lenet", "--data-dir", "{dir}/data"}, 1, {"train-labels-idx1-ubyte"});
  row("dump_grads_stdout_full", none, {"dump-grads", "--model", "lenet", "--random", "--batch", "2"}, 1, {"standard output"})
      .to("/dev/full");

  // ---- bench
  usage("bench_unknown_model", {"bench", "--model", "nope"}, {"unknown --model 'nope'" + valid_models});
  usage("bench_batch_zero", {"bench", "--batch", "0"}, {"--batch must be at least 1, got 0"});
  usage("bench_threads_5000", {"bench", "--threads", "5000"}, {"--threads must be 0 (all cores) or from 1 to 1024, got 5000"});
  usage("bench_steps_zero", {"bench", "--steps", "0"}, {"--steps must be at least 1, got 0"});
  usage("bench_unknown_flag", {"bench", "--bogus"}, {"unrecognised option '--bogus'"});
  row("bench_batch_exceeds_memory", none, {"bench", "--model", "resnet_ref", "--batch", "10000000"}, 1, {"needs", "available"})
      .early();
  row("bench_json_stdout_full", none, {"bench", "--model", "lenet", "--batch", "4", "--steps", "1", "--warmup", "0", "--json"}, 1,
      {"standard output"}).to("/dev/full");

  // ---- profile
  usage("profile_iterations_zero", {"profile", "--model", "lenet", "--iterations", "0"}, {"--iterations must be at least 1, got 0"});
  usage("profile_top_negative", {"profile", "--model", "lenet", "--top=-1"}, {"--top must be at least 0, got -1"});
  usage("profile_unknown_model", {"profile", "--model", "nope"}, {"unknown --model 'nope'" + valid_models});
  row("profile_garbage", garbage, {"profile", "{dir}/g.dagrad"}, 1, {"g.dagrad: not a dagrad file"});
  row("profile_missing_file", none, {"profile", "{dir}/none.dagrad"}, 1, {"none.dagrad"});
  row("profile_nan_parameter_runs", nan_param, {"profile", "{dir}/nan.dagrad", "--batch", "2", "--iterations", "1"}, 0, {})
      .all_kept();
  row("profile_stdout_full", none, {"profile", "--model", "lenet", "--batch", "2", "--iterations", "1"}, 1, {"standard output"})
      .to("/dev/full");
  return t;
}

// gtest prints a row by its name, not its bytes.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

std::string substitute(std::string s, const fs::path& dir) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"{dir}", dir.string()}, {"{data}", kData}})
    for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
  return s;
}

class CliFault : public ::testing::TestWithParam<Row> {
 protected:
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("dagrad_cli_fault_shared_" + std::to_string(::getpid())), ec);
  }
};

TEST_P(CliFault, Row) {
  const Row& row = GetParam();
  Scratch s;
  s.dir = fs::temp_directory_path() / ("dagrad_cli_fault_" + std::to_string(::getpid()) + "_" + row.name);
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  row.setup(s);
  if (!s.skip.empty()) GTEST_SKIP() << s.skip;
  if (HasFatalFailure()) return;

  std::vector<std::string> args;
  for (const auto& a : row.args) args.push_back(substitute(a, s.dir));
  const auto before = snapshot(s.dir);

  ProcessResult r = run_tool(args, {.stdout_path = row.stdout_path, .timeout = std::chrono::seconds(120)});
  s.lock.reset();

  std::string command = "dagrad";
  for (const auto& a : args) command += " '" + a + "'";
  SCOPED_TRACE(command + (row.stdout_path.empty() ? "" : " > " + row.stdout_path));

  EXPECT_EQ(r.exit_code, row.exit_code) << describe(r);
  EXPECT_EQ(r.signal, 0) << describe(r);
  const std::string& stream = row.in_stdout ? r.out : r.err;
  for (const auto& m : row.messages) {
    const std::string want = substitute(m, s.dir);
    EXPECT_NE(stream.find(want), std::string::npos) << "wanted in " << (row.in_stdout ? "stdout" : "stderr") << ": " << want
                                                    << "\n" << describe(r);
  }
  if (row.exit_code == 1 && !row.in_stdout) {
    const std::string prefix = "dagrad " + args[0] + ": error: ";
    EXPECT_NE(r.err.find(prefix), std::string::npos) << "wanted the '" << prefix << "' line\n" << describe(r);
  }
  if (row.before_work) {
    EXPECT_TRUE(r.out.empty()) << "expected the failure before any work\n" << describe(r);
  }

  const auto after = snapshot(s.dir);
  for (const auto& rel : row.unchanged) {
    ASSERT_TRUE(before.count(rel)) << "setup did not make " << rel;
    ASSERT_TRUE(after.count(rel)) << rel << " was removed\n" << describe(r);
    EXPECT_TRUE(before.at(rel) == after.at(rel)) << rel << " changed\n" << describe(r);
  }
  if (row.folder_unchanged) {
    for (const auto& [rel, bytes] : after) {
      auto it = before.find(rel);
      if (it == before.end()) {
        ADD_FAILURE() << "new file " << rel << "\n" << describe(r);
      } else {
        EXPECT_TRUE(it->second == bytes) << rel << " changed\n" << describe(r);
      }
    }
    for (const auto& [rel, bytes] : before)
      EXPECT_TRUE(after.count(rel)) << rel << " was removed\n" << describe(r);
  }
  for (const auto& rel : row.absent) EXPECT_FALSE(after.count(rel)) << rel << " exists\n" << describe(r);
  for (const auto& rel : row.present) EXPECT_TRUE(after.count(rel)) << rel << " missing\n" << describe(r);
  if (row.no_temporaries)
    for (const auto& [rel, bytes] : after) {
      EXPECT_EQ(rel.find(".tmp."), std::string::npos) << "leftover " << rel << "\n" << describe(r);
    }
  if (row.after) row.after(s.dir);
}

INSTANTIATE_TEST_SUITE_P(Rows, CliFault, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

}  // namespace
}  // namespace dagrad::testing
