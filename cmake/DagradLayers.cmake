# The layers the build enforces (DESIGN.md, "Layers the build enforces"). Each layer is an OBJECT
# library compiled against its own include tree, <build>/layers/<layer>/include, which holds a
# symlink to each folder of that layer and of the layers added before it, and nothing else. The
# source root is never on a layer's include path, so an include that runs up the layers (say
# "train/trainer.h" from runtime/) is "No such file or directory" at compile time. Tools, tests and
# downstream users see every header through the dagrad target, as before.

# dagrad_add_layer(NAME DIRS dir... SOURCES file...): a layer above every layer added so far.
function(dagrad_add_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 LAYER "" "" "DIRS;SOURCES")
  get_property(below GLOBAL PROPERTY DAGRAD_LAYER_DIRS)
  set(visible ${below} ${LAYER_DIRS})
  set(root ${PROJECT_BINARY_DIR}/layers/${name}/include)
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  foreach(dir IN LISTS visible)
    get_filename_component(parent ${root}/${dir} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${dir} ${root}/${dir} SYMBOLIC)
  endforeach()
  add_library(dagrad_${name} OBJECT ${LAYER_SOURCES})
  target_include_directories(dagrad_${name} PRIVATE ${root})
  set_property(GLOBAL PROPERTY DAGRAD_LAYER_DIRS ${visible})
  set_property(GLOBAL APPEND PROPERTY DAGRAD_LAYERS ${name})
  set_property(GLOBAL PROPERTY DAGRAD_LAYER_ROOT_${name} ${root})
endfunction()

# Compiles `target` with the include tree of `layer` only (the layering test's probe).
function(dagrad_use_layer_includes target layer)
  get_property(root GLOBAL PROPERTY DAGRAD_LAYER_ROOT_${layer})
  if(NOT root)
    message(FATAL_ERROR "dagrad_use_layer_includes: no layer '${layer}'")
  endif()
  target_include_directories(${target} PRIVATE ${root})
endfunction()
