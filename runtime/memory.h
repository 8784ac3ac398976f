#pragma once
// How much memory this process may still use, and an early check that a run fits in it, so an
// oversized batch fails with a message instead of meeting the kernel's OOM killer mid-run.
#include <cstdint>
#include <string>

namespace dagrad::runtime {

struct MemoryAvailable {
  std::int64_t bytes = 0;
  // "MemAvailable in /proc/meminfo", "cgroup limit (memory.max - memory.current)" (cgroup v2) or
  // "cgroup limit (memory.limit_in_bytes - memory.usage_in_bytes)" (cgroup v1); "unknown" when
  // no source could be read (bytes is then INT64_MAX, so nothing is refused).
  std::string source;
};

// The smaller of MemAvailable in /proc/meminfo and the room left under this process's cgroup
// memory limit (v2 memory.max - memory.current, else v1 memory.limit_in_bytes - usage_in_bytes),
// when one is set. Missing or unreadable files skip that source; "max" (or v1's huge sentinel)
// means no limit.
MemoryAvailable available_memory();

// "12.3 GiB" (one decimal; MiB or KiB for smaller sizes, "512 bytes" below 1 KiB).
std::string human_bytes(std::int64_t bytes);

// Throws dagrad::Error "<what> needs 12.3 GiB (13207024435 bytes) but 9.1 GiB (9771050598 bytes)
// are available (<source>); pass --ignore-memory-check to run anyway" when needed_bytes exceeds
// available_memory().bytes.
void check_memory_fits(std::int64_t needed_bytes, const std::string& what);

}  // namespace dagrad::runtime
