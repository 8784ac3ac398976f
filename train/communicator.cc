#include "train/communicator.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "graph/error.h"

namespace dagrad::train {

#if DAGRAD_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // train/mpi_communicator.cc
#endif

void SingleProcess::broadcast(std::span<std::byte>, int root) {
  if (root != 0) fail("broadcast: root ", root, " is not a rank of a one-process run");
}

std::vector<std::vector<std::byte>> SingleProcess::allgather(std::span<const std::byte> mine) {
  return {std::vector<std::byte>(mine.begin(), mine.end())};
}

void SingleProcess::abort(int code, const std::string& message) noexcept {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

void SingleProcess::combine(std::span<float> values) {
  stats_.combine_calls += 1;
  stats_.combined_values += static_cast<std::int64_t>(values.size());
}

void SingleProcess::combine(std::span<double> values) {
  stats_.combine_calls += 1;
  stats_.combined_values += static_cast<std::int64_t>(values.size());
}

bool built_with_mpi() { return DAGRAD_HAVE_MPI != 0; }

bool launched_as_parallel_job() {
  // Open MPI's mpirun, MPICH/Hydra and PMI-1 launchers, and Slurm's srun each export the job size.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const char* value = std::getenv(name);
    if (!value) continue;
    if (std::strcmp(name, "SLURM_STEP_NUM_TASKS") == 0 && !std::getenv("SLURM_PROCID")) continue;
    if (std::atoi(value) > 1) return true;
  }
  return false;
}

std::unique_ptr<Communicator> make_communicator() {
#if DAGRAD_HAVE_MPI
  if (launched_as_parallel_job()) return make_mpi_communicator();
#else
  if (launched_as_parallel_job())
    fail("this process is one of several launched by mpirun or srun, but dagrad was built without MPI (DAGRAD_WITH_MPI, "
         "libopenmpi-dev): every process would train alone; rebuild with MPI or run one process");
#endif
  return std::make_unique<SingleProcess>();
}

std::vector<std::int64_t> sum_over_ranks(Communicator& comm, std::span<const std::int64_t> counts) {
  std::vector<std::int64_t> sums(counts.begin(), counts.end());
  if (comm.size() == 1) return sums;
  const auto all = comm.allgather(std::as_bytes(counts));
  std::fill(sums.begin(), sums.end(), 0);
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r].size() != counts.size_bytes()) fail("sum over ranks: rank ", r, " sent ", all[r].size(), " bytes, expected ", counts.size_bytes());
    for (std::size_t i = 0; i < sums.size(); ++i) {
      std::int64_t v;
      std::memcpy(&v, all[r].data() + i * sizeof v, sizeof v);
      sums[i] += v;
    }
  }
  return sums;
}

void check_same_launch(Communicator& comm, const std::vector<FingerprintPart>& parts) {
  if (comm.size() == 1) return;
  std::vector<std::uint64_t> mine;
  for (const FingerprintPart& p : parts) mine.push_back(p.hash);
  const auto all = comm.allgather(std::as_bytes(std::span<const std::uint64_t>(mine)));
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r].size() != all[0].size())
      fail("launch check: rank ", r, " of ", all.size(), " runs a different dagrad (it checks ", all[r].size() / 8,
           " parts, rank 0 checks ", all[0].size() / 8, "); every process must run the same binary with the same flags");
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (std::memcmp(all[r].data() + 8 * i, all[0].data() + 8 * i, 8) != 0)
        fail("launch check: ", parts[i].name, " of rank ", r, " differ", parts[i].name.back() == 's' ? "" : "s", " from rank 0's (",
             all.size(), " processes); every process must run the same binary with the same flags, model and data");
  }
}

std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t hash) {
  for (std::byte b : bytes) {
    hash ^= static_cast<std::uint64_t>(b);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t fnv1a(const std::string& text, std::uint64_t hash) {
  return fnv1a(std::as_bytes(std::span<const char>(text.data(), text.size())), hash);
}

namespace {

// The GNU build id of a loaded object, if it has one.
std::vector<std::byte> build_id(const dl_phdr_info& info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(info.dlpi_addr + ph.p_vaddr);
    const auto* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const unsigned char* name = p + sizeof note;
      const unsigned char* desc = name + ((note.n_namesz + 3) & ~3u);
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 && desc + note.n_descsz <= end)
        return {reinterpret_cast<const std::byte*>(desc), reinterpret_cast<const std::byte*>(desc + note.n_descsz)};
      p = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
  return {};
}

std::uint64_t file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("launch check: cannot read ", path, " to fingerprint it");
  std::uint64_t hash = fnv1a(std::string());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a(std::as_bytes(std::span<const char>(buffer.data(), static_cast<std::size_t>(in.gcount()))), hash);
  }
  return hash;
}

struct BinarySearch {
  const void* library_base = nullptr;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
};

}  // namespace

std::uint64_t running_binary_hash() {
  // The executable and the object holding this function (libdagrad.so, or the executable itself
  // when linked statically): their build ids, or their bytes when they have none.
  Dl_info self{};
  BinarySearch search;
  if (dladdr(reinterpret_cast<const void*>(&running_binary_hash), &self) != 0) search.library_base = self.dli_fbase;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* s = static_cast<BinarySearch*>(data);
        const bool main_program = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
        const bool library = s->library_base && reinterpret_cast<const void*>(info->dlpi_addr) == s->library_base;
        if (!main_program && !library) return 0;
        std::vector<std::byte> id = build_id(*info);
        if (!id.empty()) {
          s->hash = fnv1a(id, s->hash);
        } else {
          const std::uint64_t bytes = file_hash(main_program ? "/proc/self/exe" : info->dlpi_name);
          s->hash = fnv1a(std::as_bytes(std::span<const std::uint64_t>(&bytes, 1)), s->hash);
        }
        return 0;
      },
      &search);
  return search.hash;
}

}  // namespace dagrad::train
