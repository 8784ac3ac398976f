#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "graph/error.h"

namespace dagrad::train {

namespace {

constexpr const char* kCsvHeader = "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,test_seconds";

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string short_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", v);
  return buffer;
}

// Escapes text for SVG.
std::string xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// An axis from `lo` to `hi` widened to multiples of a 1-2-5 step giving about five ticks.
struct Axis {
  double lo, hi, step;
};
Axis nice_axis(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

struct Series {
  std::string label;
  std::string color;
  std::vector<double> values;  // per epoch; NaN = missing
};

// One chart panel at (x0, y0) of size w x h: frame, ticks, grid, polylines with markers, legend.
void panel(std::ostringstream& svg, double x0, double y0, double w, double h, const std::string& title,
           const std::vector<std::int64_t>& epochs, const std::vector<Series>& series, const Axis& axis,
           double label_scale, bool legend_at_bottom) {
  const double y_min = axis.lo, y_max = axis.hi;
  const double left = x0 + 60, right = x0 + w - 10, top = y0 + 30, bottom = y0 + h - 45;
  const std::int64_t e_min = epochs.empty() ? 1 : epochs.front();
  const std::int64_t e_max = epochs.empty() ? 1 : std::max(epochs.back(), e_min + 1);
  auto px = [&](double epoch) { return left + (epoch - static_cast<double>(e_min)) / static_cast<double>(e_max - e_min) * (right - left); };
  auto py = [&](double v) { return bottom - (v - y_min) / (y_max - y_min) * (bottom - top); };

  svg << "<text x=\"" << (left + right) / 2 << "\" y=\"" << y0 + 18 << "\" text-anchor=\"middle\" font-size=\"15\">"
      << xml(title) << "</text>\n";
  const int ticks = static_cast<int>(std::llround((y_max - y_min) / axis.step));
  for (int i = 0; i <= ticks; ++i) {  // y ticks and grid
    double v = y_min + axis.step * i;
    svg << "<line x1=\"" << left << "\" y1=\"" << py(v) << "\" x2=\"" << right << "\" y2=\"" << py(v)
        << "\" stroke=\"#e4e4e4\"/>\n";
    svg << "<text x=\"" << left - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\" font-size=\"11\">"
        << short_number(v * label_scale) << "</text>\n";
  }
  const std::int64_t tick_every = std::max<std::int64_t>(1, (e_max - e_min + 9) / 10);
  for (std::int64_t e = e_min; e <= e_max; e += tick_every) {  // x ticks
    svg << "<line x1=\"" << px(static_cast<double>(e)) << "\" y1=\"" << bottom << "\" x2=\"" << px(static_cast<double>(e))
        << "\" y2=\"" << bottom + 5 << "\" stroke=\"#000\"/>\n";
    svg << "<text x=\"" << px(static_cast<double>(e)) << "\" y=\"" << bottom + 18 << "\" text-anchor=\"middle\" font-size=\"11\">"
        << e << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << right - left << "\" height=\"" << bottom - top
      << "\" fill=\"none\" stroke=\"#000\"/>\n";
  svg << "<text x=\"" << (left + right) / 2 << "\" y=\"" << bottom + 36 << "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";

  // The legend goes where the curves usually are not: top right for falling loss, bottom right for rising accuracy.
  double legend_y = legend_at_bottom ? bottom - 8 - 16 * static_cast<double>(series.size() - 1) : top + 14;
  for (const Series& s : series) {
    std::ostringstream points;
    int count = 0;
    for (std::size_t i = 0; i < epochs.size() && i < s.values.size(); ++i) {
      if (!std::isfinite(s.values[i])) continue;
      double x = px(static_cast<double>(epochs[i])), y = py(s.values[i]);
      points << x << "," << y << " ";
      svg << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3\" fill=\"" << s.color << "\"/>\n";
      ++count;
    }
    if (count == 0) continue;
    svg << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"" << points.str() << "\"/>\n";
    svg << "<line x1=\"" << right - 120 << "\" y1=\"" << legend_y - 4 << "\" x2=\"" << right - 100 << "\" y2=\""
        << legend_y - 4 << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"/>\n";
    svg << "<text x=\"" << right - 94 << "\" y=\"" << legend_y << "\" font-size=\"12\">" << xml(s.label) << "</text>\n";
    legend_y += 16;
  }
}

std::pair<double, double> value_range(const std::vector<Series>& series) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (!std::isfinite(lo)) return {0, 1};
  return {lo, hi};
}

}  // namespace

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::string csv = std::string(kCsvHeader) + "\n";
  for (const EpochMetrics& m : history) {
    csv += std::to_string(m.epoch);
    for (double v : {m.lr, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy, m.train_seconds, m.test_seconds})
      csv += "," + number(v);
    csv += "\n";
  }
  return csv;
}

std::vector<EpochMetrics> parse_metrics_csv(const std::string& csv) {
  std::istringstream in(csv);
  std::string line;
  if (!std::getline(in, line) || line != kCsvHeader) fail("metrics CSV: the first line is not '", kCsvHeader, "'");
  std::vector<EpochMetrics> history;
  int line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    std::vector<double> fields;
    std::istringstream row(line);
    std::string field;
    while (std::getline(row, field, ',')) {
      try {
        std::size_t used = 0;
        fields.push_back(std::stod(field, &used));
        if (used != field.size()) throw std::invalid_argument(field);
      } catch (const std::exception&) {
        fail("metrics CSV line ", line_number, ": '", field, "' is not a number");
      }
    }
    if (fields.size() != 8) fail("metrics CSV line ", line_number, ": ", fields.size(), " fields, expected 8");
    EpochMetrics m;
    m.epoch = static_cast<std::int64_t>(fields[0]);
    m.lr = fields[1];
    m.train_loss = fields[2];
    m.train_accuracy = fields[3];
    m.test_loss = fields[4];
    m.test_accuracy = fields[5];
    m.train_seconds = fields[6];
    m.test_seconds = fields[7];
    history.push_back(m);
  }
  return history;
}

std::string metrics_svg(const std::vector<EpochMetrics>& history, const std::string& title) {
  std::vector<std::int64_t> epochs;
  Series train_loss{"train loss", "#1f77b4", {}}, test_loss{"test loss", "#ff7f0e", {}};
  Series train_acc{"train accuracy", "#1f77b4", {}}, test_acc{"test accuracy", "#ff7f0e", {}};
  for (const EpochMetrics& m : history) {
    epochs.push_back(m.epoch);
    train_loss.values.push_back(m.train_loss);
    test_loss.values.push_back(m.test_loss);
    train_acc.values.push_back(m.train_accuracy);
    test_acc.values.push_back(m.test_accuracy);
  }
  const double width = 900, height = 380;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
      << width << " " << height << "\" font-family=\"sans-serif\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  svg << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">" << xml(title)
      << "</text>\n";
  const double loss_hi = value_range({train_loss, test_loss}).second;
  panel(svg, 0, 30, width / 2, height - 30, "loss", epochs, {train_loss, test_loss}, nice_axis(0, loss_hi), 1, false);
  auto [acc_lo, acc_hi] = value_range({train_acc, test_acc});
  Axis accuracy = nice_axis(std::max(0.0, acc_lo - 0.02), std::min(1.0, acc_hi + 0.01));
  accuracy.hi = std::min(accuracy.hi, 1.0);
  panel(svg, width / 2, 30, width / 2, height - 30, "accuracy (%)", epochs, {train_acc, test_acc}, accuracy, 100, true);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace dagrad::train
