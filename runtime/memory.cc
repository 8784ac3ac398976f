#include "runtime/memory.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "graph/error.h"

namespace dagrad::runtime {

namespace {

constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return s.str();
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::optional<std::int64_t> parse_int(const std::string& text) {
  std::string t = trim(text);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v < 0) return std::nullopt;
  return v;
}

// MemAvailable (kB) from /proc/meminfo, in bytes.
std::optional<std::int64_t> meminfo_available() {
  auto text = read_text("/proc/meminfo");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    long long kb = -1;
    std::string unit;
    if (!(fields >> kb) || kb < 0) return std::nullopt;
    fields >> unit;
    if (!unit.empty() && unit != "kB") return std::nullopt;
    if (kb > kUnlimited / 1024) return kUnlimited;
    return static_cast<std::int64_t>(kb) * 1024;
  }
  return std::nullopt;
}

// This process's cgroup paths from /proc/self/cgroup: v2 ("0::/path") and v1 memory ("N:memory:/path").
void own_cgroups(std::string& v2, std::string& v1_memory) {
  auto text = read_text("/proc/self/cgroup");
  if (!text) return;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2 = path;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');)
      if (c == "memory") v1_memory = path;
  }
}

// Folders to look in for a cgroup's files: the cgroup's own folder and its ancestors under the
// mount (a container often sees only the mount's root, so that is always tried last).
std::vector<std::string> candidate_dirs(const std::string& mount, const std::string& path) {
  std::vector<std::string> dirs;
  std::string p = path;
  while (!p.empty() && p != "/") {
    dirs.push_back(mount + p);
    p = p.substr(0, p.rfind('/'));
  }
  dirs.push_back(mount);
  return dirs;
}

// Room left under a limit file and a usage file in the first folder holding both; the smallest
// over the folders that set a limit (a parent's limit binds its children too).
std::optional<std::int64_t> cgroup_room(const std::vector<std::string>& dirs, const char* limit_file, const char* usage_file) {
  std::optional<std::int64_t> room;
  for (const std::string& dir : dirs) {
    auto limit_text = read_text(dir + "/" + limit_file);
    auto usage_text = read_text(dir + "/" + usage_file);
    if (!limit_text || !usage_text) continue;
    if (trim(*limit_text) == "max") continue;
    auto limit = parse_int(*limit_text);
    auto usage = parse_int(*usage_text);
    // cgroup v1 writes a page-rounded INT64_MAX for "no limit".
    if (!limit || !usage || *limit >= (std::int64_t{1} << 62)) continue;
    std::int64_t left = std::max<std::int64_t>(0, *limit - *usage);
    room = room ? std::min(*room, left) : left;
  }
  return room;
}

}  // namespace

MemoryAvailable available_memory() {
  MemoryAvailable result{kUnlimited, "unknown"};
  if (auto avail = meminfo_available()) result = {*avail, "MemAvailable in /proc/meminfo"};
  std::string v2, v1;
  own_cgroups(v2, v1);
  std::optional<std::int64_t> room;
  std::string source;
  if (auto r = cgroup_room(candidate_dirs("/sys/fs/cgroup", v2), "memory.max", "memory.current")) {
    room = r;
    source = "cgroup limit (memory.max - memory.current)";
  } else if (auto r1 = cgroup_room(candidate_dirs("/sys/fs/cgroup/memory", v1), "memory.limit_in_bytes", "memory.usage_in_bytes")) {
    room = r1;
    source = "cgroup limit (memory.limit_in_bytes - memory.usage_in_bytes)";
  }
  if (room && *room < result.bytes) result = {*room, source};
  return result;
}

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

void check_memory_fits(std::int64_t needed_bytes, const std::string& what) {
  MemoryAvailable available = available_memory();
  if (needed_bytes <= available.bytes) return;
  fail(what, " needs ", human_bytes(needed_bytes), " (", needed_bytes, " bytes) but ", human_bytes(available.bytes), " (",
       available.bytes, " bytes) are available (", available.source, "); pass --ignore-memory-check to run anyway");
}

}  // namespace dagrad::runtime
