#pragma once
// Per-epoch training metrics: a CSV table and an SVG chart of loss and accuracy a person can open.
#include <cstdint>
#include <string>
#include <vector>

namespace dagrad::train {

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double lr = 0;           // the learning rate of the epoch's last step
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;      // NaN without a test set
  double test_accuracy = 0;  // NaN without a test set
  double train_seconds = 0;
  double test_seconds = 0;
};

// "epoch,lr,train_loss,..." then one row per epoch; numbers round-trip exactly.
std::string metrics_csv(const std::vector<EpochMetrics>& history);
// Parses metrics_csv's output; throws naming the line on anything else.
std::vector<EpochMetrics> parse_metrics_csv(const std::string& csv);

// Two panels (loss; accuracy) with axes, ticks, a legend and one polyline per series.
std::string metrics_svg(const std::vector<EpochMetrics>& history, const std::string& title);

}  // namespace dagrad::train
