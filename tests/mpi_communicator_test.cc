// The communicator of data-parallel training (train/communicator.h). The MpiCommunicator tests run
// under `mpirun -np N` (ctest's Mpi.Communicator.np2/3/4 entries, which set DAGRAD_REQUIRE_MPI so
// that a run that is not parallel fails instead of skipping); alone they skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "graph/error.h"
#include "ops/kernels/batch_groups.h"
#include "train/communicator.h"

using namespace dagrad;
using namespace dagrad::train;

namespace {

// Values whose sum depends on the order they are added in: magnitudes spread over 2^-20..2^20.
template <class T> std::vector<T> rank_values(int rank, std::size_t n, std::uint32_t salt) {
  std::mt19937 gen(1000u * static_cast<std::uint32_t>(rank) + salt);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(std::ldexp(mantissa(gen), exponent(gen)));
  return v;
}

template <class T> bool bitwise_equal(const std::vector<T>& a, std::span<const T> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// The reference: every rank's vector side by side, tree_combine over ranks.
template <class T> std::vector<T> tree_reference(int ranks, std::size_t n, std::uint32_t salt) {
  std::vector<T> all;
  for (int r = 0; r < ranks; ++r) {
    std::vector<T> v = rank_values<T>(r, n, salt);
    all.insert(all.end(), v.begin(), v.end());
  }
  const auto len = static_cast<std::int64_t>(n);
  kernels::tree_combine(all.data(), ranks, len, len);
  all.resize(n);
  return all;
}

Communicator* parallel_communicator() {
  static std::unique_ptr<Communicator> comm = launched_as_parallel_job() ? make_communicator() : nullptr;
  return comm.get();
}

#define REQUIRE_PARALLEL()                                                                                   \
  Communicator* comm = parallel_communicator();                                                             \
  if (!comm) {                                                                                              \
    if (std::getenv("DAGRAD_REQUIRE_MPI")) FAIL() << "DAGRAD_REQUIRE_MPI is set but this is not an MPI job"; \
    GTEST_SKIP() << "not launched by mpirun (ctest runs this under mpirun -np 2, 3 and 4)";                \
  }

template <class T> void check_combine_matches_tree(Communicator& comm) {
  std::uint32_t salt = 1;
  // Lengths shorter than, equal to and not divisible by the rank count, and a long one.
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{1000}, std::size_t{100003}}) {
    std::vector<T> mine = rank_values<T>(comm.rank(), n, salt);
    comm.combine(std::span<T>(mine));
    const std::vector<T> expected = tree_reference<T>(comm.size(), n, salt);
    EXPECT_TRUE(bitwise_equal(expected, std::span<const T>(mine))) << "length " << n << ", rank " << comm.rank() << " of " << comm.size();
    ++salt;
  }
}

}  // namespace

TEST(Communicator, SingleProcessIsRankZeroOfOneAndCombineKeepsTheValues) {
  SingleProcess one;
  EXPECT_EQ(one.rank(), 0);
  EXPECT_EQ(one.size(), 1);
  std::vector<float> v = rank_values<float>(0, 17, 5);
  const std::vector<float> before = v;
  one.combine(std::span<float>(v));
  EXPECT_TRUE(bitwise_equal(before, std::span<const float>(v)));
  const std::vector<std::int64_t> counts{3, -4};
  EXPECT_EQ(sum_over_ranks(one, counts), counts);
  check_same_launch(one, {{"the flags", 1}});
  EXPECT_EQ(one.stats().combined_values, 17);
}

TEST(Communicator, FingerprintsAreStable) {
  EXPECT_EQ(fnv1a(std::string("a")), 0xaf63dc4c8601ec8cULL);  // FNV-1a 64 of "a"
  EXPECT_NE(fnv1a(std::string("--batch 64")), fnv1a(std::string("--batch 32")));
  const std::uint64_t binary = running_binary_hash();
  EXPECT_EQ(binary, running_binary_hash());
  EXPECT_NE(binary, fnv1a(std::string()));  // something was hashed
}

TEST(Communicator, TheTreeOrderIsNotTheSequentialOrder) {
  // What makes the MPI tests able to fail: from 4 ranks on, summing these values in rank order
  // differs in some bits from the canonical tree (for 3 ranks the tree is (0 + 1) + 2, the rank order).
  for (int ranks : {4, 8}) {
    const std::size_t n = 1000;
    const std::vector<float> tree = tree_reference<float>(ranks, n, 42);
    std::vector<float> sequential = rank_values<float>(0, n, 42);
    for (int r = 1; r < ranks; ++r) {
      std::vector<float> v = rank_values<float>(r, n, 42);
      for (std::size_t i = 0; i < n; ++i) sequential[i] += v[i];
    }
    EXPECT_FALSE(bitwise_equal(tree, std::span<const float>(sequential))) << ranks << " ranks";
  }
}

TEST(MpiCommunicator, CombineEqualsLocalTreeCombineBitwise) {
  REQUIRE_PARALLEL();
  check_combine_matches_tree<float>(*comm);
  check_combine_matches_tree<double>(*comm);
  // Power-of-two sizes send 2(N-1)/N of each vector per rank (recursive halving and doubling).
  if (kernels::is_power_of_two(comm->size())) {
    comm->barrier();
    const std::int64_t before = comm->stats().bytes_sent;
    std::vector<float> v(1 << 16, 1.0f);
    comm->combine(std::span<float>(v));
    EXPECT_EQ(comm->stats().bytes_sent - before, static_cast<std::int64_t>(v.size() * sizeof(float)) * 2 * (comm->size() - 1) / comm->size());
    EXPECT_EQ(v[0], static_cast<float>(comm->size()));
  }
}

TEST(MpiCommunicator, AllgatherBroadcastAndCountSums) {
  REQUIRE_PARALLEL();
  // Every rank sends rank + 1 bytes of value rank.
  std::vector<std::byte> mine(static_cast<std::size_t>(comm->rank() + 1), static_cast<std::byte>(comm->rank()));
  const auto all = comm->allgather(mine);
  ASSERT_EQ(static_cast<int>(all.size()), comm->size());
  for (int r = 0; r < comm->size(); ++r) {
    ASSERT_EQ(all[static_cast<std::size_t>(r)].size(), static_cast<std::size_t>(r + 1));
    for (std::byte b : all[static_cast<std::size_t>(r)]) EXPECT_EQ(b, static_cast<std::byte>(r));
  }
  std::vector<std::byte> message(5, static_cast<std::byte>(comm->rank() == 1 ? 7 : 0));
  comm->broadcast(message, 1);
  for (std::byte b : message) EXPECT_EQ(b, std::byte{7});
  const std::vector<std::int64_t> counts{1, comm->rank()};
  const std::vector<std::int64_t> sums = sum_over_ranks(*comm, counts);
  EXPECT_EQ(sums[0], comm->size());
  EXPECT_EQ(sums[1], comm->size() * (comm->size() - 1) / 2);
}

TEST(MpiCommunicator, LaunchCheckNamesTheDifferingRankAndPart) {
  REQUIRE_PARALLEL();
  check_same_launch(*comm, {{"the dagrad binary", running_binary_hash()}, {"the flags", 7}});
  const int odd = comm->size() - 1;
  try {
    check_same_launch(*comm, {{"the dagrad binary", 1}, {"the flags", comm->rank() == odd ? 8u : 7u}});
    FAIL() << "a differing part passed the launch check";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the flags of rank " + std::to_string(odd) + " differ from rank 0's"), std::string::npos)
        << e.what();
  }
}
