// dagrad dump-graph: the graph's structure as text, Graphviz DOT (Boost.Graph write_graphviz), JSON,
// or an SVG/PNG drawn by Graphviz's `dot`.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>

#include "autodiff/grad.h"
#include "graph/dump.h"
#include "proto/model_file.h"
#include "tools/model_source.h"
#include "tools/output_check.h"

extern char** environ;

namespace dagrad::cli {

namespace {

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Writes all of `bytes` to a pipe. SIGPIPE is blocked around the write so a reader that died gives
// EPIPE here instead of killing the tool; a pending SIGPIPE is consumed before unblocking.
bool write_all_to_pipe(int fd, const std::string& bytes, int& error) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool ok = true;
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (!ok && error == EPIPE && !sigismember(&old, SIGPIPE)) {
    timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Renders DOT text with Graphviz `dot` into `path`. No shell: dot gets an argument vector and the
// DOT text on a pipe, and writes a temporary file in the target's folder that is renamed over the
// target only when dot succeeded, so a failed render leaves the old target (or none) in place.
void render_with_dot(const std::string& dot, const std::string& format, const std::string& path) {
  std::size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  // The temporary always has a folder prefix, so dot never reads it as a flag; the leading dot
  // keeps it hidden, and O_EXCL reserves the name before dot opens it.
  std::string tmp = (slash == std::string::npos ? std::string("./") : path.substr(0, slash + 1)) + "." + base +
                    ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  {
    Fd reserve(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (reserve.fd < 0) fail("cannot create '", tmp, "': ", std::strerror(errno));
  }
  struct RemoveTmp {
    const std::string& tmp;
    bool keep = false;
    ~RemoveTmp() {
      if (!keep) ::unlink(tmp.c_str());
    }
  } remove_tmp{tmp};

  int in_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) fail("cannot create a pipe for `dot`: ", std::strerror(errno));
  Fd in_read(in_pipe[0]), in_write(in_pipe[1]);
  // dot's stderr goes to an anonymous in-memory file: it can never fill up and block dot while we
  // are still writing its input.
  Fd err(::memfd_create("dot-stderr", MFD_CLOEXEC));
  if (err.fd < 0) fail("cannot capture the stderr of `dot`: ", std::strerror(errno));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.fd, STDIN_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err.fd, STDERR_FILENO);
  std::string type = "-T" + format, output = "-o" + tmp;
  char* argv[] = {const_cast<char*>("dot"), type.data(), output.data(), nullptr};
  pid_t pid = -1;
  int spawn_error = ::posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error == ENOENT)
    fail("--format ", format, " needs Graphviz's `dot`, which is not on PATH (apt-get install graphviz), or use --format dot");
  if (spawn_error != 0) fail("cannot run Graphviz `dot`: ", std::strerror(spawn_error));
  in_read.reset();

  int write_error = 0;
  bool written = write_all_to_pipe(in_write.fd, dot, write_error);
  in_write.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string stderr_text = read_all(err.fd);
  if (!stderr_text.empty()) stderr_text = ": " + stderr_text;
  if (WIFSIGNALED(status)) fail("Graphviz `dot` was killed by signal ", WTERMSIG(status), stderr_text);
  if (WEXITSTATUS(status) != 0) fail("Graphviz `dot` failed with exit status ", WEXITSTATUS(status), stderr_text);
  if (!written) fail("cannot send the graph to Graphviz `dot`: ", std::strerror(write_error), stderr_text);

  {
    Fd out(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    if (out.fd < 0 || ::fsync(out.fd) != 0) fail("cannot sync '", tmp, "': ", std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  remove_tmp.keep = true;
  Fd folder(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.fd >= 0) ::fsync(folder.fd);
}

}  // namespace
int run_dump_graph(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 1);
  options.add_options()("backward", "the autodiff graph (forward + backward) instead of the forward graph")(
      "format", po::value<std::string>()->default_value("text"), "text | dot | json | svg | png")(
      "out,o", po::value<std::string>(), "write to this file (required for svg and png; default stdout)");
  po::variables_map vm;
  if (!parse("dump-graph", "FILE | --model NAME [--backward] [--format text|dot|json|svg|png] [-o OUT]", options,
             positional, args, vm))
    return kExitOk;
  std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "dot" && format != "json" && format != "svg" && format != "png")
    throw UsageError("--format must be text, dot, json, svg or png, got '" + format + "'");
  if ((format == "svg" || format == "png") && !vm.count("out")) throw UsageError("--format " + format + " needs --out FILE");
  // A bad output path fails now, not after the model was loaded and differentiated.
  if (vm.count("out")) check_output_writable(vm["out"].as<std::string>(), "--out");
  Model model = load_model_source(vm, true, vm.count("backward") > 0);  // --backward differentiates a loss
  Graph graph = vm.count("backward") ? autodiff::grad_parameters(model.graph).graph : model.graph;

  std::string text;
  if (format == "text") text = graph_to_text(graph);
  else if (format == "json") text = graph_to_json(graph);
  else text = graph_to_dot(graph);
  if (format == "svg" || format == "png") {
    render_with_dot(text, format, vm["out"].as<std::string>());
    return kExitOk;
  }
  if (vm.count("out")) write_file_atomically(vm["out"].as<std::string>(), text);
  else std::cout << text;
  return kExitOk;
}

}  // namespace dagrad::cli
