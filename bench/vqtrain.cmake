# IBQ training-step benchmark (compare with bench/vq_train_torch.py; see docs/training.md).
add_executable(bench_vq_train ${CMAKE_CURRENT_LIST_DIR}/vq_train_bench.cpp)
target_compile_options(bench_vq_train PRIVATE -Wall -Wextra)
target_link_libraries(bench_vq_train PRIVATE emu)
