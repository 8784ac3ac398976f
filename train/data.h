#pragma once
// Datasets for training: an interface a user implements for their own data, a reader of the IDX
// files of the MNIST family (gzip or plain), normalization, and a loader that assembles the next
// batch on a oneTBB task while the current step runs.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <oneapi/tbb/task_group.h>

#include "graph/tensor.h"

namespace dagrad::train {

// Labelled samples of one shape. get() must be safe to call from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  virtual Shape sample_shape() const = 0;  // without the batch dim, e.g. {1, 28, 28}
  virtual std::int64_t classes() const = 0;
  // Writes sample `index` (element_count(sample_shape()) floats) and returns its label in [0, classes()).
  virtual std::int64_t get(std::int64_t index, std::span<float> sample) const = 0;
  // Human names of the classes (default "0", "1", ...).
  virtual std::vector<std::string> class_names() const;
};

// IDX files (http://yann.lecun.com/exdb/mnist/): unsigned-byte images [N, H, W] and labels [N].
// Pixels become floats in [0, 1]. Every header field and size is validated; a corrupt, truncated
// or mismatched file is an Error naming the file and what is wrong.
class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, std::int64_t classes = 10);
  std::int64_t size() const override { return count_; }
  Shape sample_shape() const override { return {1, rows_, cols_}; }
  std::int64_t classes() const override { return classes_; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override;
  std::vector<std::string> class_names() const override { return names_; }
  void set_class_names(std::vector<std::string> names);

 private:
  std::vector<std::uint8_t> pixels_;
  std::vector<std::uint8_t> labels_;
  std::int64_t count_ = 0, rows_ = 0, cols_ = 0, classes_ = 10;
  std::vector<std::string> names_;
};

// An IDX file's contents after validation: dims from the header, the raw payload.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;
};
// Reads a .gz or plain IDX file of unsigned bytes with `rank` dims.
IdxArray read_idx(const std::string& path, int rank);

// Where Debian's dataset-fashion-mnist package installs the data.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";
// The split ("train" or "test") of an MNIST-family folder: {train,t10k}-{images-idx3,labels-idx1}-ubyte
// with or without .gz. Class names are Fashion-MNIST's when the folder looks like it, else digits.
std::unique_ptr<IdxDataset> load_mnist_split(const std::string& dir, const std::string& split);
std::vector<std::string> fashion_mnist_class_names();

// The first `count` samples of another dataset (quick runs on a bounded subset).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(const Dataset& base, std::int64_t count);
  std::int64_t size() const override { return count_; }
  Shape sample_shape() const override { return base_.sample_shape(); }
  std::int64_t classes() const override { return base_.classes(); }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override;
  std::vector<std::string> class_names() const override { return base_.class_names(); }

 private:
  const Dataset& base_;
  std::int64_t count_;
};

// Another dataset's [C,H,W] images centred on a zero canvas of size x size (LeNet-5's 32x32
// MNIST; models that halve their input too often for 28x28, like DenseNet-121).
class PaddedDataset : public Dataset {
 public:
  PaddedDataset(std::unique_ptr<Dataset> base, std::int64_t size);  // size >= the base's height and width
  std::int64_t size() const override { return base_->size(); }
  Shape sample_shape() const override { return {channels_, side_, side_}; }
  std::int64_t classes() const override { return base_->classes(); }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override;
  std::vector<std::string> class_names() const override { return base_->class_names(); }

 private:
  std::unique_ptr<Dataset> base_;
  std::int64_t side_, channels_, height_, width_;
};

// x -> (x - mean) / std, applied to every sample element as the loader assembles batches.
struct Normalization {
  double mean = 0;
  double std = 1;
};
// Mean and (unbiased) standard deviation of every element of the dataset, summed in a fixed order.
Normalization compute_normalization(const Dataset& data);

struct Batch {
  Tensor images;  // [n, sample_shape...] of the requested dtype
  Tensor labels;  // i64 [n]
  std::int64_t size() const { return labels.numel(); }
};

// Yields the samples of `order` in batches of `batch` (the last one may be smaller). While the
// caller works on batch i, batch i+1 is assembled on a oneTBB task.
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, std::vector<std::int64_t> order, std::int64_t batch, Normalization norm,
              DType dtype = DType::f32);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  std::int64_t batches() const { return batches_; }
  bool done() const { return next_index_ >= batches_; }
  // The next batch; throws when done() or when assembling it failed.
  Batch next();
  // Assembles batch `index` right away (no prefetch).
  Batch make(std::int64_t index) const;

 private:
  void start_prefetch(std::int64_t index);

  const Dataset& data_;
  std::vector<std::int64_t> order_;
  std::int64_t batch_;
  Normalization norm_;
  DType dtype_;
  std::int64_t batches_ = 0;
  std::int64_t next_index_ = 0;
  std::optional<Batch> prefetched_;
  tbb::task_group prefetch_;
};

// 0, 1, ..., n-1 (evaluation order).
std::vector<std::int64_t> identity_order(std::int64_t n);

}  // namespace dagrad::train
