# The per-layer include trees cannot stop `#include "../train/trainer.h"`, which the compiler
# resolves next to the including file; the layer folders use root-relative includes only.
# Invoked by ctest with -DSOURCE_DIR.
set(found "")
foreach(dir graph ops autodiff runtime proto models train)
  file(GLOB_RECURSE files ${SOURCE_DIR}/${dir}/*.h ${SOURCE_DIR}/${dir}/*.cc)
  foreach(file IN LISTS files)
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"\\.\\.?/")
    foreach(line IN LISTS lines)
      file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
      string(APPEND found "\n  ${rel}: ${line}")
    endforeach()
  endforeach()
endforeach()
if(found)
  message(FATAL_ERROR "relative includes bypass the layers; include from the source root instead:${found}")
endif()
