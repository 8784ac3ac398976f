#pragma once
// One writer per file: an advisory, exclusive lock that a process takes before it (re)writes a
// file, so two processes (two `dagrad train` runs with the same --out, say) never race.
//
// The lock is a flock(2) on a hidden sidecar `.<BASE>.lock` in the file's folder, not on the file
// itself: atomic saves rename a new inode over the target, which would silently drop a lock held
// on the old one. The holder writes "<pid> <purpose>" into the sidecar so a second process can say
// who holds it. The lock dies with its process (the kernel drops flock locks on exit); a sidecar
// left by a killed process is harmless and reused.
#include <string>

namespace dagrad {

class FileLock {
 public:
  // Locks `path` for writing without waiting. Throws dagrad::Error if another process holds it:
  // "<path> is being written by another process (pid N, <purpose>)", or if the sidecar cannot be
  // created (the error names it and the reason).
  static FileLock acquire(const std::string& path, const std::string& purpose);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Unlinks the sidecar, then drops the lock. Safe to call twice; the destructor calls it.
  void release() noexcept;
  bool held() const { return fd_ >= 0; }
  const std::string& lock_path() const { return lock_path_; }

  // The sidecar that guards `path`: "dir/.BASE.lock".
  static std::string lock_path_for(const std::string& path);

 private:
  FileLock(std::string lock_path, int fd) : lock_path_(std::move(lock_path)), fd_(fd) {}
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace dagrad
