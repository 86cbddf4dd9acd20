# Included from the top-level CMakeLists.txt: builds fuzz/ as a separate
# clang project (libFuzzer needs clang; the main build may use g++) and runs
# each fuzzer for a bounded time as a test.
include(ExternalProject)
find_program(MESHBPF_CLANGXX NAMES clang++ clang++-14 REQUIRED)
ExternalProject_Add(fuzzers
  SOURCE_DIR ${CMAKE_SOURCE_DIR}/fuzz
  BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${MESHBPF_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo
             -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
             -DMESHBPF_SOURCE_DIR=${CMAKE_SOURCE_DIR} -DMESHBPF_BPF_OUT=${BPF_OUT}
  DEPENDS bpf_skeletons
  INSTALL_COMMAND ""
  BUILD_ALWAYS TRUE)  # its sources live outside what ExternalProject watches

# meshbpf_fuzz_test(FUZZER SECONDS MAX_LEN [libFuzzer flags...]): runs FUZZER
# for SECONDS (or 2 million inputs, whichever comes first) from its corpus,
# corpus/<FUZZER>, which keeps the new inputs it finds for the next run. A
# crash leaves its input as crash-* in the test's working directory and
# fails the test (exit 1: libFuzzer's own default for a crash is 77, which
# would read as skipped). Exit code 77 (a facility missing, e.g. root)
# counts as skipped.
function(meshbpf_fuzz_test fuzzer seconds max_len)
  string(REGEX REPLACE "_fuzz$" "" name ${fuzzer})
  add_test(NAME fuzz_${name}
    COMMAND ${CMAKE_BINARY_DIR}/fuzz/${fuzzer} -max_total_time=${seconds} -runs=2000000
            -timeout=10 -error_exitcode=1 -max_len=${max_len} -print_final_stats=1 ${ARGN}
            ${CMAKE_BINARY_DIR}/fuzz/corpus/${fuzzer}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  set_tests_properties(fuzz_${name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endfunction()

meshbpf_fuzz_test(announcement_fuzz 20 1300)
# The new targets share about a minute of the test run between them.
meshbpf_fuzz_test(probe_fuzz 8 128)
meshbpf_fuzz_test(handshake_fuzz 8 128)
meshbpf_fuzz_test(control_fuzz 12 4096)
meshbpf_fuzz_test(config_fuzz 12 8192)
meshbpf_fuzz_test(log_record_fuzz 8 1024)
meshbpf_fuzz_test(datapath_fuzz 15 1600)
