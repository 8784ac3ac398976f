#include "proto/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "graph/error.h"

namespace dagrad {

namespace {

// "pid N, purpose" from the holder's sidecar. The holder writes it just after locking, so a
// contender that arrives in between gets a short grace period before settling for "unknown".
std::string describe_holder(int fd) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    char buffer[512];
    ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    if (n > 0 && buffer[n - 1] == '\n') {
      std::string text(buffer, static_cast<std::size_t>(n - 1));
      std::size_t space = text.find(' ');
      if (space == std::string::npos) return "pid " + text;
      return "pid " + text.substr(0, space) + ", " + text.substr(space + 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return "pid unknown";
}

}  // namespace

std::string FileLock::lock_path_for(const std::string& path) {
  std::size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) fail(path, " names a folder, not a file");
  return (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." + base + ".lock";
}

FileLock FileLock::acquire(const std::string& path, const std::string& purpose) {
  std::string lock_path = lock_path_for(path);
  for (;;) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot lock ", path, ": cannot create ", lock_path, ": ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int error = errno;
      if (error == EWOULDBLOCK) {
        std::string holder = describe_holder(fd);
        ::close(fd);
        fail(path, " is being written by another process (", holder, ")");
      }
      ::close(fd);
      fail("cannot lock ", lock_path, ": ", std::strerror(error));
    }
    // The previous holder unlinks the sidecar on release; if that happened between our open and
    // our flock, we hold a lock on a dead inode that no one else will ever see: start over.
    struct stat opened {}, named {};
    if (::fstat(fd, &opened) != 0 || ::stat(lock_path.c_str(), &named) != 0 || opened.st_dev != named.st_dev ||
        opened.st_ino != named.st_ino) {
      ::close(fd);
      continue;
    }
    std::string who = std::to_string(::getpid()) + " " + purpose + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, who.data(), who.size(), 0) != static_cast<ssize_t>(who.size())) {
      int error = errno;
      ::unlink(lock_path.c_str());
      ::close(fd);
      fail("cannot write ", lock_path, ": ", std::strerror(error));
    }
    return FileLock(std::move(lock_path), fd);
  }
}

FileLock::FileLock(FileLock&& other) noexcept
    : lock_path_(std::move(other.lock_path_)), fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    lock_path_ = std::move(other.lock_path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() { release(); }

void FileLock::release() noexcept {
  if (fd_ < 0) return;
  // Unlink while still holding the lock: a contender that opened the old sidecar then notices the
  // inode is gone and retries on a fresh one.
  ::unlink(lock_path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

}  // namespace dagrad
