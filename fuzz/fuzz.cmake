# Included from the top-level CMakeLists.txt: builds fuzz/ as a separate
# clang project (libFuzzer needs clang; the main build may use g++) and runs
# the announcement fuzzer for a bounded time as a test.
include(ExternalProject)
find_program(MESHBPF_CLANGXX NAMES clang++ clang++-14 REQUIRED)
ExternalProject_Add(announcement_fuzzer
  SOURCE_DIR ${CMAKE_SOURCE_DIR}/fuzz
  BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${MESHBPF_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo
             -DMESHBPF_SOURCE_DIR=${CMAKE_SOURCE_DIR}
  INSTALL_COMMAND ""
  BUILD_ALWAYS TRUE)  # its sources live outside what ExternalProject watches

# 20 s or 2 million inputs, whichever comes first; new inputs it finds are
# kept in the build tree's corpus for the next run. A crash leaves its input
# as crash-* in the test's working directory.
add_test(NAME fuzz_announcement
  COMMAND ${CMAKE_BINARY_DIR}/fuzz/announcement_fuzz -max_total_time=20 -runs=2000000
          -timeout=10 -max_len=1300 -print_final_stats=1 ${CMAKE_BINARY_DIR}/fuzz/corpus
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
set_tests_properties(fuzz_announcement PROPERTIES TIMEOUT 120)
