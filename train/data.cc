#include "train/data.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "graph/error.h"

namespace dagrad::train {

std::vector<std::string> Dataset::class_names() const {
  std::vector<std::string> names;
  for (std::int64_t k = 0; k < classes(); ++k) names.push_back(std::to_string(k));
  return names;
}

namespace {

// The whole decompressed content of a file; gzread passes plain files through unchanged.
std::vector<std::uint8_t> read_gz_or_plain(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail(path, ": cannot open (", std::strerror(errno), ")");
  gzbuffer(file, 1 << 20);
  std::vector<std::uint8_t> bytes;
  constexpr std::size_t kChunk = 1 << 20;
  for (;;) {
    std::size_t old = bytes.size();
    bytes.resize(old + kChunk);
    int got = gzread(file, bytes.data() + old, static_cast<unsigned>(kChunk));
    if (got < 0) {
      int code = 0;
      std::string message = gzerror(file, &code);
      gzclose(file);
      fail(path, ": corrupt compressed data (", message, ")");
    }
    bytes.resize(old + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  int code = Z_OK;
  std::string message = gzerror(file, &code);
  int closed = gzclose(file);
  if (code != Z_OK && code != Z_STREAM_END) fail(path, ": corrupt or truncated compressed data (", message, ")");
  if (closed == Z_BUF_ERROR) fail(path, ": truncated compressed data (the gzip stream ends early)");
  if (closed != Z_OK) fail(path, ": error reading compressed data (zlib code ", closed, ")");
  return bytes;
}

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, int rank) {
  std::vector<std::uint8_t> bytes = read_gz_or_plain(path);
  if (bytes.size() < 4) fail(path, ": not an IDX file: ", bytes.size(), " bytes, shorter than the 4-byte magic number");
  const std::uint32_t magic = read_be32(bytes.data());
  const std::uint32_t expected_magic = 0x0800u + static_cast<std::uint32_t>(rank);
  auto hex = [](std::uint32_t v) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "0x%08x", v);
    return std::string(buffer);
  };
  if (bytes[0] != 0 || bytes[1] != 0)
    fail(path, ": not an IDX file: bad magic number ", hex(magic), " (expected ", hex(expected_magic), ")");
  if (bytes[2] != 0x08)
    fail(path, ": IDX element type ", hex(bytes[2]), " is not unsigned byte (0x08); magic ", hex(magic));
  if (bytes[3] != rank)
    fail(path, ": IDX file has ", int{bytes[3]}, " dims, expected ", rank, " (magic ", hex(magic), ", expected ",
         hex(expected_magic), ")");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  if (bytes.size() < header) fail(path, ": truncated IDX header: ", bytes.size(), " bytes, the header needs ", header);
  IdxArray array;
  std::int64_t expected = 1;
  for (int d = 0; d < rank; ++d) {
    std::int64_t dim = read_be32(bytes.data() + 4 + 4 * d);
    array.dims.push_back(dim);
    if (dim > 0 && expected > std::numeric_limits<std::int64_t>::max() / dim)
      fail(path, ": IDX dims ", to_string(array.dims), " overflow");
    expected *= dim;
  }
  const auto payload = static_cast<std::int64_t>(bytes.size() - header);
  if (payload < expected)
    fail(path, ": truncated IDX data: dims ", to_string(array.dims), " need ", expected, " bytes, the file has ", payload);
  if (payload > expected)
    fail(path, ": IDX file has ", payload - expected, " bytes after the ", expected, " bytes its dims ",
         to_string(array.dims), " describe");
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, std::int64_t classes)
    : classes_(classes) {
  if (classes < 1) fail("IdxDataset: classes must be positive, got ", classes);
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    fail(images_path, " holds ", images.dims[0], " images but ", labels_path, " holds ", labels.dims[0], " labels");
  if (images.dims[0] == 0) fail(images_path, ": the IDX file holds no images");
  if (images.dims[1] == 0 || images.dims[2] == 0)
    fail(images_path, ": empty images of ", images.dims[1], "x", images.dims[2], " pixels");
  for (std::size_t i = 0; i < labels.data.size(); ++i)
    if (labels.data[i] >= classes)
      fail(labels_path, ": label ", int{labels.data[i]}, " of sample ", i, " is outside [0, ", classes, ")");
  count_ = images.dims[0];
  rows_ = images.dims[1];
  cols_ = images.dims[2];
  pixels_ = std::move(images.data);
  labels_ = std::move(labels.data);
  names_ = Dataset::class_names();
}

void IdxDataset::set_class_names(std::vector<std::string> names) {
  if (static_cast<std::int64_t>(names.size()) != classes_)
    fail("IdxDataset: ", names.size(), " class names for ", classes_, " classes");
  names_ = std::move(names);
}

std::int64_t IdxDataset::get(std::int64_t index, std::span<float> sample) const {
  if (index < 0 || index >= count_) fail("IdxDataset: sample ", index, " is outside [0, ", count_, ")");
  const std::int64_t pixels = rows_ * cols_;
  if (static_cast<std::int64_t>(sample.size()) != pixels)
    fail("IdxDataset: buffer of ", sample.size(), " floats for a sample of ", pixels);
  const std::uint8_t* src = pixels_.data() + index * pixels;
  for (std::int64_t i = 0; i < pixels; ++i) sample[static_cast<std::size_t>(i)] = static_cast<float>(src[i]) / 255.0f;
  return labels_[static_cast<std::size_t>(index)];
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

std::unique_ptr<IdxDataset> load_mnist_split(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test") prefix = "t10k";
  else fail("load_mnist_split: unknown split '", split, "' (train or test)");
  auto find = [&](const std::string& stem) {
    for (const std::string& name : {stem + ".gz", stem}) {
      fs::path p = fs::path(dir) / name;
      if (fs::exists(p)) return p.string();
    }
    fail(dir, ": no ", stem, "(.gz) here (expected MNIST-family IDX files, e.g. from the dataset-fashion-mnist package)");
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  auto data = std::make_unique<IdxDataset>(images, labels);
  if (dir.find("fashion") != std::string::npos) data->set_class_names(fashion_mnist_class_names());
  return data;
}

SubsetDataset::SubsetDataset(const Dataset& base, std::int64_t count) : base_(base), count_(count) {
  if (count < 1 || count > base.size())
    fail("SubsetDataset: ", count, " samples requested from a dataset of ", base.size());
}

std::int64_t SubsetDataset::get(std::int64_t index, std::span<float> sample) const {
  if (index < 0 || index >= count_) fail("SubsetDataset: sample ", index, " is outside [0, ", count_, ")");
  return base_.get(index, sample);
}

PaddedDataset::PaddedDataset(std::unique_ptr<Dataset> base, std::int64_t size) : base_(std::move(base)), side_(size) {
  const Shape shape = base_->sample_shape();
  if (shape.size() != 3) fail("padding images to ", size, "x", size, ": the samples are ", to_string(shape), ", not [C,H,W]");
  channels_ = shape[0];
  height_ = shape[1];
  width_ = shape[2];
  if (size < height_ || size < width_)
    fail("padding images to ", size, "x", size, ": the images are larger (", height_, "x", width_, ")");
}

std::int64_t PaddedDataset::get(std::int64_t index, std::span<float> sample) const {
  std::vector<float> image(static_cast<std::size_t>(channels_ * height_ * width_));
  const std::int64_t label = base_->get(index, image);
  std::fill(sample.begin(), sample.end(), 0.0f);
  const std::int64_t top = (side_ - height_) / 2, left = (side_ - width_) / 2;
  for (std::int64_t c = 0; c < channels_; ++c)
    for (std::int64_t y = 0; y < height_; ++y)
      std::copy_n(image.begin() + (c * height_ + y) * width_, width_, sample.begin() + (c * side_ + top + y) * side_ + left);
  return label;
}

Normalization compute_normalization(const Dataset& data) {
  const std::int64_t per_sample = element_count(data.sample_shape());
  const std::int64_t n = data.size() * per_sample;
  if (n < 2) fail("compute_normalization: needs at least two values, the dataset has ", n);
  std::vector<float> sample(static_cast<std::size_t>(per_sample));
  // Per-sample partial sums, then a running sum over samples: a fixed order, so the same result
  // every time; two passes keep the variance accurate.
  double sum = 0;
  for (std::int64_t i = 0; i < data.size(); ++i) {
    data.get(i, sample);
    double s = 0;
    for (float v : sample) s += v;
    sum += s;
  }
  const double mean = sum / static_cast<double>(n);
  double squares = 0;
  for (std::int64_t i = 0; i < data.size(); ++i) {
    data.get(i, sample);
    double s = 0;
    for (float v : sample) s += (v - mean) * (v - mean);
    squares += s;
  }
  double std = std::sqrt(squares / static_cast<double>(n - 1));
  if (!(std > 0)) fail("compute_normalization: every value of the dataset equals ", mean, "; cannot normalize");
  return {mean, std};
}

std::vector<std::int64_t> identity_order(std::int64_t n) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  return order;
}

BatchLoader::BatchLoader(const Dataset& data, std::vector<std::int64_t> order, std::int64_t batch, Normalization norm,
                         DType dtype)
    : data_(data), order_(std::move(order)), batch_(batch), norm_(norm), dtype_(dtype) {
  if (batch < 1) fail("BatchLoader: batch size must be positive, got ", batch);
  if (!is_float(dtype)) fail("BatchLoader: samples must be f32 or f64, got ", dtype_name(dtype));
  if (!(norm.std > 0)) fail("BatchLoader: normalization std must be positive, got ", norm.std);
  const auto n = static_cast<std::int64_t>(order_.size());
  batches_ = (n + batch - 1) / batch;
}

BatchLoader::~BatchLoader() {
  try {
    prefetch_.wait();
  } catch (...) {  // the error was for a batch nobody asked for any more
  }
}

Batch BatchLoader::make(std::int64_t index) const {
  if (index < 0 || index >= batches_) fail("BatchLoader: batch ", index, " is outside [0, ", batches_, ")");
  const std::int64_t begin = index * batch_;
  const std::int64_t n = std::min<std::int64_t>(batch_, static_cast<std::int64_t>(order_.size()) - begin);
  Shape sample_shape = data_.sample_shape();
  const std::int64_t per_sample = element_count(sample_shape);
  Shape shape{n};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  Tensor images(DType::f32, shape);
  Tensor labels(DType::i64, {n});
  std::span<float> pixels = images.data<float>();
  std::span<std::int64_t> label_out = labels.data<std::int64_t>();
  // Normalize in float, as a float32 framework would on float32 data.
  const auto mean = static_cast<float>(norm_.mean);
  const auto std = static_cast<float>(norm_.std);
  for (std::int64_t i = 0; i < n; ++i) {
    std::span<float> sample = pixels.subspan(static_cast<std::size_t>(i * per_sample), static_cast<std::size_t>(per_sample));
    const std::int64_t label = data_.get(order_[static_cast<std::size_t>(begin + i)], sample);
    if (label < 0 || label >= data_.classes())
      fail("dataset sample ", order_[static_cast<std::size_t>(begin + i)], " has label ", label, " outside [0, ",
           data_.classes(), ")");
    label_out[static_cast<std::size_t>(i)] = label;
    for (float& v : sample) v = (v - mean) / std;
  }
  if (dtype_ != DType::f32) images = images.to(dtype_);
  return {std::move(images), std::move(labels)};
}

void BatchLoader::start_prefetch(std::int64_t index) {
  prefetch_.run([this, index] { prefetched_ = make(index); });
}

Batch BatchLoader::next() {
  if (done()) fail("BatchLoader: all ", batches_, " batches were taken");
  Batch batch;
  if (next_index_ == 0 && !prefetched_) {
    batch = make(0);
  } else {
    prefetch_.wait();  // rethrows an error of the task
    batch = std::move(*prefetched_);
    prefetched_.reset();
  }
  ++next_index_;
  if (next_index_ < batches_) start_prefetch(next_index_);
  return batch;
}

}  // namespace dagrad::train
