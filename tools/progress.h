#pragma once
// Training progress for people: a live bar on a terminal, plain log lines otherwise (files, CI).
#include <chrono>
#include <iosfwd>
#include <string>

#include "train/trainer.h"

namespace dagrad::cli {

class ProgressReporter {
 public:
  // `terminal`: redraw one line in place; otherwise print a line every tenth of an epoch.
  ProgressReporter(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
  void batch(const train::BatchProgress& p);
  // Clears the bar; the caller prints the epoch summary.
  void end_epoch();

 private:
  std::ostream& out_;
  bool terminal_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::int64_t last_tenth_ = 0;
  bool bar_shown_ = false;
};

// "1:05:03", "4:07", "0:09".
std::string format_duration(double seconds);

// "epoch 2/5  train loss 0.3123 acc 88.61%  test loss 0.2987 acc 89.20%  74.2 s + 3.1 s eval  lr 0.0345"
std::string format_epoch(const train::EpochMetrics& m, std::int64_t epochs);

}  // namespace dagrad::cli
