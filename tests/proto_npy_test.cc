// load_npy: .npy files numpy writes read back bitwise, and every malformed file refused with a
// message that names the file and the field that is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "proto/npy.h"
#include "tests/process.h"

namespace {

using namespace dagrad;
using ::testing::HasSubstr;

std::string error_of(std::string_view bytes) {
  try {
    parse_npy(bytes, "x.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A version 1.0 file with the given header text (padded as numpy pads it) and data bytes.
std::string npy_with_header(const std::string& dict, std::string data, char major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY", 6) + major + '\0';
  const std::size_t n = header.size();
  bytes += static_cast<char>(n & 0xff);
  bytes += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) bytes += std::string(2, '\0');
  return bytes + header + data;
}

TEST(ProtoNpy, RoundTripsEveryDtypeAndRank) {
  std::vector<Tensor> tensors = {Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, -6.5f}), Tensor::from<double>({3}, {0.1, 1e300, -0.0}),
                                 Tensor::from<std::int64_t>({2, 1, 2}, {-1, 0, 7, std::int64_t{1} << 40}), Tensor::scalar(DType::f32, 2.5),
                                 Tensor(DType::f32, {0, 4})};
  for (const Tensor& t : tensors) {
    Tensor back = parse_npy(to_npy(t), "t.npy");
    EXPECT_EQ(back.dtype(), t.dtype());
    EXPECT_EQ(back.shape(), t.shape());
    EXPECT_TRUE(bitwise_equal(back, t)) << to_string(t.shape());
  }
}

TEST(ProtoNpy, ReadsWhatNumpySaves) {
  const auto dir = dagrad::testing::fresh_scratch_dir("proto_npy");
  const std::string script =
      "import numpy, sys; d = sys.argv[1]\n"
      "numpy.save(d + '/a.npy', numpy.arange(24, dtype=numpy.float32).reshape(2, 3, 4) / 8)\n"
      "numpy.save(d + '/b.npy', numpy.array([3, 1, 4], dtype=numpy.int64))\n"
      "numpy.save(d + '/c.npy', numpy.float64(0.25))\n"
      "numpy.save(d + '/f.npy', numpy.asfortranarray(numpy.ones((2, 3), dtype=numpy.float32)))\n"
      "numpy.save(d + '/i.npy', numpy.ones(3, dtype=numpy.int32))\n";
  const auto numpy = dagrad::testing::run_process({"/usr/bin/python3", "-c", script, dir.string()});
  ASSERT_EQ(numpy.exit_code, 0) << dagrad::testing::describe(numpy);
  Tensor a = load_npy((dir / "a.npy").string());
  EXPECT_EQ(a.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(a.dtype(), DType::f32);
  EXPECT_EQ(a.at(23), 23.0 / 8);
  Tensor b = load_npy((dir / "b.npy").string());
  EXPECT_EQ(b.dtype(), DType::i64);
  EXPECT_EQ(b.shape(), (Shape{3}));
  EXPECT_EQ(b.at(2), 4);
  Tensor c = load_npy((dir / "c.npy").string());
  EXPECT_EQ(c.shape(), Shape{});
  EXPECT_EQ(c.at(0), 0.25);
  try {
    load_npy((dir / "f.npy").string());
    ADD_FAILURE() << "fortran order accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("f.npy: .npy 'fortran_order' is True"));
  }
  try {
    load_npy((dir / "i.npy").string());
    ADD_FAILURE() << "int32 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("i.npy: .npy dtype '<i4' is not supported"));
  }
  std::filesystem::remove_all(dir);
}

TEST(ProtoNpy, ReadsVersionTwoHeaders) {
  const std::string data(8, '\0');
  Tensor t = parse_npy(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, 2), "v2.npy");
  EXPECT_EQ(t.shape(), (Shape{2}));
}

TEST(ProtoNpy, MalformedFilesEachGetTheirMessage) {
  const std::string good = to_npy(Tensor::from<float>({2, 2}, {1, 2, 3, 4}));
  const std::string four_floats(16, '\0');
  struct Case {
    std::string name, bytes, message;
  };
  const std::vector<Case> cases = {
      {"empty", "", "x.npy: not an .npy file: it does not start with the magic"},
      {"bad magic", "\x93NUMPZ" + good.substr(6), "does not start with the magic"},
      {"text file", "hello, world\n", "not an .npy file"},
      {"ends after the magic", good.substr(0, 7), "truncated .npy file: 7 bytes end before the version"},
      {"ends in the header length", good.substr(0, 9), "truncated .npy file: 9 bytes end inside the header length"},
      {"truncated header", good.substr(0, 40), "the header declares 118 bytes but only 30 follow"},
      {"truncated data", good.substr(0, good.size() - 3), "data size mismatch: the header declares shape [2,2] of '<f4' (16 bytes) but the file holds 13 bytes of data (truncated?)"},
      {"extra data", good + "abcd", "(16 bytes) but the file holds 20 bytes of data"},
      {"header lies about size", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", four_floats),
       "declares shape [1000,1000] of '<f4' (4000000 bytes) but the file holds 16 bytes"},
      {"huge shape", npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", four_floats),
       "'shape' [4294967296,4294967296] is too large"},
      {"dimension past 64 bits", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", four_floats),
       "dimension in 'shape' does not fit in 64 bits"},
      {"negative dimension", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four_floats), "negative dimension in 'shape'"},
      {"version 9", good.substr(0, 6) + "\x09" + good.substr(7), "unsupported .npy version 9.0"},
      {"fortran order", npy_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four_floats),
       "'fortran_order' is True (column-major data); dagrad reads C order"},
      {"wrong dtype", npy_with_header("{'descr': '|b1', 'fortran_order': False, 'shape': (16,), }", four_floats),
       "dtype '|b1' is not supported; dagrad reads '<f4' (float32), '<f8' (float64) and '<i8' (int64)"},
      {"big-endian", npy_with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", four_floats), "dtype '>f4' is big-endian"},
      {"missing shape", npy_with_header("{'descr': '<f4', 'fortran_order': False, }", four_floats), "the key 'shape' is missing"},
      {"unknown key", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", four_floats), "unknown header key 'x'"},
      {"duplicate key", npy_with_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", four_floats), "header key 'descr' given twice"},
      {"not a dict", npy_with_header("['<f4', False, (4,)]", four_floats), "expected the header dictionary's opening '{'"},
      {"fortran_order not a bool", npy_with_header("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", four_floats), "'fortran_order' must be True or False"},
      {"unterminated descr", npy_with_header("{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", four_floats), "expected ',' or '}' after the value of 'descr'"},
      {"shape not a tuple", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': [4]}", four_floats), "expected the 'shape' tuple's '('"},
      {"text after the dict", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} junk", four_floats), "text after the header dictionary's closing '}'"},
  };
  for (const Case& c : cases) EXPECT_THAT(error_of(c.bytes), HasSubstr(c.message)) << c.name;
}

TEST(ProtoNpy, LoadNamesTheFileItCannotOpen) {
  try {
    load_npy("/no/such/dir/x.npy");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/no/such/dir/x.npy: cannot open"));
  }
}

}  // namespace
