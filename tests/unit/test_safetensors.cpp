// safetensors: round trips for every dtype, sharded checkpoints, and a corpus of
// malformed files that must each give one clean error naming the file and tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "fixtures.h"

using namespace emu;
namespace fs = std::filesystem;

namespace {

Tensor sample_tensor(DType dtype, Shape shape) {
    Tensor t = Tensor::zeros(dtype, shape);
    auto* bytes = t.data_mut<std::uint8_t>();
    for (std::size_t i = 0; i < t.nbytes(); ++i) bytes[i] = std::uint8_t(i * 37 + 11);
    return t;
}

void write_raw(const std::string& path, const std::string& header, std::size_t data_bytes,
               std::int64_t header_len_override = -1) {
    std::ofstream out(path, std::ios::binary);
    std::uint64_t len = header_len_override >= 0 ? std::uint64_t(header_len_override) : header.size();
    for (int i = 0; i < 8; ++i) out.put(char(len >> (8 * i)));
    out << header;
    out << std::string(data_bytes, '\0');
}

// Expects opening to fail with an Error whose message contains every fragment.
void expect_error(const std::string& path, std::vector<std::string> fragments) {
    try {
        SafetensorsFile::open(path);
        ADD_FAILURE() << path << " opened without error";
    } catch (const Error& e) {
        std::string msg = e.what();
        for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
    }
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
    std::string dir = test::temp_dir("st_roundtrip");
    std::vector<std::pair<std::string, Tensor>> tensors = {
        {"f32", sample_tensor(DType::F32, {3, 4})},  {"f16", sample_tensor(DType::F16, {5})},
        {"bf16", sample_tensor(DType::BF16, {2, 2, 2})}, {"i32", sample_tensor(DType::I32, {7})},
        {"i64", sample_tensor(DType::I64, {1, 3})},  {"u8", sample_tensor(DType::U8, {9})},
        {"q8", sample_tensor(DType::Q8_0, {2, 32})}, {"scalar", sample_tensor(DType::F32, {})},
        {"empty", sample_tensor(DType::F32, {0, 4})},
    };
    std::string path = dir + "/all.safetensors";
    write_safetensors(path, tensors, {{"format", "pt"}});
    SafetensorsFile f = SafetensorsFile::open(path);
    EXPECT_EQ(f.names().size(), tensors.size());
    EXPECT_EQ(f.metadata().at("format"), "pt");
    for (const auto& [name, t] : tensors) {
        const Tensor& got = f.get(name);
        EXPECT_EQ(got.dtype(), t.dtype()) << name;
        EXPECT_EQ(got.shape(), t.shape()) << name;
        ASSERT_EQ(got.nbytes(), t.nbytes()) << name;
        EXPECT_EQ(std::memcmp(got.raw(), t.raw(), t.nbytes()), 0) << name;
    }
    EXPECT_THROW(f.get("missing"), Error);
}

TEST(Safetensors, ShardedIndexAndFolder) {
    std::string dir = test::temp_dir("st_sharded");
    write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", sample_tensor(DType::F32, {2})}});
    write_safetensors(dir + "/model-00002-of-00002.safetensors",
                      {{"b", sample_tensor(DType::BF16, {3})}, {"c", sample_tensor(DType::I64, {1})}});
    nlohmann::json index = {{"metadata", {{"total_size", 30}}},
                            {"weight_map",
                             {{"a", "model-00001-of-00002.safetensors"},
                              {"b", "model-00002-of-00002.safetensors"},
                              {"c", "model-00002-of-00002.safetensors"}}}};
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
    for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
        TensorStore store = TensorStore::open(path);
        EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
        EXPECT_EQ(store.get("b").dtype(), DType::BF16);
        EXPECT_EQ(store.files().size(), 2u);
        EXPECT_NO_THROW(store.get("b", {3}));
        EXPECT_THROW(store.get("b", {4}), Error);
        EXPECT_THROW(store.get("zzz"), Error);
    }
    // An index pointing a tensor at a shard that does not hold it.
    index["weight_map"]["d"] = "model-00001-of-00002.safetensors";
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
    EXPECT_THROW(TensorStore::open(dir), Error);
    // Shard names may not escape the folder.
    index["weight_map"].erase("d");
    index["weight_map"]["a"] = "../elsewhere.safetensors";
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
    EXPECT_THROW(TensorStore::open(dir), Error);
}

TEST(Safetensors, MalformedFilesGiveCleanErrors) {
    std::string dir = test::temp_dir("st_bad");
    auto p = [&](const std::string& n) { return dir + "/" + n + ".safetensors"; };
    const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

    std::ofstream(p("tiny")) << "abc";
    expect_error(p("tiny"), {"tiny.safetensors", "shorter"});

    write_raw(p("header_past_eof"), "{" + ok_entry + "}", 16, 1 << 20);
    expect_error(p("header_past_eof"), {"header_past_eof", "past the end"});

    write_raw(p("huge_header_len"), "{}", 0, std::int64_t(0x7fffffffffffffffll));
    expect_error(p("huge_header_len"), {"huge_header_len", "header length"});

    write_raw(p("bad_json"), "{\"w\": [", 0);
    expect_error(p("bad_json"), {"bad_json", "JSON"});

    write_raw(p("not_object"), "[1,2]", 0);
    expect_error(p("not_object"), {"not a JSON object"});

    write_raw(p("unknown_dtype"), R"({"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}})", 2);
    expect_error(p("unknown_dtype"), {"'w'", "unknown dtype"});

    write_raw(p("size_mismatch"), R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 16);
    expect_error(p("size_mismatch"), {"'w'", "needs 16 bytes"});

    write_raw(p("out_of_range"), R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})", 16);
    expect_error(p("out_of_range"), {"'w'", "past the data section"});

    write_raw(p("reversed"), R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", 16);
    expect_error(p("reversed"), {"'w'", "begin > end"});

    write_raw(p("overlap"),
              R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
              16);
    expect_error(p("overlap"), {"overlaps"});

    write_raw(p("overflow_shape"),
              R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})", 16);
    expect_error(p("overflow_shape"), {"'w'", "overflows"});

    write_raw(p("negative_dim"), R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
    expect_error(p("negative_dim"), {"'w'"});

    write_raw(p("float_offsets"), R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}})", 4);
    expect_error(p("float_offsets"), {"'w'"});

    write_raw(p("missing_fields"), R"({"w":{"dtype":"F32"}})", 0);
    expect_error(p("missing_fields"), {"'w'", "shape"});

    write_raw(p("bad_metadata"), R"({"__metadata__":{"a":1}})", 0);
    expect_error(p("bad_metadata"), {"__metadata__"});

    // Truncating a valid file anywhere must fail cleanly, never crash.
    std::string good = p("good");
    write_safetensors(good, {{"x", sample_tensor(DType::F32, {8})}, {"y", sample_tensor(DType::BF16, {4})}});
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        std::ofstream(p("trunc"), std::ios::binary) << bytes.substr(0, cut);
        EXPECT_THROW(SafetensorsFile::open(p("trunc")), Error) << "cut at " << cut;
    }
    EXPECT_THROW(SafetensorsFile::open(dir + "/does_not_exist.safetensors"), Error);
}

TEST(Safetensors, EveryFixtureWeightFileLoads) {
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(test::fixtures_root())) {
        if (entry.path().extension() != ".safetensors") continue;
        SafetensorsFile f = SafetensorsFile::open(entry.path().string());
        EXPECT_FALSE(f.names().empty()) << entry.path();
        for (const auto& name : f.names()) EXPECT_EQ(f.get(name).nbytes(), dtype_bytes(f.get(name).dtype(), f.get(name).numel()));
        ++files;
    }
    EXPECT_GT(files, 0) << "no .safetensors under " << test::fixtures_root();
}
