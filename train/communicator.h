#pragma once
// The processes of a data-parallel run. A Communicator is what the trainer and the batch-norm
// kernels (as a BatchCombiner) know of the other processes: rank, size, a barrier, a broadcast, an
// allgather, and combine(), the canonical tree sum over ranks (ops/kernels/batch_groups.h) that
// makes N processes give bitwise the single-process result.
//
// Two implementations: one process (not launched by mpirun, or built without MPI), and MPI
// (train/mpi_communicator.cc, Debian's Open MPI). combine() never calls MPI_Allreduce, whose
// summation order is the implementation's: for a power-of-two size it is recursive-halving
// reduce-scatter then recursive-doubling all-gather with partners at distance 1, 2, 4, ... (rank r
// with r ^ d), which adds exactly the pairs tree_combine adds and sends 2(N-1)/N of the vector per
// rank, as a ring all-reduce does; for other sizes every rank gathers every vector and runs
// tree_combine itself.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "graph/batch_slice.h"

namespace dagrad::train {

// What combine() cost so far on this rank (measurements and the README's byte count).
struct CommunicatorStats {
  std::int64_t combine_calls = 0;
  std::int64_t combined_values = 0;  // values handed to combine()
  std::int64_t bytes_sent = 0;       // by combine(), this rank
  double combine_seconds = 0;
};

class Communicator : public BatchCombiner {
 public:
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "MPI (Open MPI ...)" or "one process".
  virtual std::string description() const = 0;
  virtual void barrier() = 0;
  // Every rank passes a buffer of the same size; on return it holds the root's bytes.
  virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
  // Every rank's bytes (sizes may differ), in rank order, on every rank.
  virtual std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> mine) = 0;
  // Ends every process of the run with `code` after printing `message` (already naming the rank).
  [[noreturn]] virtual void abort(int code, const std::string& message) noexcept = 0;
  const CommunicatorStats& stats() const { return stats_; }

 protected:
  CommunicatorStats stats_;
};

// A single process: rank 0 of 1; combine() leaves the values as they are.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string description() const override { return "one process"; }
  void barrier() override {}
  void broadcast(std::span<std::byte>, int root) override;
  std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> mine) override;
  [[noreturn]] void abort(int code, const std::string& message) noexcept override;
  void combine(std::span<float> values) override;
  void combine(std::span<double> values) override;
};

// Whether this build can run over MPI (DAGRAD_WITH_MPI and Open MPI found at configure time).
bool built_with_mpi();
// Whether a launcher (mpirun, Slurm's srun through PMIx) started this process as one of several.
bool launched_as_parallel_job();

// The run's communicator: MPI when built with it and launched as a parallel job, else one process.
// MPI is initialized once per process (MPI_THREAD_SERIALIZED at least: combine() may be called
// from a oneTBB worker). Destroying the MPI communicator finalizes MPI, unless an exception is
// unwinding, in which case it calls abort() so the other ranks stop instead of waiting forever.
std::unique_ptr<Communicator> make_communicator();

// Sums of counts over ranks (exact).
std::vector<std::int64_t> sum_over_ranks(Communicator& comm, std::span<const std::int64_t> counts);

// Launch checks. Every rank hashes the parts of the run that must agree (the binary, the flags,
// the model, the dataset); a part that differs from rank 0's fails on every rank with a message
// naming the part and the first rank that differs.
struct FingerprintPart {
  std::string name;  // "the dagrad binary", "the flags", ...
  std::uint64_t hash = 0;
};
void check_same_launch(Communicator& comm, const std::vector<FingerprintPart>& parts);

// FNV-1a 64, for fingerprints (not for security).
std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t hash = 0xcbf29ce484222325ULL);
std::uint64_t fnv1a(const std::string& text, std::uint64_t hash = 0xcbf29ce484222325ULL);
// A hash of the running executable and of the shared library holding dagrad's code.
std::uint64_t running_binary_hash();

}  // namespace dagrad::train
