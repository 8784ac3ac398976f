#pragma once
// Line charts as plain SVG text (no plotting dependency): panels side by side sharing one legend,
// the x axis on a log2 scale (batch sizes), the y axis linear from 0. Used by `dagrad bench --sweep`.
#include <string>
#include <utility>
#include <vector>

namespace dagrad::cli {

struct PlotLine {
  std::string label;   // legend text
  std::string color;   // any SVG colour, "#1f77b4"
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x > 0, y), drawn in the order given
};

struct PlotPanel {
  std::string title;
  std::vector<PlotLine> lines;
};

// One chart per panel, left to right, with a title over all of them and the axis labels under
// and beside each. x values must be positive (log2 axis; ticks at the powers of two in range);
// y values must be finite. Fails (dagrad::Error) naming the line otherwise. Text is XML-escaped.
std::string log2_line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                                const std::vector<PlotPanel>& panels);

}  // namespace dagrad::cli
