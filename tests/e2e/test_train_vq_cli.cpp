// `emu train vq` end to end: a few steps on ShapesWorld pictures, the exported folder
// loaded by vision::Ibq and `emu vq roundtrip`, and a resumed run that matches the
// uninterrupted one exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "emu/io/image.h"
#include "emu/io/safetensors.h"
#include <cmath>
#include "emu/train/metrics.h"
#include "emu/train/vq_trainer.h"
#include "emu/vision/ibq.h"
#include "emu/vision/preprocess.h"
#include "emu/world/render.h"
#include "emu/world/world_png.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::test;
namespace fs = std::filesystem;

namespace {

// Tiny models: thread start-up would cost more than it saves (and the machine is shared).
const int kOneThread = setenv("OMP_NUM_THREADS", "1", 1);

std::string write_config(const std::string& dir, const std::string& extra = "", int n_embed = 16,
                         const std::string& loss_extra = "") {
    const std::string cfg = dir + "/vq.yaml";
    std::ofstream(cfg) << "out: " << dir << "/run\nseed: 3\nsteps: 4\nlr: 1.0e-3\nwarmup_steps: 1\n"
                       << "log_every: 1\neval_every: 4\nsave_every: 2\nkeep_checkpoints: 2\n"
                       << "model: {ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [], "
                       << "resolution: 48, z_channels: 8, n_embed: " << n_embed << ", embed_dim: 8}\n"
                       << "loss: {l1: 1.0, l2: 1.0, quant: 1.0, beta: 0.25" << loss_extra << "}\n"
                       << "data: {seed: 2, batch_size: 2, width: 48, height: 48, eval_images: 3}\n"
                       << extra;
    return cfg;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(TrainVqCli, TrainsExportsAndRoundTrips) {
    const std::string dir = temp_dir("train_vq_cli");
    const std::string cfg = write_config(dir);
    CommandResult r = run_emu("train vq --quiet --config '" + cfg + "'");
    ASSERT_EQ(r.status, 0) << r.out;
    const std::string out = dir + "/run";
    EXPECT_NE(r.out.find("\"parse_accuracy\""), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(out + "/checkpoint-000002/train_state.json"));
    EXPECT_TRUE(fs::exists(out + "/checkpoint-000004/train_state.json"));
    EXPECT_TRUE(fs::exists(out + "/samples/step-4.png"));
    const auto metrics = train::read_metrics(out + "/metrics.jsonl");
    int train_lines = 0, eval_lines = 0;
    for (const auto& m : metrics) {
        if (m["split"] == "train") {
            ++train_lines;
            EXPECT_TRUE(std::isfinite(m["loss"].get<double>()));
        } else {
            ++eval_lines;
            EXPECT_GE(m["parse_accuracy"].get<double>(), 0.0);
            EXPECT_GT(m["psnr"].get<double>(), 0.0);
        }
    }
    EXPECT_EQ(train_lines, 4);
    EXPECT_EQ(eval_lines, 1);

    // The export is a released-layout tokenizer folder.
    const vision::Ibq ibq = vision::Ibq::load(out);
    EXPECT_EQ(ibq.config().n_embed, 16);
    EXPECT_EQ(ibq.config().downsample_factor(), 2);
    world::Scene scene;
    scene.objects.push_back(world::Object{world::Shape::Square, world::Colour::Blue, world::Size::Large, 1, 1});
    const world::Image pic = world::render(scene, 48, 48);
    Image img;
    img.width = img.height = 48;
    img.channels = 3;
    img.pixels = pic.rgb;
    write_png(dir + "/in.png", img);
    r = run_emu("vq roundtrip --vq '" + out + "' --image '" + dir + "/in.png' --out '" + dir + "/rt.png'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("PSNR"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(dir + "/rt.png"));
}

TEST(TrainVqCli, ResumeMatchesUninterruptedRun) {
    const std::string dir = temp_dir("train_vq_resume");
    const std::string cfg = write_config(dir, "");
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "'").status, 0);
    // Second run: starts from the first run's step-2 checkpoint.
    const std::string out2 = dir + "/run2";
    fs::create_directories(out2);
    fs::copy(dir + "/run/checkpoint-000002", out2 + "/checkpoint-000002", fs::copy_options::recursive);
    CommandResult r = run_emu("train vq --quiet --config '" + cfg + "' --out '" + out2 + "' --resume auto");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(slurp(dir + "/run/model.safetensors"), slurp(out2 + "/model.safetensors"));
    EXPECT_EQ(slurp(dir + "/run/checkpoint-000004/optimizer.safetensors"),
              slurp(out2 + "/checkpoint-000004/optimizer.safetensors"));
    const auto a = train::read_metrics(dir + "/run/metrics.jsonl");
    const auto b = train::read_metrics(out2 + "/metrics.jsonl");
    ASSERT_EQ(b.size(), 3u);  // steps 3, 4 and the eval at 4
    for (std::size_t i = 0; i < b.size(); ++i) {
        const auto& x = a[a.size() - b.size() + i];
        EXPECT_EQ(x["step"], b[i]["step"]);
        for (const char* k : {"loss", "rec", "quant", "grad_norm", "psnr", "parse_accuracy"})
            if (x.contains(k)) {
                EXPECT_EQ(x[k], b[i][k]) << k << " at step " << x["step"];
            }
    }
}

TEST(TrainVqCli, CodebookUpkeepNormalisesRestartsAndResumesExactly) {
    // 2048 codes for 2 x 576 positions: most codes are dead at the restart after step 3,
    // whose usage counts span the checkpoint at step 2.
    const std::string dir = temp_dir("train_vq_upkeep");
    const std::string cfg = write_config(dir, "codebook: {norm: 2.0, restart_every: 3}\n", 2048,
                                         ", straight_through: true, object_weight: 3.0");
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "'").status, 0);
    const auto metrics = train::read_metrics(dir + "/run/metrics.jsonl");
    bool restarted = false;
    for (const auto& m : metrics)
        if (m.contains("restarted_codes")) {
            EXPECT_EQ(m["step"], 3);
            EXPECT_GT(m["restarted_codes"].get<int>(), 1000);
            restarted = true;
        }
    EXPECT_TRUE(restarted);
    // Every exported code has the configured norm.
    const vision::Ibq ibq = vision::Ibq::load(dir + "/run");
    const TensorStore store = TensorStore::open(dir + "/run/model.safetensors");
    const Tensor E = store.get("quantize.embedding.weight").to_f32();
    ASSERT_EQ(E.dim(0), 2048);
    for (int i = 0; i < 2048; ++i) {
        double s = 0;
        for (int d = 0; d < 8; ++d) s += double(E.data<float>()[i * 8 + d]) * E.data<float>()[i * 8 + d];
        ASSERT_NEAR(std::sqrt(s), 2.0, 1e-5) << "code " << i;
    }
    const std::string out2 = dir + "/run2";
    fs::create_directories(out2);
    fs::copy(dir + "/run/checkpoint-000002", out2 + "/checkpoint-000002", fs::copy_options::recursive);
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "' --out '" + out2 + "' --resume auto").status, 0);
    EXPECT_EQ(slurp(dir + "/run/model.safetensors"), slurp(out2 + "/model.safetensors"));
}

TEST(TrainVqCli, UntilStopsAndResumeGoesOnAsIfNeverStopped) {
    const std::string dir = temp_dir("train_vq_until");
    const std::string cfg = write_config(dir);
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "'").status, 0);
    const std::string out2 = dir + "/run2";
    CommandResult r = run_emu("train vq --quiet --config '" + cfg + "' --out '" + out2 + "' --until 3");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("\"step\":3"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(out2 + "/checkpoint-000003/train_state.json"));
    EXPECT_FALSE(fs::exists(out2 + "/checkpoint-000004"));
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "' --out '" + out2 + "' --resume auto").status, 0);
    EXPECT_EQ(slurp(dir + "/run/model.safetensors"), slurp(out2 + "/model.safetensors"));
    EXPECT_NE(run_emu("train vq --quiet --config '" + cfg + "' --until -1").status, 0);
}

TEST(VqEvalCli, ScoresHeldOutReconstructions) {
    const std::string dir = temp_dir("vq_eval_cli");
    ASSERT_EQ(run_emu("train vq --quiet --config '" + write_config(dir) + "'").status, 0);
    CommandResult r = run_emu("vq eval --vq '" + dir + "/run' --n 5 --seed 11 --size 48 --sample '" + dir + "/s.png'");
    ASSERT_EQ(r.status, 0) << r.out;
    const nlohmann::json j = nlohmann::json::parse(r.out.substr(r.out.rfind("{\"")));
    EXPECT_EQ(j["images"], 5);
    EXPECT_EQ(j["seed"], 11);
    EXPECT_GE(j["parse_accuracy"].get<double>(), 0.0);
    EXPECT_LE(j["parse_accuracy"].get<double>(), 1.0);
    EXPECT_GT(j["psnr"].get<double>(), 0.0);
    EXPECT_LE(j["background_codes"].get<double>(), j["codes_used"].get<double>());
    EXPECT_LE(j["background_cells"].get<int>(), 5 * 24 * 24);  // 48x48 pictures, 24x24 codes
    // Without objects every cell is plain background, so every code is a background code.
    r = run_emu("vq eval --vq '" + dir + "/run' --n 3 --seed 11 --size 48 --max-objects 0 --agent-prob 0");
    ASSERT_EQ(r.status, 0) << r.out;
    const nlohmann::json empty = nlohmann::json::parse(r.out.substr(r.out.rfind("{\"")));
    EXPECT_EQ(empty["background_cells"].get<int>(), 3 * 24 * 24);
    EXPECT_EQ(empty["background_codes"], empty["codes_used"]);
    // 3 pictures: at most 3 codes per colour and place, at most ln 3 nats.
    EXPECT_GE(empty["background_code_entropy"].get<double>(), 0.0);
    EXPECT_LE(empty["background_code_entropy"].get<double>(), std::log(3.0) + 1e-9);
    // The sample sheet: the 5 pictures in a row, their reconstructions under them.
    const world::Image sheet = world::read_png(dir + "/s.png");
    EXPECT_EQ(sheet.width, 5 * 48);
    EXPECT_EQ(sheet.height, 2 * 48);
    EXPECT_NE(run_emu("vq eval --vq '" + dir + "/run' --n 0").status, 0);
    EXPECT_NE(run_emu("vq eval --vq '" + dir + "/nowhere'").status, 0);
}

TEST(TrainVqCli, InterruptSavesACheckpoint) {
    const std::string dir = temp_dir("train_vq_interrupt");
    const std::string cfg = write_config(dir, "");
    // A run far too long to finish; SIGINT once it has logged a step (the handler is in
    // place by then), as Ctrl-C would.
    {
        std::string text = slurp(cfg);
        const auto at = text.find("steps: 4\n");
        ASSERT_NE(at, std::string::npos);
        text.replace(at, 9, "steps: 100000\n");
        std::ofstream(cfg) << text;
    }
    const std::string out = dir + "/run";
    std::ofstream(dir + "/run.sh") << "cd '" << dir << "'\n"
                                   << "'" << EMU_BINARY << "' train vq --quiet --config '" << cfg
                                   << "' > log.txt 2>&1 &\npid=$!\n"
                                   << "for i in $(seq 1 600); do [ -s '" << out
                                   << "/metrics.jsonl' ] && break; sleep 0.1; done\n"
                                   << "kill -INT $pid\nwait $pid\necho $? > status.txt\n";
    ASSERT_EQ(std::system(("bash '" + dir + "/run.sh'").c_str()), 0);
    EXPECT_EQ(slurp(dir + "/status.txt"), "130\n") << slurp(dir + "/log.txt");
    const auto ckpt = [&]() -> std::string {
        for (const auto& e : fs::directory_iterator(out))
            if (e.path().filename().string().rfind("checkpoint-", 0) == 0) return e.path().string();
        return "";
    }();
    ASSERT_FALSE(ckpt.empty()) << slurp(dir + "/log.txt");
    EXPECT_TRUE(fs::exists(ckpt + "/train_state.json"));
    EXPECT_NE(slurp(dir + "/log.txt").find("\"interrupted\":true"), std::string::npos) << slurp(dir + "/log.txt");
    EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

TEST(TrainVqCli, RejectsUnknownKeysAndBadCanvas) {
    const std::string dir = temp_dir("train_vq_errors");
    CommandResult r = run_emu("train vq --quiet --config '" + write_config(dir, "colour: 3\n") + "'");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("unknown key 'colour'"), std::string::npos) << r.out;
    const std::string dir2 = temp_dir("train_vq_errors2");
    std::ofstream(dir2 + "/bad.yaml") << "out: " << dir2 << "/run\nsteps: 1\n"
                                      << "data: {width: 50, height: 50}\n";  // the default model has f = 8
    r = run_emu("train vq --quiet --config '" + dir2 + "/bad.yaml'");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("not a multiple of the downsample factor"), std::string::npos) << r.out;
}

TEST(TrainVqData, ScenesAreAPureFunctionOfSeedAndIndex) {
    train::VqDataConfig c;
    for (std::uint64_t i = 0; i < 20; ++i) {
        const world::Scene a = train::vq_scene(c, 5, i), b = train::vq_scene(c, 5, i);
        EXPECT_TRUE(world::same_content(a, b));
        EXPECT_EQ(world::render(a, 64, 64), world::render(b, 64, 64));
        a.validate();
    }
}

// Decoder-only fine-tuning: the encoder and codebook (what picks the codes) come out
// bit-identical, the decoder changes, and a resumed run matches the uninterrupted one.
TEST(TrainVqCli, DecoderOnlyKeepsTheCodes) {
    const std::string dir = temp_dir("train_vq_decoder_only");
    ASSERT_EQ(run_emu("train vq --quiet --config '" + write_config(dir) + "'").status, 0);
    const std::string cfg = dir + "/dec.yaml";
    std::ofstream(cfg) << "out: " << dir << "/dec\nseed: 4\nsteps: 4\nlr: 1.0e-3\nwarmup_steps: 1\n"
                       << "log_every: 1\neval_every: 4\nsave_every: 2\nkeep_checkpoints: 2\n"
                       << "init_from: " << dir << "/run\ntrainable: decoder\n"
                       << "loss: {l1: 1.0, l2: 1.0, quant: 1.0, beta: 0.25}\n"
                       << "data: {seed: 5, batch_size: 2, width: 48, height: 48, eval_images: 3}\n";
    CommandResult r = run_emu("train vq --quiet --config '" + cfg + "'");
    ASSERT_EQ(r.status, 0) << r.out;
    const TensorStore before = TensorStore::open(dir + "/run/model.safetensors");
    const TensorStore after = TensorStore::open(dir + "/dec/model.safetensors");
    int frozen = 0, changed = 0;
    for (const auto& name : before.names()) {
        const Tensor a = before.get(name).to_f32(), b = after.get(name).to_f32();
        const bool same = std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>());
        if (name.starts_with("decoder.") || name.starts_with("post_quant_conv.")) {
            changed += !same;
        } else {
            EXPECT_TRUE(same) << name << " must stay frozen";
            ++frozen;
        }
    }
    EXPECT_GT(frozen, 5);
    EXPECT_GT(changed, 5);
    // The same picture gets the same codes from both folders.
    train::VqDataConfig data;
    data.width = data.height = 48;
    const Tensor img =
        vision::image_to_tensor(world::to_io_image(world::render(train::vq_scene(data, 77, 0), 48, 48)));
    const Tensor c1 = vision::Ibq::load(dir + "/run").encode(img), c2 = vision::Ibq::load(dir + "/dec").encode(img);
    EXPECT_TRUE(std::equal(c1.data<std::int64_t>(), c1.data<std::int64_t>() + c1.numel(), c2.data<std::int64_t>()));
    // Exact resume from the step-2 checkpoint.
    const std::string out2 = dir + "/dec2";
    fs::create_directories(out2);
    fs::copy(dir + "/dec/checkpoint-000002", out2 + "/checkpoint-000002", fs::copy_options::recursive);
    ASSERT_EQ(run_emu("train vq --quiet --config '" + cfg + "' --out '" + out2 + "' --resume auto").status, 0);
    EXPECT_EQ(slurp(dir + "/dec/model.safetensors"), slurp(out2 + "/model.safetensors"));
    // What it refuses: no starting point, a codebook upkeep, a model beside init_from, an unknown mode.
    const std::string bad = dir + "/bad.yaml";
    const std::string base = slurp(cfg);
    const std::string without_init = base.substr(0, base.find("init_from")) + base.substr(base.find("trainable"));
    for (const std::string& text :
         {without_init, base + "codebook: {norm: 2.0}\n", base + "model: {ch: 32}\n",
          base.substr(0, base.find("trainable")) + "trainable: encoder\n" + base.substr(base.find("loss"))}) {
        std::ofstream(bad) << text;
        const CommandResult e = run_emu("train vq --quiet --config '" + bad + "'");
        EXPECT_NE(e.status, 0) << text;
        EXPECT_NE(e.out.find("train vq"), std::string::npos) << e.out;
    }
}

// export_dtype: bf16 stores the exported tokenizer in half the bytes: the same run's weights
// rounded to BF16 (checkpoints stay F32, so resuming is unaffected), and the folder still
// loads and encodes.
TEST(TrainVqCli, ExportsBf16) {
    const std::string f32_dir = temp_dir("train_vq_export_f32"), bf16_dir = temp_dir("train_vq_export_bf16");
    ASSERT_EQ(run_emu("train vq --quiet --config '" + write_config(f32_dir) + "'").status, 0);
    CommandResult r = run_emu("train vq --quiet --config '" + write_config(bf16_dir, "export_dtype: bf16\n") + "'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(slurp(f32_dir + "/run/checkpoint-000004/params.safetensors"),
              slurp(bf16_dir + "/run/checkpoint-000004/params.safetensors"));
    const TensorStore f32 = TensorStore::open(f32_dir + "/run/model.safetensors");
    const TensorStore bf16 = TensorStore::open(bf16_dir + "/run/model.safetensors");
    ASSERT_EQ(f32.names(), bf16.names());
    for (const auto& name : f32.names()) {
        const Tensor a = f32.get(name), b = bf16.get(name);
        ASSERT_EQ(a.dtype(), DType::F32) << name;
        ASSERT_EQ(b.dtype(), DType::BF16) << name;
        ASSERT_EQ(a.shape(), b.shape()) << name;
        const Tensor bf = b.to_f32();
        for (std::uint64_t i = 0; i < a.numel(); ++i) {
            const float x = a.data<float>()[i], y = bf.data<float>()[i];
            ASSERT_LE(std::fabs(x - y), std::fabs(x) * (1.f / 256)) << name << "[" << i << "]";  // 8 mantissa bits
        }
    }
    EXPECT_LT(fs::file_size(bf16_dir + "/run/model.safetensors"), fs::file_size(f32_dir + "/run/model.safetensors"));
    train::VqDataConfig data;
    data.width = data.height = 48;
    const Tensor img =
        vision::image_to_tensor(world::to_io_image(world::render(train::vq_scene(data, 77, 0), 48, 48)));
    const Tensor c1 = vision::Ibq::load(f32_dir + "/run").encode(img), c2 = vision::Ibq::load(bf16_dir + "/run").encode(img);
    ASSERT_EQ(c1.numel(), c2.numel());
    std::int64_t same = 0;
    for (std::uint64_t i = 0; i < c1.numel(); ++i) same += c1.data<std::int64_t>()[i] == c2.data<std::int64_t>()[i];
    std::printf("BF16 export: %lld of %lld codes as the F32 export's\n", (long long)same, (long long)c1.numel());
    EXPECT_GE(same, c1.numel() * 9 / 10);

    const CommandResult bad =
        run_emu("train vq --quiet --config '" + write_config(bf16_dir, "export_dtype: q8_0\n") + "'");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("export_dtype"), std::string::npos) << bad.out;
}
