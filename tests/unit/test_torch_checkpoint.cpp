// Torch zip checkpoints: real torch.save files load exactly; hostile or corrupt
// ones (forbidden globals, forged sizes, truncation) give clean errors.
#include <gtest/gtest.h>
#include <zip.h>

#include <cstring>
#include <fstream>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/io/torch_checkpoint.h"
#include "fixtures.h"

using namespace emu;

namespace {

const std::string kData = std::string(EMU_SOURCE_DIR) + "/tests/data/torch_ckpt";

// Builds pickle bytes opcode by opcode (protocol 2, as torch.save writes).
struct PickleWriter {
    std::string bytes = "\x80\x02";
    PickleWriter& op(const std::string& o) { bytes += o; return *this; }
    PickleWriter& str(const std::string& s) {
        bytes += 'X';
        for (int i = 0; i < 4; ++i) bytes += char((s.size() >> (8 * i)) & 0xff);
        bytes += s;
        return *this;
    }
    PickleWriter& int1(int v) { bytes += 'K'; bytes += char(v); return *this; }
    // Any non-negative integer: BININT1 when it fits a byte, else LONG1 with 8 bytes.
    PickleWriter& integer(std::int64_t v) {
        if (v >= 0 && v < 256) return int1(int(v));
        bytes += "\x8a\x08";
        for (int i = 0; i < 8; ++i) bytes += char((std::uint64_t(v) >> (8 * i)) & 0xff);
        return *this;
    }
    PickleWriter& global(const std::string& module, const std::string& name) {
        bytes += "c" + module + "\n" + name + "\n";
        return *this;
    }
    // _rebuild_tensor_v2(storage(key, numel), offset, (shape...), (stride...), False, OrderedDict())
    PickleWriter& tensor(const std::string& key, std::int64_t numel, int offset, std::vector<std::int64_t> shape,
                         std::vector<std::int64_t> stride) {
        global("torch._utils", "_rebuild_tensor_v2").op("(");
        op("(").str("storage").global("torch", "FloatStorage").str(key).str("cpu").integer(numel).op("t").op("Q");
        int1(offset);
        op("(");
        for (std::int64_t s : shape) integer(s);
        op("t(");
        for (std::int64_t s : stride) integer(s);
        op("t").op("\x89").global("collections", "OrderedDict").op(")R").op("tR");
        return *this;
    }
    std::string done() { return bytes + "."; }
};

// Writes a stored (uncompressed) zip, as torch.save does.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ASSERT_NE(z, nullptr);
    std::vector<std::string> keep;
    keep.reserve(entries.size());
    for (const auto& [name, data] : entries) {
        keep.push_back(data);
        zip_source_t* src = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
        zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
        ASSERT_GE(idx, 0);
        zip_set_file_compression(z, zip_uint64_t(idx), ZIP_CM_STORE, 0);
    }
    ASSERT_EQ(zip_close(z), 0);
}

std::string floats(std::vector<float> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

void expect_error(const std::string& path, const std::string& fragment) {
    try {
        load_torch_checkpoint(path);
        ADD_FAILURE() << path << " loaded without error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(TorchCheckpoint, TorchSaveFilesMatchTheirValues) {
    SafetensorsFile expect = SafetensorsFile::open(kData + "/expect.safetensors");
    for (const char* file : {"/bare.pt", "/wrapped.ckpt"}) {
        auto tensors = load_torch_checkpoint(kData + file);
        EXPECT_EQ(tensors.size(), expect.names().size()) << file;  // epoch/global_step are not tensors
        for (const auto& name : expect.names()) {
            ASSERT_TRUE(tensors.count(name)) << file << ": " << name;
            const Tensor& got = tensors.at(name);
            const Tensor& want = expect.get(name);
            EXPECT_EQ(got.dtype(), want.dtype()) << name;
            EXPECT_EQ(got.shape(), want.shape()) << name;
            ASSERT_EQ(got.nbytes(), want.nbytes()) << name;
            EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << file << ": " << name;
        }
    }
}

TEST(TorchCheckpoint, EveryFixtureCheckpointLoads) {
    auto cases = test::cases_of_kind("vq");
    ASSERT_FALSE(cases.empty()) << "no vq cases under " << test::fixtures_root();
    for (const auto& c : cases) {
        auto tensors = load_torch_checkpoint(c.dir + "/" + c.info["files"]["checkpoint"].get<std::string>());
        if (c.info.contains("checkpoint_format")) {
            const auto& fmt = c.info["checkpoint_format"];
            if (fmt.contains("tensors")) {
                EXPECT_EQ(tensors.size(), fmt["tensors"].get<std::size_t>()) << c.name;
            }
            if (fmt.contains("parameters")) {
                std::uint64_t params = 0;
                for (const auto& [n, t] : tensors) params += t.numel();
                EXPECT_EQ(params, fmt["parameters"].get<std::uint64_t>()) << c.name;
            }
        }
    }
}

TEST(TorchCheckpoint, HandWrittenPickleWithStridedView) {
    std::string dir = test::temp_dir("torch_ok");
    // A 2x3 view with strides (1, 2) over a 6-element storage, starting at offset 0: the transpose of [[0,1],[2,3],[4,5]].
    std::string pkl = PickleWriter().op("}(").str("w").tensor("0", 6, 0, {2, 3}, {1, 2}).op("u").done();
    write_zip(dir + "/ok.ckpt", {{"ok/data.pkl", pkl}, {"ok/data/0", floats({0, 1, 2, 3, 4, 5})}});
    auto t = load_torch_checkpoint(dir + "/ok.ckpt");
    ASSERT_EQ(t.count("w"), 1u);
    EXPECT_EQ(t.at("w").f32_values(), (std::vector<float>{0, 2, 4, 1, 3, 5}));
}

TEST(TorchCheckpoint, HostileAndCorruptFilesGiveCleanErrors) {
    std::string dir = test::temp_dir("torch_bad");
    auto path = [&](const std::string& n) { return dir + "/" + n + ".ckpt"; };

    // Globals that would execute code in Python are refused by name.
    for (auto [module, name] : {std::pair{"os", "system"}, {"builtins", "eval"}, {"posix", "system"},
                                {"subprocess", "Popen"}, {"torch", "load"}}) {
        std::string pkl = PickleWriter().global(module, name).str("echo hi").op("\x85R").done();
        write_zip(path("global"), {{"a/data.pkl", pkl}});
        expect_error(path("global"), std::string(module) + "." + name);
    }
    // Opcodes outside the subset (INST, OBJ, EXT1, PERSID) are refused.
    for (std::string op : {"ios\nsystem\n", "o", "\x82\x01", "P0\n"}) {
        write_zip(path("opcode"), {{"a/data.pkl", PickleWriter().op("(").op(op).done()}});
        expect_error(path("opcode"), "not allowed");
    }
    // Structural nonsense.
    write_zip(path("no_stop"), {{"a/data.pkl", PickleWriter().op("}").bytes}});
    expect_error(path("no_stop"), "truncated");
    write_zip(path("empty_stack"), {{"a/data.pkl", PickleWriter().op("u").done()}});
    expect_error(path("empty_stack"), "MARK");
    write_zip(path("bad_memo"), {{"a/data.pkl", PickleWriter().op("h\x05").done()}});
    expect_error(path("bad_memo"), "memo");
    write_zip(path("not_dict"), {{"a/data.pkl", PickleWriter().op("]").done()}});
    expect_error(path("not_dict"), "expected a state_dict");
    write_zip(path("no_pickle"), {{"a/other", "x"}});
    expect_error(path("no_pickle"), "no data.pkl");
    std::ofstream(path("not_zip")) << "this is not a zip file at all";
    expect_error(path("not_zip"), "not a torch zip checkpoint");

    // Storage problems: missing entry, storage smaller than claimed, view past the storage.
    std::string pkl4 = PickleWriter().op("}(").str("w").tensor("0", 4, 0, {4}, {1}).op("u").done();
    write_zip(path("missing_storage"), {{"a/data.pkl", pkl4}});
    expect_error(path("missing_storage"), "no entry");
    write_zip(path("short_storage"), {{"a/data.pkl", pkl4}, {"a/data/0", floats({1, 2})}});
    expect_error(path("short_storage"), "storage holds 2");
    std::string pkl_past = PickleWriter().op("}(").str("w").tensor("0", 4, 2, {3}, {1}).op("u").done();
    write_zip(path("view_past"), {{"a/data.pkl", pkl_past}, {"a/data/0", floats({1, 2, 3, 4})}});
    expect_error(path("view_past"), "reaches past");
    std::string pkl_escape = PickleWriter().op("}(").str("w").tensor("../x", 1, 0, {1}, {1}).op("u").done();
    write_zip(path("escape"), {{"a/data.pkl", pkl_escape}});
    expect_error(path("escape"), "not a plain name");

    // An entry whose directory record claims a huge size: rejected before any allocation.
    write_zip(path("huge"), {{"a/data.pkl", pkl4}, {"a/data/0", floats({1, 2, 3, 4})}});
    std::fstream f(path("huge"), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    const std::string central("PK\x01\x02", 4), local("PK\x03\x04", 4);
    for (std::size_t at = bytes.find(central); at != std::string::npos; at = bytes.find(central, at + 4))
        std::memcpy(&bytes[at + 24], "\xf0\xff\xff\x7f", 4);
    for (std::size_t at = bytes.find(local); at != std::string::npos; at = bytes.find(local, at + 4))
        std::memcpy(&bytes[at + 22], "\xf0\xff\xff\x7f", 4);
    f.seekp(0);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    f.close();
    EXPECT_THROW(load_torch_checkpoint(path("huge")), Error);

    // Truncating a real checkpoint anywhere fails cleanly.
    std::ifstream in(kData + "/bare.pt", std::ios::binary);
    std::string real((std::istreambuf_iterator<char>(in)), {});
    for (std::size_t cut = 0; cut < real.size(); cut += 37) {
        std::ofstream(path("trunc"), std::ios::binary) << real.substr(0, cut);
        EXPECT_THROW(load_torch_checkpoint(path("trunc")), Error) << "cut at " << cut;
    }
}

// Forged views: strides whose sum wraps around 2^64, a broadcast view of one element as a
// huge tensor, one large view repeated under many keys, and a value nested a million deep.
TEST(TorchCheckpoint, ForgedViewsAndNestingGiveCleanErrors) {
    std::string dir = test::temp_dir("torch_forged");
    auto path = [&](const std::string& n) { return dir + "/" + n + ".ckpt"; };

    // Each extent*stride fits, their sum 4*(2^62-1)+4 wraps to 0.
    const std::int64_t big = (std::int64_t(1) << 62) - 1;
    std::string pkl_wrap =
        PickleWriter().op("}(").str("w").tensor("0", 32, 0, {2, 2, 2, 2, 2}, {big, big, big, big, 4}).op("u").done();
    write_zip(path("wrap"), {{"a/data.pkl", pkl_wrap}, {"a/data/0", floats(std::vector<float>(32, 1.0f))}});
    expect_error(path("wrap"), "stride overflows");

    std::string pkl_broadcast = PickleWriter().op("}(").str("w").tensor("0", 1, 0, {65536, 65536}, {0, 0}).op("u").done();
    write_zip(path("broadcast"), {{"a/data.pkl", pkl_broadcast}, {"a/data/0", floats({1})}});
    expect_error(path("broadcast"), "more than its storage");

    const std::int64_t n = 1 << 20;  // a 4 MiB storage viewed whole under 8 keys: 32 MiB
    PickleWriter repeated;
    repeated.op("}(");
    for (int k = 0; k < 8; ++k) repeated.str("w" + std::to_string(k)).tensor("0", n, 0, {n}, {1});
    write_zip(path("repeated"), {{"a/data.pkl", repeated.op("u").done()}, {"a/data/0", floats(std::vector<float>(n))}});
    expect_error(path("repeated"), "four times the file");
    // Two keys on one storage (tied weights) stay fine.
    PickleWriter tied;
    tied.op("}(").str("a").tensor("0", 4, 0, {4}, {1}).str("b").tensor("0", 4, 0, {2, 2}, {2, 1});
    write_zip(path("tied"), {{"a/data.pkl", tied.op("u").done()}, {"a/data/0", floats({1, 2, 3, 4})}});
    EXPECT_EQ(load_torch_checkpoint(path("tied")).size(), 2u);

    // A million nested 1-tuples under a non-tensor key: loads (no weights) and is freed
    // without recursing; as the root it is refused, and freed the same way.
    const std::string deep = "N" + std::string(1000000, '\x85');
    write_zip(path("deep_entry"), {{"a/data.pkl", PickleWriter().op("}(").str("x").op(deep).op("u").done()}});
    EXPECT_TRUE(load_torch_checkpoint(path("deep_entry")).empty());
    write_zip(path("deep_root"), {{"a/data.pkl", PickleWriter().op(deep).done()}});
    expect_error(path("deep_root"), "expected a state_dict");
}
