// The data pipeline's IBQ image coder gives the official codes for every vq fixture case
// (it converts a world picture to the tensor the official build_image makes), and a batch
// stream built on it produces image tokens that parse back to those codes.
#include <gtest/gtest.h>

#include <filesystem>

#include "emu/io/safetensors.h"
#include "emu/text/image_tokens.h"
#include "emu/train/bpe_trainer.h"
#include "emu/train/data.h"
#include "emu/vision/ibq.h"
#include "emu/world/render.h"
#include "emu/world/world_png.h"
#include "fixtures.h"

using namespace emu;
namespace fs = std::filesystem;

TEST(TrainIbqCoder, MatchesOfficialCodesOnEveryVqCase) {
    const auto cases = test::cases_of_kind("vq");
    ASSERT_FALSE(cases.empty()) << "no vq cases under " << test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const nlohmann::json files = c.info.value("files", nlohmann::json::object());
        const vision::Ibq ibq = vision::Ibq::load(c.dir);
        const train::IbqImageCoder coder(ibq);
        EXPECT_EQ(coder.codebook_size(), ibq.config().n_embed);
        const world::Image picture = world::read_png((fs::path(c.dir) / files.value("image", "input.png")).string());
        const SafetensorsFile expect = SafetensorsFile::open((fs::path(c.dir) / files.value("expect", "expect.safetensors")).string());
        const Tensor& codes = expect.get("codes");
        const Tensor margin = expect.get("code_margin").to_f32();
        const text::CodeGrid grid = coder.encode(picture);
        ASSERT_EQ(grid.h, codes.dim(0));
        ASSERT_EQ(grid.w, codes.dim(1));
        const double min_fraction = c.info.value("tolerances", nlohmann::json::object()).value("codes_match_min_fraction", 1.0);
        std::size_t same = 0, counted = 0;
        for (std::size_t i = 0; i < grid.codes.size(); ++i) {
            if (margin.item(i) < 1e-4) continue;  // near-ties may legitimately differ
            ++counted;
            same += grid.codes[i] == std::int32_t(codes.item(i));
        }
        EXPECT_GE(double(same), min_fraction * double(counted)) << same << " of " << counted;

        // Sequences from a stream over this coder carry exactly the coder's codes.
        const int f = ibq.config().downsample_factor();
        if (picture.width % f || picture.height % f || picture.width < world::kMinCanvas) continue;
        train::BpeConfig bpe;
        bpe.vocab_size = 400;
        train::BpeTrainer t(bpe);
        world::WorldConfig wc;
        wc.width = picture.width;
        wc.height = picture.height;
        for (const auto& s : train::shapesworld_corpus(wc, 1, 10)) t.add_text(s);
        const std::string dir = test::temp_dir("train_ibq_vocab_" + c.name);
        train::write_tokenizer_folder(dir, t.train(), ibq.config().n_embed);
        const text::Tokenizer tok = text::Tokenizer::load(dir);
        train::DataConfig dc;
        dc.world = wc;
        dc.task_weights = {{"t2i", 1.0}};
        train::BatchStream stream(dc, tok, coder);
        const train::TrainingSequence seq = stream.sequence_at(0);
        const auto images = text::find_images(seq.ids, tok);
        ASSERT_EQ(images.size(), 1u);
        ASSERT_TRUE(images[0].ok);
        const world::Sample sample = stream.sample_at(0);
        EXPECT_EQ(images[0].grid.codes, coder.encode(world::render(sample.outputs[0].scene, wc.width, wc.height)).codes);
        EXPECT_EQ(images[0].grid.h, picture.height / f);
    }
}
