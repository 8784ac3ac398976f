# Installs the built project into a scratch prefix, then configures, builds and runs tests/downstream
# and examples/small_resnet against it with find_package(dagrad). Invoked by ctest with -DBINARY_DIR, -DSOURCE_DIR, -DWORK_DIR
# and -DGENERATOR (the parent build's, so a machine with Ninja but no make works).
if(NOT GENERATOR)
  message(FATAL_ERROR "install_test.cmake needs -DGENERATOR=<the parent build's CMAKE_GENERATOR>")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "step failed (${result}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run_step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/downstream -B ${WORK_DIR}/build -G "${GENERATOR}" -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run_step(${WORK_DIR}/build/downstream)
# The example application: trains a small ResNet for a few steps, saves and reloads it.
run_step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/small_resnet -B ${WORK_DIR}/example -G "${GENERATOR}" -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} --build ${WORK_DIR}/example)
run_step(${WORK_DIR}/example/small_resnet ${WORK_DIR}/small_resnet.dagrad)
message(STATUS "downstream project and examples/small_resnet built and ran against the installed dagrad package")
