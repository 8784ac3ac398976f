// ModelSignature: the roles (image, label, logits, loss) the trainer and the tools use, found by the
// zoo's names, with the logits of a hand-written model found from the loss, and clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "graph/error.h"
#include "models/layers.h"
#include "models/signature.h"
#include "models/zoo.h"

namespace {

using namespace dagrad;
using models::ModelSignature;
using ::testing::HasSubstr;

std::string error_of(const Graph& g) {
  try {
    ModelSignature::of(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// image [4,2,6,6] -> conv -> global pool -> dense(3) -> loss; the logits keep the dense's name.
Graph hand_written(bool with_label = true, bool with_loss = true) {
  Graph g;
  models::Builder b{.graph = g, .seed = 3};
  Value x = g.input("image", {DType::f32, {4, 2, 6, 6}});
  x = models::dense(b, ops::global_avg_pool(models::conv2d(b, x, 4, {.kernel = 3, .pad = 1})), 3);
  if (with_label) {
    Value label = g.input("label", {DType::i64, {4}});
    if (with_loss) models::classifier_loss(b, x, label);
  }
  return g;
}

}  // namespace

TEST(ModelSignature, FindsEveryRoleOfEveryZooModel) {
  for (const models::ZooEntry& entry : models::zoo_models()) {
    Graph g = models::build_model(entry.name, {.batch = 2});
    ModelSignature s = ModelSignature::of(g);
    EXPECT_EQ(s.image, g.at(models::kImageInput)) << entry.name;
    EXPECT_EQ(s.label, g.at(models::kLabelInput)) << entry.name;
    EXPECT_EQ(s.logits, g.at(models::kLogitsName)) << entry.name;
    EXPECT_EQ(s.loss, g.loss()) << entry.name;
    EXPECT_EQ(s.batch(g), 2);
    EXPECT_EQ(s.sample_shape(g), entry.input_shape);
    EXPECT_EQ(s.classes(g), entry.classes);
  }
}

// Without a value named "logits", the logits are the graph output the loss node reads.
TEST(ModelSignature, LogitsOfAHandWrittenModelAreTheOutputTheLossReads) {
  Graph g = hand_written();
  ModelSignature s = ModelSignature::of(g);
  ASSERT_NE(s.logits, kNoValue);
  EXPECT_EQ(g.value(s.logits).type, (TensorType{DType::f32, {4, 3}}));
  EXPECT_EQ(s.classes(g), 3);
  EXPECT_EQ(s.sample_shape(g), (Shape{2, 6, 6}));
}

TEST(ModelSignature, ErrorsNameWhatIsMissing) {
  EXPECT_THAT(error_of(Graph{}), HasSubstr("no input named 'image'"));
  EXPECT_THAT(error_of(hand_written(false)), HasSubstr("no input named 'label'"));
  EXPECT_THAT(error_of(hand_written(true, false)), HasSubstr("the model has no loss"));
  Graph wrong_label;
  wrong_label.input("image", {DType::f32, {4, 2}});
  wrong_label.input("label", {DType::f32, {4}});
  EXPECT_THAT(error_of(wrong_label), HasSubstr("input 'label' must be i64[N], got f32[4]"));
  // find() never throws: it reports what is there.
  ModelSignature partial = ModelSignature::find(hand_written(false));
  EXPECT_NE(partial.image, kNoValue);
  EXPECT_EQ(partial.label, kNoValue);
  EXPECT_EQ(partial.logits, kNoValue);
  EXPECT_EQ(partial.loss, kNoValue);
}
