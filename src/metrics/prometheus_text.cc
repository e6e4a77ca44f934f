// metrics/prometheus_text.cc — Prometheus text exposition format 0.0.4.
//
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
// Histograms: <name>_bucket{...,le="<bound>"} cumulative counts ending with
// le="+Inf", then <name>_sum and <name>_count.
#include <cmath>
#include <cstdio>
#include <string>

#include "multicache/metrics.hpp"

namespace multicache {

namespace {

void append_escaped(std::string& out, const std::string& s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest form that reads back the same (0.0025, not 0.0025000000000000001).
  for (int precision = 1; precision <= 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

void append_labels(std::string& out, const MetricLabels& labels, const char* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v, true);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string to_prometheus_text(const std::vector<MetricFamily>& families) {
  std::string out;
  out.reserve(8192);
  for (const auto& f : families) {
    out += "# HELP " + f.name + ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE " + f.name + ' ';
    out += f.type == metric_type::counter ? "counter"
           : f.type == metric_type::gauge ? "gauge"
                                          : "histogram";
    out += '\n';
    for (const auto& s : f.samples) {
      out += f.name;
      append_labels(out, s.labels);
      out += ' ' + format_number(s.value) + '\n';
    }
    for (const auto& h : f.histograms) {
      for (const auto& [bound, cumulative] : h.buckets) {
        out += f.name + "_bucket";
        append_labels(out, h.labels, format_number(bound).c_str());
        out += ' ' + format_number(static_cast<double>(cumulative)) + '\n';
      }
      out += f.name + "_bucket";
      append_labels(out, h.labels, "+Inf");
      out += ' ' + format_number(static_cast<double>(h.count)) + '\n';
      out += f.name + "_sum";
      append_labels(out, h.labels);
      out += ' ' + format_number(h.sum) + '\n';
      out += f.name + "_count";
      append_labels(out, h.labels);
      out += ' ' + format_number(static_cast<double>(h.count)) + '\n';
    }
  }
  return out;
}

}  // namespace multicache
