# LM benchmark (issue 4): bench_lm, driven by bench/run_lm_bench.sh.
add_executable(bench_lm ${CMAKE_CURRENT_LIST_DIR}/bench_lm.cpp)
target_compile_options(bench_lm PRIVATE -Wall -Wextra)
target_link_libraries(bench_lm PRIVATE emu)
set_target_properties(bench_lm PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# Prefill matrix products alone and the AMX ceiling probe: bench/run_gemm_bench.sh.
add_executable(bench_gemm ${CMAKE_CURRENT_LIST_DIR}/bench_gemm.cpp)
target_compile_options(bench_gemm PRIVATE -Wall -Wextra)
target_link_libraries(bench_gemm PRIVATE emu)
set_target_properties(bench_gemm PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
