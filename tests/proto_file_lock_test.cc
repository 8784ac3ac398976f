// FileLock: one writer per file across processes, with a message that names the holder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "proto/file_lock.h"
#include "tests/proto_testing.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

// Runs `body` in a forked child and returns its exit code.
int in_child(const std::function<int()>& body) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(body());
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ProtoFileLock, SecondWriterIsRefusedWithHolderPidAndPurpose) {
  const std::string dir = scratch_dir("file_lock");
  const std::string path = dir + "/model.dagrad";
  const std::string sidecar = dir + "/.model.dagrad.lock";
  const std::string report = dir + "/report.txt";
  EXPECT_EQ(FileLock::lock_path_for(path), sidecar);
  {
    FileLock lock = FileLock::acquire(path, "dagrad train");
    EXPECT_TRUE(lock.held());
    EXPECT_TRUE(std::filesystem::exists(sidecar));
    int code = in_child([&] {
      try {
        FileLock second = FileLock::acquire(path, "dagrad export");
        return 2;
      } catch (const Error& e) {
        std::ofstream(report) << e.what();
        return 1;
      }
    });
    EXPECT_EQ(code, 1) << "the second acquire must fail";
    std::ifstream in(report);
    std::string message((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(message, path + " is being written by another process (pid " + std::to_string(::getpid()) + ", dagrad train)");

    // Moving keeps the one lock; the moved-from object releases nothing.
    FileLock moved = std::move(lock);
    EXPECT_FALSE(lock.held());
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(in_child([&] {
                try {
                  FileLock::acquire(path, "again");
                  return 2;
                } catch (const Error&) {
                  return 1;
                }
              }),
              1);
  }
  // Released: the sidecar is gone and another process gets the lock.
  EXPECT_FALSE(std::filesystem::exists(sidecar));
  EXPECT_EQ(in_child([&] {
              try {
                FileLock lock = FileLock::acquire(path, "child");
                return lock.held() ? 0 : 3;
              } catch (const Error&) {
                return 1;
              }
            }),
            0);
  FileLock again = FileLock::acquire(path, "again");
  EXPECT_TRUE(again.held());
  again.release();
  EXPECT_FALSE(std::filesystem::exists(sidecar));
}

// A sidecar left by a killed holder (the kernel dropped its lock) does not block the next writer.
TEST(ProtoFileLock, SidecarOfDeadHolderIsReused) {
  const std::string dir = scratch_dir("file_lock_dead");
  const std::string path = dir + "/m.dagrad";
  EXPECT_EQ(in_child([&] {
              FileLock lock = FileLock::acquire(path, "killed");
              ::_exit(0);  // no destructor: the sidecar stays, the lock dies with the process
              return 0;
            }),
            0);
  EXPECT_TRUE(std::filesystem::exists(FileLock::lock_path_for(path)));
  FileLock lock = FileLock::acquire(path, "next");
  EXPECT_TRUE(lock.held());
}

TEST(ProtoFileLock, MissingFolderIsAnErrorNamingTheSidecar) {
  const std::string dir = scratch_dir("file_lock_missing");
  try {
    FileLock::acquire(dir + "/no/m.dagrad", "test");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir + "/no/.m.dagrad.lock"));
  }
}

}  // namespace
}  // namespace dagrad::testing
