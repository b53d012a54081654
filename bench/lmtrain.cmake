# LM training-step benchmark (issue 8): bench_lmtrain vs bench/lmtrain_torch.py, driven by
# bench/run_lmtrain_bench.sh.
add_executable(bench_lmtrain ${CMAKE_CURRENT_LIST_DIR}/bench_lmtrain.cpp)
target_compile_options(bench_lmtrain PRIVATE -Wall -Wextra)
target_link_libraries(bench_lmtrain PRIVATE emu)
set_target_properties(bench_lmtrain PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
