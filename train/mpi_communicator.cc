// The MPI communicator (train/communicator.h). Compiled to nothing when dagrad is built without MPI.
#if DAGRAD_HAVE_MPI
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <exception>
#include <string>

#include "graph/error.h"
#include "ops/kernels/batch_groups.h"
#include "train/communicator.h"

namespace dagrad::train {

namespace {

template <class T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

int as_count(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX)) fail("MPI ", what, ": ", n, " elements in one message exceed MPI's int count");
  return static_cast<int>(n);
}

std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) fail("MPI is already initialized in this process; make one communicator per process");
    int provided = 0;
    // combine() is called from whichever oneTBB thread runs a batch-norm node, one call at a time.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) fail("MPI_Init_thread failed");
    // Errors come back as codes that check() turns into a dagrad error (which then aborts the job).
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (provided < MPI_THREAD_SERIALIZED)
      abort(1, "rank " + std::to_string(rank_) + ": this MPI library provides thread level " + std::to_string(provided) +
                   ", below MPI_THREAD_SERIALIZED, which dagrad needs (combines run on worker threads)");
  }
  ~MpiCommunicator() override {
    // An exception is leaving the rank: the others may be waiting for it in a collective, so end them all.
    if (std::uncaught_exceptions() > 0) abort(1, "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " failed; stopping every rank");
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string description() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string text(version, static_cast<std::size_t>(length));
    if (auto comma = text.find(','); comma != std::string::npos) text.resize(comma);
    return "MPI (" + text + "), " + std::to_string(size_) + " processes";
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  void broadcast(std::span<std::byte> bytes, int root) override {
    check(MPI_Bcast(bytes.data(), as_count(bytes.size(), "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

  std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> mine) override {
    std::vector<int> sizes(static_cast<std::size_t>(size_));
    const int my_size = as_count(mine.size(), "allgather");
    check(MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    std::vector<int> offsets(static_cast<std::size_t>(size_));
    std::size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = as_count(total, "allgather");
      total += static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]);
    }
    std::vector<std::byte> all(total);
    check(MPI_Allgatherv(mine.data(), my_size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::vector<std::byte>> result;
    for (int r = 0; r < size_; ++r) {
      const auto* first = all.data() + offsets[static_cast<std::size_t>(r)];
      result.emplace_back(first, first + sizes[static_cast<std::size_t>(r)]);
    }
    return result;
  }

  [[noreturn]] void abort(int code, const std::string& message) noexcept override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

  void combine(std::span<float> values) override { timed_combine(values); }
  void combine(std::span<double> values) override { timed_combine(values); }

 private:
  void check(int code, const char* call) const {
    if (code != MPI_SUCCESS) fail("rank ", rank_, " of ", size_, ": ", call, " failed: ", error_text(code));
  }

  template <class T> void timed_combine(std::span<T> values) {
    const auto start = std::chrono::steady_clock::now();
    if (kernels::is_power_of_two(size_)) halving_doubling(values);
    else gather_and_combine(values);
    stats_.combine_calls += 1;
    stats_.combined_values += static_cast<std::int64_t>(values.size());
    stats_.combine_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // Recursive halving (reduce-scatter), then recursive doubling (all-gather). At distance d the
  // pair {r, r ^ d} splits the range both hold: the lower rank keeps the first half and adds the
  // upper rank's copy of it, the upper keeps the second half. After distances 1, 2, ..., N/2 each
  // rank holds 1/N of the vector, summed as tree_combine sums over ranks: at distance d the
  // partial sums of ranks [r, r+d) and [r+d, r+2d), left plus right. The all-gather then walks
  // back, exchanging finished ranges.
  template <class T> void halving_doubling(std::span<T> values) {
    struct Range {
      std::size_t begin, end;
    };
    std::vector<Range> held{{0, values.size()}};
    std::vector<T> received((values.size() + 1) / 2);
    for (int d = 1; d < size_; d *= 2) {
      const int partner = rank_ ^ d;
      const bool lower = rank_ < partner;
      const Range whole = held.back();
      const std::size_t mid = whole.begin + (whole.end - whole.begin) / 2;
      const Range keep = lower ? Range{whole.begin, mid} : Range{mid, whole.end};
      const Range give = lower ? Range{mid, whole.end} : Range{whole.begin, mid};
      check(MPI_Sendrecv(values.data() + give.begin, as_count(give.end - give.begin, "combine"), mpi_type<T>(), partner, d,
                         received.data(), as_count(keep.end - keep.begin, "combine"), mpi_type<T>(), partner, d, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE),
            "MPI_Sendrecv (reduce-scatter)");
      stats_.bytes_sent += static_cast<std::int64_t>((give.end - give.begin) * sizeof(T));
      T* mine = values.data() + keep.begin;
      const std::size_t n = keep.end - keep.begin;
      if (lower)
        for (std::size_t e = 0; e < n; ++e) mine[e] = mine[e] + received[e];
      else
        for (std::size_t e = 0; e < n; ++e) mine[e] = received[e] + mine[e];
      held.push_back(keep);
    }
    for (int d = size_ / 2; d >= 1; d /= 2) {
      const int partner = rank_ ^ d;
      const Range mine = held.back();
      held.pop_back();
      const Range whole = held.back();
      const Range theirs = mine.begin == whole.begin ? Range{mine.end, whole.end} : Range{whole.begin, mine.begin};
      check(MPI_Sendrecv(values.data() + mine.begin, as_count(mine.end - mine.begin, "combine"), mpi_type<T>(), partner, size_ + d,
                         values.data() + theirs.begin, as_count(theirs.end - theirs.begin, "combine"), mpi_type<T>(), partner,
                         size_ + d, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Sendrecv (all-gather)");
      stats_.bytes_sent += static_cast<std::int64_t>((mine.end - mine.begin) * sizeof(T));
    }
  }

  // Any size: every rank gathers every rank's vector and combines them in the canonical tree.
  template <class T> void gather_and_combine(std::span<T> values) {
    std::vector<T> all(values.size() * static_cast<std::size_t>(size_));
    const int count = as_count(values.size(), "combine");
    check(MPI_Allgather(values.data(), count, mpi_type<T>(), all.data(), count, mpi_type<T>(), MPI_COMM_WORLD), "MPI_Allgather");
    stats_.bytes_sent += static_cast<std::int64_t>(values.size_bytes()) * (size_ - 1);
    const auto n = static_cast<std::int64_t>(values.size());
    kernels::tree_combine(all.data(), size_, n, n);
    std::copy(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(values.size()), values.begin());
  }

  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace dagrad::train
#endif
