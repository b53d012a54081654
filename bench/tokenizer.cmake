# bench/tokenizer_bench: single-thread encode/decode throughput of the Emu3.5 text tokenizer.
add_executable(tokenizer_bench ${CMAKE_CURRENT_LIST_DIR}/tokenizer_bench.cpp)
target_compile_options(tokenizer_bench PRIVATE -Wall -Wextra)
target_link_libraries(tokenizer_bench PRIVATE emu)
target_compile_definitions(tokenizer_bench PRIVATE EMU_DEFAULT_TOKENIZER="${CMAKE_SOURCE_DIR}/../shared/emu35-tokenizer")
set_target_properties(tokenizer_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
