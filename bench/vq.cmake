# IBQ vision tokenizer benchmark (compare with bench/vq_torch.py; see docs/vision.md).
add_executable(bench_vq ${CMAKE_CURRENT_LIST_DIR}/vq_bench.cpp)
target_compile_options(bench_vq PRIVATE -Wall -Wextra)
target_link_libraries(bench_vq PRIVATE emu)
