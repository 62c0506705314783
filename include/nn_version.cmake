# nn_version.cmake: writes nn_version.h from nn_version.h.in, with the
# `git describe` of the source tree. CMakeLists.txt runs it at configure time
# and again at every build (target nnmpi_version), so the commit a binary
# reports (--version, the metrics header, checkpoints) is the one it was
# built from, not the one cmake last configured.
#   cmake -DSRC=<source dir> -DOUT=<header> -DPROJECT_VERSION=<x.y.z>
#         [-DGIT_EXECUTABLE=<git>] -P nn_version.cmake
# configure_file leaves OUT untouched when its text is unchanged, so a build
# on the same commit recompiles nothing.
set(NNMPI_GIT_DESCRIBE "")
if(GIT_EXECUTABLE AND EXISTS "${SRC}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --tags
                  WORKING_DIRECTORY "${SRC}"
                  OUTPUT_VARIABLE NNMPI_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
configure_file("${SRC}/include/nn_version.h.in" "${OUT}" @ONLY)
