// Compiled by the test Layers.UpwardIncludeFailsToBuild with the runtime layer's include tree: the
// include below runs up the layers (runtime <- ... <- train), so this file must not compile.
#include "graph/graph.h"  // allowed: graph is below runtime
#include "train/trainer.h"
