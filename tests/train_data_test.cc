// IDX reading (plain, gzip, every kind of corrupt file), normalization, shuffling and the batch loader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "train/data.h"
#include "train/random.h"

namespace dagrad::train {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<std::uint8_t> be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

std::vector<std::uint8_t> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> bytes = be32(magic);
  for (std::uint32_t d : dims) {
    auto b = be32(d);
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dagrad_idx_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                        "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::string write_gz(const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return path;
  }
  // 3 images of 2x2 with pixel values 0..11, labels 2 0 1.
  std::vector<std::uint8_t> images() {
    std::vector<std::uint8_t> pixels(12);
    for (int i = 0; i < 12; ++i) pixels[i] = static_cast<std::uint8_t>(i * 20);
    return idx_bytes(0x803, {3, 2, 2}, pixels);
  }
  std::vector<std::uint8_t> labels() { return idx_bytes(0x801, {3}, {2, 0, 1}); }

  std::string error_of(const std::string& images_path, const std::string& labels_path, std::int64_t classes = 10) {
    try {
      IdxDataset data(images_path, labels_path, classes);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path dir_;
};

TEST_F(IdxFiles, ReadsPlainFiles) {
  IdxDataset data(write("i", images()), write("l", labels()), 3);
  EXPECT_EQ(data.size(), 3);
  EXPECT_EQ(data.sample_shape(), (Shape{1, 2, 2}));
  std::vector<float> sample(4);
  EXPECT_EQ(data.get(1, sample), 0);
  EXPECT_FLOAT_EQ(sample[0], 80.0f / 255.0f);
  EXPECT_FLOAT_EQ(sample[3], 140.0f / 255.0f);
  EXPECT_EQ(data.get(0, sample), 2);
  EXPECT_THAT(data.class_names(), ::testing::ElementsAre("0", "1", "2"));
}

TEST_F(IdxFiles, ReadsGzipFilesLikePlainOnes) {
  IdxDataset plain(write("i", images()), write("l", labels()));
  IdxDataset packed(write_gz("i.gz", images()), write_gz("l.gz", labels()));
  std::vector<float> a(4), b(4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(plain.get(i, a), packed.get(i, b));
    EXPECT_EQ(a, b);
  }
}

TEST_F(IdxFiles, TruncatedDataIsAClearError) {
  auto bytes = images();
  bytes.resize(bytes.size() - 5);
  EXPECT_THAT(error_of(write("i", bytes), write("l", labels())),
              HasSubstr("truncated IDX data: dims [3,2,2] need 12 bytes, the file has 7"));
}

TEST_F(IdxFiles, TruncatedHeaderIsAClearError) {
  auto bytes = images();
  bytes.resize(9);
  EXPECT_THAT(error_of(write("i", bytes), write("l", labels())), HasSubstr("truncated IDX header"));
}

TEST_F(IdxFiles, TruncatedGzipIsAClearError) {
  std::vector<std::uint8_t> big(5000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>((i * 7919) % 251);
  std::string path = write_gz("i.gz", idx_bytes(0x803, {50, 10, 10}, big));
  auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  std::string message = error_of(path, write("l", labels()));
  EXPECT_THAT(message, HasSubstr("i.gz"));
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("truncated"), HasSubstr("corrupt")));
}

TEST_F(IdxFiles, CorruptGzipIsAClearError) {
  std::string path = write_gz("i.gz", images());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(12);
  const char junk[6] = {'\xff', '\x00', '\x13', '\x37', '\x42', '\x99'};
  f.write(junk, sizeof junk);
  f.close();
  std::string message = error_of(path, write("l", labels()));
  EXPECT_THAT(message, HasSubstr("i.gz"));
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("corrupt"), HasSubstr("truncated"), HasSubstr("IDX")));
}

TEST_F(IdxFiles, BadMagicIsAClearError) {
  auto bytes = images();
  bytes[0] = 0x1f;
  EXPECT_THAT(error_of(write("i", bytes), write("l", labels())),
              HasSubstr("not an IDX file: bad magic number 0x1f000803 (expected 0x00000803)"));
  auto floats = images();
  floats[2] = 0x0d;
  EXPECT_THAT(error_of(write("i", floats), write("l", labels())), HasSubstr("element type 0x0000000d is not unsigned byte"));
}

TEST_F(IdxFiles, LabelsInPlaceOfImagesIsAClearError) {
  EXPECT_THAT(error_of(write("l1", labels()), write("l2", labels())), HasSubstr("has 1 dims, expected 3"));
}

TEST_F(IdxFiles, WrongCountsAreClearErrors) {
  EXPECT_THAT(error_of(write("i", images()), write("l", idx_bytes(0x801, {2}, {0, 1}))),
              HasSubstr("holds 3 images but"));
  auto extra = images();
  extra.push_back(7);
  EXPECT_THAT(error_of(write("i", extra), write("l", labels())), HasSubstr("1 bytes after the 12 bytes"));
  EXPECT_THAT(error_of(write("i", images()), write("l", labels()), 2), HasSubstr("label 2 of sample 0 is outside [0, 2)"));
  EXPECT_THAT(error_of((dir_ / "missing").string(), write("l", labels())), HasSubstr("cannot open"));
}

TEST_F(IdxFiles, MnistFolderFindsGzOrPlainFiles) {
  write_gz("train-images-idx3-ubyte.gz", images());
  write("train-labels-idx1-ubyte", labels());
  auto data = load_mnist_split(dir_.string(), "train");
  EXPECT_EQ(data->size(), 3);
  EXPECT_THAT([&] { load_mnist_split(dir_.string(), "test"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("no t10k-images-idx3-ubyte(.gz) here")));
}

// A dataset whose sample i is filled with i and labelled i % 3.
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(std::int64_t n) : n_(n) {}
  std::int64_t size() const override { return n_; }
  Shape sample_shape() const override { return {2}; }
  std::int64_t classes() const override { return 3; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    for (float& v : sample) v = static_cast<float>(index);
    return index % 3;
  }

 private:
  std::int64_t n_;
};

TEST(Normalization, MeanAndUnbiasedStd) {
  CountingDataset data(4);  // values 0 0 1 1 2 2 3 3
  Normalization n = compute_normalization(data);
  EXPECT_DOUBLE_EQ(n.mean, 1.5);
  EXPECT_DOUBLE_EQ(n.std, std::sqrt(10.0 / 7.0));
}

TEST(Shuffling, SameSeedSamePermutationDifferentSeedDifferent) {
  SplitMix64 a(initial_rng_state(7)), b(initial_rng_state(7)), c(initial_rng_state(8));
  auto pa = random_permutation(100, a), pb = random_permutation(100, b), pc = random_permutation(100, c);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
  EXPECT_EQ(std::set<std::int64_t>(pa.begin(), pa.end()).size(), 100u);
  EXPECT_EQ(a.state(), b.state());
  EXPECT_NE(random_permutation(100, a), pa);  // the next epoch differs
  // Resuming from a saved state continues the same sequence.
  SplitMix64 resumed(b.state());
  EXPECT_EQ(random_permutation(100, resumed), random_permutation(100, b));
}

TEST(Shuffling, GoldenValuesArePortable) {
  // splitmix64 reference: the first output for state 0 is 0xe220a8397b1dcdaf.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  SplitMix64 p(initial_rng_state(0));
  EXPECT_EQ(random_permutation(5, p).size(), 5u);
}

TEST(BatchLoader, BatchesFollowTheOrderWithAPartialLastBatch) {
  CountingDataset data(7);
  BatchLoader loader(data, {6, 5, 4, 3, 2, 1, 0}, 3, {1.0, 2.0});
  EXPECT_EQ(loader.batches(), 3);
  std::vector<std::int64_t> labels;
  std::vector<float> first;
  while (!loader.done()) {
    Batch b = loader.next();
    EXPECT_EQ(b.images.shape()[1], 2);
    if (first.empty()) first.assign(b.images.data<float>().begin(), b.images.data<float>().end());
    for (auto l : b.labels.data<std::int64_t>()) labels.push_back(l);
  }
  EXPECT_EQ(labels, (std::vector<std::int64_t>{0, 2, 1, 0, 2, 1, 0}));
  EXPECT_EQ(first, (std::vector<float>{2.5f, 2.5f, 2.0f, 2.0f, 1.5f, 1.5f}));  // (i - 1) / 2
  EXPECT_THROW(loader.next(), Error);
}

TEST(BatchLoader, PrefetchedBatchesEqualDirectOnes) {
  CountingDataset data(10);
  BatchLoader loader(data, identity_order(10), 4, {}, DType::f64);
  for (std::int64_t i = 0; i < loader.batches(); ++i) {
    Batch direct = loader.make(i);
    Batch prefetched = loader.next();
    EXPECT_TRUE(bitwise_equal(direct.images, prefetched.images));
    EXPECT_EQ(prefetched.images.dtype(), DType::f64);
  }
}

TEST(BatchLoader, ABadLabelFromAUserDatasetIsAnError) {
  class Bad : public CountingDataset {
   public:
    Bad() : CountingDataset(4) {}
    std::int64_t get(std::int64_t index, std::span<float> sample) const override {
      CountingDataset::get(index, sample);
      return index == 2 ? 5 : 0;
    }
  } data;
  BatchLoader loader(data, identity_order(4), 2, {});
  loader.next();
  EXPECT_THAT([&] { loader.next(); }, ::testing::ThrowsMessage<Error>(HasSubstr("sample 2 has label 5 outside [0, 3)")));
}

}  // namespace
}  // namespace dagrad::train

namespace dagrad::train {
namespace {

// A 1x2x3 image per sample whose values are its index and position, to see where each lands.
class TinyImages : public Dataset {
 public:
  std::int64_t size() const override { return 2; }
  Shape sample_shape() const override { return {1, 2, 3}; }
  std::int64_t classes() const override { return 4; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    for (std::size_t i = 0; i < sample.size(); ++i) sample[i] = static_cast<float>(10 * index + i + 1);
    return index + 1;
  }
};

TEST(PaddedDataset, CentresEachImageOnAZeroCanvas) {
  PaddedDataset padded(std::make_unique<TinyImages>(), 5);
  EXPECT_EQ(padded.sample_shape(), (Shape{1, 5, 5}));
  EXPECT_EQ(padded.size(), 2);
  EXPECT_EQ(padded.classes(), 4);
  std::vector<float> sample(25, -1.0f);
  EXPECT_EQ(padded.get(1, sample), 2);
  // Rows 1-2 (top pad (5-2)/2 = 1), columns 1-3 (left pad (5-3)/2 = 1); zeros elsewhere.
  const std::vector<float> expected = {0, 0,  0,  0,  0,  //
                                       0, 11, 12, 13, 0,  //
                                       0, 14, 15, 16, 0,  //
                                       0, 0,  0,  0,  0,  //
                                       0, 0,  0,  0,  0};
  EXPECT_EQ(sample, expected);
}

TEST(PaddedDataset, RefusesACanvasSmallerThanTheImages) {
  EXPECT_THROW(PaddedDataset(std::make_unique<TinyImages>(), 2), Error);
}

}  // namespace
}  // namespace dagrad::train
