#pragma once
// Runs a program the way a user would, without a shell: an argument vector, captured stdout and
// stderr, optional stdin text, working directory, extra environment and a timeout.
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dagrad::testing {

struct ProcessOptions {
  std::string cwd;                           // working directory of the child; empty: ours
  std::map<std::string, std::string> env;    // set (or override) these variables in the child
  std::string stdin_text;                    // fed to the child's stdin, then closed
  std::string stdout_path;                   // if set, stdout goes to this file (e.g. "/dev/full")
  std::chrono::milliseconds timeout{300000}; // then the child is killed with SIGKILL
};

struct ProcessResult {
  int exit_code = -1;  // -1 if the child was killed by a signal (or could not be started)
  int signal = 0;      // the signal that killed it, 0 if it exited
  bool timed_out = false;
  std::string out, err;
};

// Throws std::runtime_error if the program cannot be started (err names the reason).
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// run_process with the built `dagrad` tool prepended.
ProcessResult run_tool(std::vector<std::string> args, const ProcessOptions& options = {});

// An empty folder for one test's files: <tmp>/dagrad_<name>_<pid>, emptied first if it exists.
std::filesystem::path fresh_scratch_dir(const std::string& name);

// For gtest failure messages: the exit and both outputs.
std::string describe(const ProcessResult& result);

}  // namespace dagrad::testing
