// emu generate end to end on a small random model: t2i, x2i and story produce valid
// PNGs, result.json and story.pb; the same seed gives the same output; bad input fails
// with one clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/gen/generator.h"
#include "emu/gen/transformer_model.h"
#include "emu/io/image.h"
#include "fixtures.h"
#include "interleave_story.pb.h"
#include "tiny_model.h"

using namespace emu;
using namespace emu::test;
namespace fs = std::filesystem;

namespace {

const TinyModel& tiny() {
    static TinyModel m = make_tiny_model(temp_dir("tiny_model"));
    return m;
}

std::string base_args(const std::string& out) {
    return "generate --model '" + tiny().dir + "' --vq '" + tiny().vq_dir + "' --out '" + out + "' --quiet ";
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text_file(path)); }

// Checks a result folder: every listed file exists, images decode to their stated size,
// and story.pb parses with the official schema and holds the same images.
int check_result_folder(const std::string& dir) {
    nlohmann::json r = read_json(dir + "/result.json");
    int images = 0;
    for (const auto& seg : r["segments"]) {
        EXPECT_TRUE(fs::exists(dir + "/" + seg["file"].get<std::string>())) << seg.dump();
        if (seg["kind"] == "image") {
            Image img = read_image_rgb(dir + "/" + seg["file"].get<std::string>());
            EXPECT_EQ(img.width, seg["width"].get<int>());
            EXPECT_EQ(img.height, seg["height"].get<int>());
            EXPECT_EQ(img.width, 16 * seg["tokens_w"].get<int>());
            ++images;
        }
    }
    emu3p5::story::Story story;
    std::string pb = read_text_file(dir + "/story.pb");
    EXPECT_TRUE(story.ParseFromString(pb));
    int pb_images = 0;
    for (const auto& clip : story.clips())
        for (const auto& seg : clip.segments())
            for (const auto& meta : seg.images()) pb_images += !meta.image().image_data().empty();
    EXPECT_EQ(pb_images, images);
    EXPECT_EQ(story.question(), r["question"].get<std::string>());
    EXPECT_EQ(story.reference_images_size(), int(r["reference_images"].size()));
    return images;
}

}  // namespace

TEST(Generate, TextToImageWritesImagesJsonAndProto) {
    std::string out = temp_dir("gen_t2i");
    CommandResult r = run_emu(base_args(out) + "--task t2i --seed 3 --max-new-tokens 60 'a small red circle'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_GE(check_result_folder(out + "/t2i"), 1);
    nlohmann::json j = read_json(out + "/t2i/result.json");
    EXPECT_EQ(j["settings"]["seed"], 3);
    EXPECT_EQ(j["settings"]["image_area"], 4096);  // from the model's generation_defaults.json
    EXPECT_GT(j["passes"].get<int>(), 0);
    EXPECT_LE(j["tokens"]["generated"].get<int>(), 60);
}

TEST(Generate, EditingKeepsTheReferenceGrid) {
    std::string out = temp_dir("gen_x2i");
    auto vq = cases_of_kind("vq").at(0);
    std::string image = vq.dir + "/" + vq.info["files"]["image"].get<std::string>();
    CommandResult r = run_emu(base_args(out) + "--task x2i --seed 1 --max-new-tokens 40 --image '" + image + "' 'make it blue'");
    ASSERT_EQ(r.status, 0) << r.out;
    check_result_folder(out + "/x2i");
    nlohmann::json j = read_json(out + "/x2i/result.json");
    ASSERT_EQ(j["reference_images"].size(), 1u);
    for (const auto& seg : j["segments"]) {
        if (seg["kind"] != "image") continue;
        EXPECT_EQ(seg["tokens_h"], j["reference_images"][0]["tokens_h"]);
        EXPECT_EQ(seg["tokens_w"], j["reference_images"][0]["tokens_w"]);
    }
    EXPECT_NE(j["prompt"].get<std::string>().find("<|image start|>"), std::string::npos);
}

TEST(Generate, StoryAndDeterminism) {
    std::string a = temp_dir("gen_story_a"), b = temp_dir("gen_story_b");
    std::string args = "--task story --seed 7 --max-new-tokens 80 'a day at the beach'";
    ASSERT_EQ(run_emu(base_args(a) + args).status, 0);
    ASSERT_EQ(run_emu(base_args(b) + args).status, 0);
    check_result_folder(a + "/story");
    nlohmann::json ja = read_json(a + "/story/result.json"), jb = read_json(b + "/story/result.json");
    EXPECT_EQ(ja["segments"], jb["segments"]);
    EXPECT_EQ(read_text_file(a + "/story/story.pb"), read_text_file(b + "/story/story.pb"));
}

TEST(Generate, DryRunShowsThePromptIds) {
    CommandResult r = run_emu("generate --dry-run --json --tokenizer '" + tiny().dir + "' --task howto 'fold a paper boat'");
    ASSERT_EQ(r.status, 0) << r.out;
    nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_NE(j["prompt"].get<std::string>().find("for howto task. Please generate"), std::string::npos);
    EXPECT_FALSE(j["ids"].empty());
    EXPECT_FALSE(j["uncond_ids"].empty());
}

TEST(Generate, LibraryDecodesEachImageOfTheStream) {
    gen::Generator g = gen::Generator::load(tiny().dir, tiny().vq_dir, "");
    gen::GenerationSettings s = g.defaults("t2i");
    s.max_new_tokens = 30;
    s.seed = 11;
    int streamed = 0;
    gen::GenerateCallbacks cb;
    cb.on_image = [&](int, const Image&) { ++streamed; };
    gen::GenerationResult r = g.generate(s, "a blue square", {}, cb);
    int images = 0;
    for (const auto& seg : r.segments) {
        if (seg.kind != gen::OutputSegment::Kind::Image) continue;
        Image again = g.decode_grid(seg.grid);
        EXPECT_EQ(again.pixels, r.images.at(std::size_t(images)).pixels);
        ++images;
    }
    EXPECT_EQ(images, streamed);
    EXPECT_GE(images, 1);
}

TEST(Generate, BadInputGivesOneClearError) {
    std::string out = temp_dir("gen_bad");
    auto expect_error = [&](const std::string& args, const std::string& fragment) {
        CommandResult r = run_emu(args);
        EXPECT_NE(r.status, 0) << args;
        EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(fragment), std::string::npos) << r.out;
    };
    expect_error(base_args(out) + "--task paint 'x'", "unknown task");
    expect_error(base_args(out) + "--aspect 5:4 'x'", "unknown aspect");
    expect_error(base_args(out) + "--max-new-tokens 0 'x'", "max-new-tokens");
    expect_error(base_args(out) + "--task x2i --image /nonexistent.png 'x'", "no such image");
    expect_error(base_args(out) + "--cfg -1 'x'", "cfg");
    // Integers are range-checked before they reach an int: no silent wrap-around.
    expect_error(base_args(out) + "--threads -3 'x'", "--threads must be between 0 and 4096, got -3");
    expect_error(base_args(out) + "--max-new-tokens 99999999999 'x'", "--max-new-tokens is out of range");
    expect_error(base_args(out) + "--image-top-k 4294967297 'x'", "--image-top-k is out of range");
    const std::string file = out + "/not-a-folder";
    std::ofstream(file) << "x";
    expect_error("generate --model '" + tiny().dir + "' --vq '" + tiny().vq_dir + "' --quiet --out '" + file + "' 'x'",
                 "exists and is not a folder");
    // A vocabulary without visual tokens cannot make images.
    std::string novis = temp_dir("gen_novis");
    for (const char* f : {"emu3.tiktoken", "tokenizer_config.json", "config.json", "model.safetensors"})
        fs::copy_file(tiny().dir + "/" + f, novis + "/" + f);
    expect_error("generate --model '" + novis + "' --tokenizer '" + novis + "' --out '" + out + "' --quiet 'x'", "vocabulary");
}

TEST(WorldBench, ScoresHeldOutPromptsAndReportsCost) {
    for (std::string task : {"t2i", "x2i", "explore"}) {
        CommandResult r = run_emu("world bench --quiet --task " + task + " --n 2 --seed 5 --max-new-tokens 30 --model '" +
                                  tiny().dir + "' --vq '" + tiny().vq_dir + "'");
        ASSERT_EQ(r.status, 0) << r.out;
        std::string last = r.out.substr(r.out.rfind("{\"task\""));
        nlohmann::json j = nlohmann::json::parse(last);
        EXPECT_EQ(j["task"], task);
        EXPECT_EQ(j["n"], 2);
        EXPECT_GE(j["accuracy"].get<double>(), 0.0);
        EXPECT_LE(j["accuracy"].get<double>(), 1.0);
        EXPECT_TRUE(j["categories"].is_object());
        EXPECT_GT(j["passes_per_image"].get<double>(), 0.0);
        EXPECT_GT(j["seconds_per_image"].get<double>(), 0.0);
        EXPECT_NE(r.out.find("accuracy"), std::string::npos);  // the readable table
    }
    // Samples side by side (--jobs) give the same scores and passes; the gallery is written.
    const std::string g = temp_dir("world_bench_gallery") + "/gallery.png";
    std::string lines[2];
    for (int jobs : {1, 2}) {
        CommandResult r = run_emu("world bench --quiet --task x2i --n 3 --seed 6 --max-new-tokens 30 --jobs " +
                                  std::to_string(jobs) + " --gallery '" + g + "' --gallery-n 2 --model '" + tiny().dir +
                                  "' --vq '" + tiny().vq_dir + "'");
        ASSERT_EQ(r.status, 0) << r.out;
        nlohmann::json j = nlohmann::json::parse(r.out.substr(r.out.rfind("{\"task\"")));
        j.erase("seconds_per_image");
        lines[jobs - 1] = j.dump();
    }
    EXPECT_EQ(lines[0], lines[1]);
    EXPECT_TRUE(fs::exists(g));
    std::ifstream md(g.substr(0, g.size() - 4) + ".md");
    std::string table((std::istreambuf_iterator<char>(md)), {});
    EXPECT_NE(table.find("| 2 |"), std::string::npos) << table;
    CommandResult bad = run_emu("world bench --task t2i --decoder maskgit --model '" + tiny().dir + "' --vq '" + tiny().vq_dir + "'");
    EXPECT_NE(bad.status, 0);
    for (const std::string flags : {"--jobs 0", "--n 4294967297", "--steps -1"}) {
        bad = run_emu("world bench --task t2i " + flags + " --model '" + tiny().dir + "' --vq '" + tiny().vq_dir + "'");
        EXPECT_NE(bad.status, 0) << flags;
        EXPECT_NE(bad.out.find("must be between"), std::string::npos) << bad.out;
    }
}

TEST(Generate, ParallelDecodingWithTheTransformer) {
    // With DiDA decoding the same tiny model makes well-formed images in far fewer passes.
    std::string ar = temp_dir("gen_ar"), dida = temp_dir("gen_dida");
    const std::string common = "--task t2i --seed 2 --max-new-tokens 25 'a green ring'";
    ASSERT_EQ(run_emu(base_args(ar) + common).status, 0);
    CommandResult r = run_emu(base_args(dida) + "--decoder dida --steps 3 " + common);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_GE(check_result_folder(dida + "/t2i"), 1);
    nlohmann::json ja = read_json(ar + "/t2i/result.json"), jd = read_json(dida + "/t2i/result.json");
    EXPECT_EQ(jd["settings"]["decoder"], "dida");
    EXPECT_LT(jd["passes"].get<int>(), ja["passes"].get<int>());
}

TEST(Generate, SeparateDidaWeightsServeOnlyTheParallelDecoder) {
    // A model folder may ship DiDA-adapted weights beside its own (generation_defaults.json
    // `dida.model`): --decoder dida runs on them, --decoder ar keeps the folder's weights.
    const std::string pair = temp_dir("gen_pair"), other = temp_dir("gen_other_weights");
    make_tiny_model(pair);
    make_tiny_model(other, 99);
    fs::create_directories(pair + "/dida");
    for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(other + "/" + f, pair + "/dida/" + f);
    nlohmann::json defaults = read_json(pair + "/generation_defaults.json");
    defaults["dida"] = {{"model", "dida"}};
    std::ofstream(pair + "/generation_defaults.json") << defaults.dump();

    auto tokens = [](const std::string& dir, const std::string& decoder) {
        gen::Generator g = gen::Generator::load(dir, tiny().vq_dir, "");
        gen::GenerationSettings s = g.defaults("t2i");
        s.max_new_tokens = 25;
        s.seed = 5;
        s.decoder = decoder;
        s.dida_steps = 3;
        return g.generate(s, "a green ring", {}).tokens;
    };
    EXPECT_EQ(tokens(pair, "ar"), tokens(tiny().dir, "ar"));
    const auto dida = tokens(pair, "dida");
    EXPECT_EQ(dida, tokens(other, "dida"));
    EXPECT_NE(dida, tokens(tiny().dir, "dida"));  // the folder's own weights decode differently

    defaults["dida"] = {{"model", "no-such-folder"}};
    std::ofstream(pair + "/generation_defaults.json") << defaults.dump();
    try {
        gen::Generator::load(pair, tiny().vq_dir, "");
        ADD_FAILURE() << "a missing dida.model folder must be refused";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("dida.model 'no-such-folder'"), std::string::npos) << e.what();
    }
}

TEST(Generate, BlockPassThenCausalRefeedMatchesPlainCausal) {
    // The cache discipline parallel decoding relies on: a bidirectional block pass, then
    // truncation and a causal re-feed, leaves exactly the state of a plain causal pass.
    lm::Transformer t = lm::Transformer::load(tiny().dir);
    gen::TransformerModel model(t);
    const std::vector<std::int32_t> prefix = {300, 72, 105}, block = {400, 401, 402, 403};
    std::vector<std::int32_t> all = prefix;
    all.insert(all.end(), block.begin(), block.end());
    int a = model.new_stream(32), b = model.new_stream(32);
    std::vector<std::vector<float>> la, lb;
    gen::StreamFeed fa;
    fa.stream = a;
    fa.tokens = all;
    fa.causal_prefix = 3;
    fa.logits_rows = {3, 4, 5};
    model.forward(std::span<const gen::StreamFeed>(&fa, 1), la);
    ASSERT_EQ(la[0].size(), 3u * std::size_t(t.config().vocab_size));
    model.truncate(a, 3);
    gen::StreamFeed again;
    again.stream = a;
    again.tokens = block;
    again.want_logits = true;
    model.forward(std::span<const gen::StreamFeed>(&again, 1), la);
    gen::StreamFeed plain;
    plain.stream = b;
    plain.tokens = all;
    plain.want_logits = true;
    model.forward(std::span<const gen::StreamFeed>(&plain, 1), lb);
    ASSERT_EQ(la[0].size(), lb[0].size());
    for (std::size_t i = 0; i < la[0].size(); ++i) ASSERT_NEAR(la[0][i], lb[0][i], 1e-4f) << i;
    EXPECT_EQ(model.length(a), model.length(b));
}
