#include "tools/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "graph/error.h"

namespace dagrad::cli {

namespace {

constexpr double kPanelWidth = 470, kPanelHeight = 360;
constexpr double kLeft = 70, kRight = 16, kTop = 46, kBottom = 52;  // plot area margins inside a panel
constexpr double kTitleHeight = 30, kLegendRowHeight = 20, kLegendColumnWidth = 230;

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

std::string fixed(double v) {  // coordinates: two decimals are finer than a pixel
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

std::string tick_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

// 0 to a multiple of a 1-2-5 step at or above `hi`, about five ticks.
struct Axis {
  double hi, step;
};
Axis nice_axis(double hi) {
  if (!(hi > 0)) hi = 1;
  const double raw = hi / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  return {std::ceil(hi / step - 1e-9) * step, step};
}

void draw_panel(std::ostringstream& svg, double x0, double y0, const PlotPanel& panel, const std::string& x_label,
                const std::string& y_label) {
  double lo = INFINITY, hi = -INFINITY, y_max = 0;
  for (const PlotLine& line : panel.lines)
    for (auto [x, y] : line.points) {
      lo = std::min(lo, std::log2(x));
      hi = std::max(hi, std::log2(x));
      y_max = std::max(y_max, y);
    }
  if (!(lo <= hi)) lo = 0, hi = 1;  // no points: an empty frame
  if (hi - lo < 1) lo -= 0.5, hi += 0.5;
  const Axis y_axis = nice_axis(y_max);
  const double left = x0 + kLeft, right = x0 + kPanelWidth - kRight, top = y0 + kTop, bottom = y0 + kPanelHeight - kBottom;
  auto px = [&](double x) { return left + (std::log2(x) - lo) / (hi - lo) * (right - left); };
  auto py = [&](double y) { return bottom - y / y_axis.hi * (bottom - top); };

  svg << "<g class=\"panel\">\n";
  svg << "<text x=\"" << fixed((left + right) / 2) << "\" y=\"" << fixed(y0 + 26)
      << "\" text-anchor=\"middle\" font-size=\"15\">" << xml(panel.title) << "</text>\n";
  for (double v = 0; v <= y_axis.hi * (1 + 1e-9); v += y_axis.step) {
    svg << "<line x1=\"" << fixed(left) << "\" y1=\"" << fixed(py(v)) << "\" x2=\"" << fixed(right) << "\" y2=\"" << fixed(py(v))
        << "\" stroke=\"#ddd\"/>\n";
    svg << "<text x=\"" << fixed(left - 6) << "\" y=\"" << fixed(py(v) + 4) << "\" text-anchor=\"end\" font-size=\"11\">"
        << tick_text(v) << "</text>\n";
  }
  for (double e = std::ceil(lo); e <= hi; ++e) {
    const double x = std::exp2(e);
    svg << "<line x1=\"" << fixed(px(x)) << "\" y1=\"" << fixed(top) << "\" x2=\"" << fixed(px(x)) << "\" y2=\"" << fixed(bottom)
        << "\" stroke=\"#eee\"/>\n";
    svg << "<text x=\"" << fixed(px(x)) << "\" y=\"" << fixed(bottom + 16) << "\" text-anchor=\"middle\" font-size=\"11\">"
        << tick_text(x) << "</text>\n";
  }
  svg << "<rect x=\"" << fixed(left) << "\" y=\"" << fixed(top) << "\" width=\"" << fixed(right - left) << "\" height=\""
      << fixed(bottom - top) << "\" fill=\"none\" stroke=\"#444\"/>\n";
  svg << "<text x=\"" << fixed((left + right) / 2) << "\" y=\"" << fixed(bottom + 38)
      << "\" text-anchor=\"middle\" font-size=\"12\">" << xml(x_label) << "</text>\n";
  const double y_mid = (top + bottom) / 2;
  svg << "<text x=\"" << fixed(x0 + 16) << "\" y=\"" << fixed(y_mid) << "\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 "
      << fixed(x0 + 16) << " " << fixed(y_mid) << ")\">" << xml(y_label) << "</text>\n";
  for (const PlotLine& line : panel.lines) {
    std::ostringstream points;
    for (auto [x, y] : line.points) points << fixed(px(x)) << "," << fixed(py(y)) << " ";
    svg << "<polyline class=\"line\" data-label=\"" << xml(line.label) << "\" fill=\"none\" stroke=\"" << xml(line.color)
        << "\" stroke-width=\"2\"" << (line.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"" << points.str() << "\"/>\n";
    for (auto [x, y] : line.points)
      svg << "<circle cx=\"" << fixed(px(x)) << "\" cy=\"" << fixed(py(y)) << "\" r=\"2.5\" fill=\"" << xml(line.color) << "\"/>\n";
  }
  svg << "</g>\n";
}

}  // namespace

std::string log2_line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                                const std::vector<PlotPanel>& panels) {
  // The legend lists each (label, colour, dash) once, in order of first appearance.
  std::vector<const PlotLine*> legend;
  for (const PlotPanel& panel : panels)
    for (const PlotLine& line : panel.lines) {
      for (auto [x, y] : line.points)
        if (!(x > 0) || !std::isfinite(x) || !std::isfinite(y))
          fail("plot '", title, "': line '", line.label, "' in panel '", panel.title, "' has the point (", x, ", ", y,
               "); x must be positive (log2 axis) and y finite");
      const bool seen = std::any_of(legend.begin(), legend.end(), [&](const PlotLine* l) {
        return l->label == line.label && l->color == line.color && l->dashed == line.dashed;
      });
      if (!seen) legend.push_back(&line);
    }
  const double width = kPanelWidth * static_cast<double>(std::max<std::size_t>(panels.size(), 1));
  const auto columns = std::max<std::size_t>(1, static_cast<std::size_t>(width / kLegendColumnWidth));
  const double legend_height = kLegendRowHeight * static_cast<double>((legend.size() + columns - 1) / columns) + 10;
  const double height = kTitleHeight + kPanelHeight + legend_height;

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fixed(width) << "\" height=\"" << fixed(height)
      << "\" viewBox=\"0 0 " << fixed(width) << " " << fixed(height) << "\" font-family=\"sans-serif\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  svg << "<text x=\"" << fixed(width / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">"
      << xml(title) << "</text>\n";
  for (std::size_t i = 0; i < panels.size(); ++i)
    draw_panel(svg, kPanelWidth * static_cast<double>(i), kTitleHeight, panels[i], x_label, y_label);
  svg << "<g class=\"legend\">\n";
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const double x = 20 + kLegendColumnWidth * static_cast<double>(i % columns);
    const double y = kTitleHeight + kPanelHeight + kLegendRowHeight * static_cast<double>(i / columns) + 8;
    svg << "<line x1=\"" << fixed(x) << "\" y1=\"" << fixed(y) << "\" x2=\"" << fixed(x + 28) << "\" y2=\"" << fixed(y)
        << "\" stroke=\"" << xml(legend[i]->color) << "\" stroke-width=\"2\""
        << (legend[i]->dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
    svg << "<text x=\"" << fixed(x + 34) << "\" y=\"" << fixed(y + 4) << "\" font-size=\"12\">" << xml(legend[i]->label)
        << "</text>\n";
  }
  svg << "</g>\n</svg>\n";
  return svg.str();
}

}  // namespace dagrad::cli
