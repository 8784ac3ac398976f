#include "tools/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace dagrad::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<long long>(std::llround(seconds));
  char buffer[32];
  if (total >= 3600)
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", total / 60, total % 60);
  return buffer;
}

namespace {

std::string status(const train::BatchProgress& p) {
  const double rate = p.seconds > 0 ? static_cast<double>(p.images) / p.seconds : 0;
  const double eta = p.batch > 0 ? p.seconds / static_cast<double>(p.batch) * static_cast<double>(p.batches - p.batch) : NAN;
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%lld/%lld  loss %.4f  acc %6.2f%%  %.0f img/s  ETA %s",
                static_cast<long long>(p.batch), static_cast<long long>(p.batches), p.loss, 100 * p.accuracy, rate,
                format_duration(eta).c_str());
  return buffer;
}

}  // namespace

void ProgressReporter::batch(const train::BatchProgress& p) {
  const std::string epoch = "epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs);
  if (!terminal_) {
    const std::int64_t tenth = p.batches > 0 ? p.batch * 10 / p.batches : 10;
    if (p.batch == 1) last_tenth_ = 0;
    if (tenth > last_tenth_ && p.batch < p.batches) {  // the epoch summary covers the last batch
      last_tenth_ = tenth;
      out_ << epoch << "  batch " << status(p) << std::endl;
    }
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (p.batch != p.batches && bar_shown_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  const int filled = p.batches > 0 ? static_cast<int>(kWidth * p.batch / p.batches) : kWidth;
  std::string bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                    std::string(static_cast<std::size_t>(kWidth - filled), '.') + "]";
  out_ << "\r\x1b[K" << epoch << " " << bar << " " << status(p) << std::flush;
  bar_shown_ = true;
}

void ProgressReporter::end_epoch() {
  if (terminal_ && bar_shown_) out_ << "\r\x1b[K" << std::flush;
  bar_shown_ = false;
  last_tenth_ = 0;
}

std::string format_epoch(const train::EpochMetrics& m, std::int64_t epochs) {
  char buffer[256];
  int n = std::snprintf(buffer, sizeof buffer, "epoch %lld/%lld  train loss %.4f acc %.2f%%", static_cast<long long>(m.epoch),
                        static_cast<long long>(epochs), m.train_loss, 100 * m.train_accuracy);
  if (std::isfinite(m.test_accuracy))
    n += std::snprintf(buffer + n, sizeof buffer - static_cast<std::size_t>(n), "  test loss %.4f acc %.2f%%", m.test_loss,
                       100 * m.test_accuracy);
  std::snprintf(buffer + n, sizeof buffer - static_cast<std::size_t>(n), "  %.1f s + %.1f s eval  lr %.4g", m.train_seconds,
                m.test_seconds, m.lr);
  return buffer;
}

}  // namespace dagrad::cli
