# mpi-tests/cluster.cmake - tests that build a cluster on this machine out of
# network namespaces: a real two-node Slurm (mpi-tests/slurm/run.sh) and
# mpirun over TCP between two hosts (mpi-tests/multihost/run.sh). Both need
# root and "ip netns"; elsewhere they exit 77 and CTest reports them skipped.
# The Slurm test installs slurmctld, slurmd, slurm-client and munge with
# apt-get when they are missing.
#
# Included from mpi-tests/CMakeLists.txt:  include(cluster.cmake)
# Run alone:  ctest -L slurm --output-on-failure   (or -L multihost)
# Skip them:  ctest -LE 'slurm|multihost'
#
# Arguments of both scripts: the nnmpi binary, the repository, the data.
if(NOT DEFINED NNMPI_TEST_DATA_DIR)
  set(NNMPI_TEST_DATA_DIR "${PROJECT_SOURCE_DIR}/data/mnist")
endif()

# RUN_SERIAL: they start daemons and namespaces, and want both cores.
# About 3 min (slurm) and 15 s (multihost) on 2 cores; bounded anyway.
add_test(NAME slurm_cluster
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/slurm/run.sh
                 $<TARGET_FILE:nnmpi> ${PROJECT_SOURCE_DIR} ${NNMPI_TEST_DATA_DIR})
set_tests_properties(slurm_cluster PROPERTIES
                     LABELS slurm SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE
                     FAIL_REGULAR_EXPRESSION "FAIL:")

add_test(NAME multihost_tcp
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/multihost/run.sh
                 $<TARGET_FILE:nnmpi> ${PROJECT_SOURCE_DIR} ${NNMPI_TEST_DATA_DIR})
set_tests_properties(multihost_tcp PROPERTIES
                     LABELS multihost SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE
                     FAIL_REGULAR_EXPRESSION "FAIL:")
