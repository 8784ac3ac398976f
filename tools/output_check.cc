#include "tools/output_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "graph/error.h"

namespace dagrad::cli {

void check_output_writable(const std::string& path, const std::string& what) {
  if (path.empty()) fail(what, ": the output path is empty");
  if (path.back() == '/') fail(what, " '", path, "' names a folder, not a file");
  std::size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);

  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail(what, " '", path, "' is a folder, not a file");
  if (::stat(dir.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) fail(what, " '", path, "': folder '", dir, "' does not exist");
    if (err == ENOTDIR) fail(what, " '", path, "': a parent of '", dir, "' is a file, not a folder");
    fail(what, " '", path, "': cannot access folder '", dir, "': ", std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) fail(what, " '", path, "': '", dir, "' is a file, not a folder");

  // access() would lie for root (permission bits are bypassed) and ignores read-only mounts, so try
  // for real with a name no one else uses.
  static std::atomic<unsigned> counter{0};
  std::string probe = dir + "/.dagrad-write-check." + std::to_string(::getpid()) + "." +
                      std::to_string(std::random_device{}()) + "." + std::to_string(counter++);
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(what, " '", path, "': cannot create files in folder '", dir, "': ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace dagrad::cli
