// The BPE trainer: the vocabulary it writes loads with text::Tokenizer, round-trips text,
// has the Emu special-token layout, and compresses ShapesWorld text.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "emu/core/error.h"
#include "emu/text/image_tokens.h"
#include "emu/text/pretokenize.h"
#include "emu/text/tokenizer.h"
#include "emu/train/bpe_trainer.h"
#include "emu/train/data.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::train;

namespace {

std::vector<std::string> small_corpus() {
    world::WorldConfig w;
    return shapesworld_corpus(w, 5, 60);
}

}  // namespace

TEST(Pretokenize, SameBoundariesAsTheRegexDescribes) {
    const auto pieces = text::pretokenize("Hello world's 42 shapes!!\n\n  ok");
    std::vector<std::string> expect = {"Hello", " world", "'s", " ", "4", "2", " shapes", "!!\n\n", " ", " ok"};
    EXPECT_EQ(pieces, expect);
    std::string joined;
    for (const auto& p : pieces) joined += p;
    EXPECT_EQ(joined, "Hello world's 42 shapes!!\n\n  ok");
    EXPECT_THROW(text::pretokenize(std::string("\xff", 1)), Error);
}

TEST(Bpe, ByteOrderMatchesTheReleasedVocabulary) {
    const auto& order = bytes_in_rank_order();
    ASSERT_EQ(order.size(), 256u);
    EXPECT_EQ(std::set<std::uint8_t>(order.begin(), order.end()).size(), 256u);
    // Ranks the released emu3.tiktoken gives these bytes (spec 2.1).
    EXPECT_EQ(order[0], '!');
    EXPECT_EQ(order[9], '*');
    for (int d = 0; d < 10; ++d) EXPECT_EQ(order[std::size_t(15 + d)], '0' + d);
    EXPECT_EQ(order[220], ' ');
    EXPECT_EQ(order[198], '\n');
}

TEST(Bpe, LearnsTheMostFrequentPairsFirst) {
    BpeConfig cfg;
    cfg.vocab_size = 256 + 3;
    cfg.min_frequency = 1;
    BpeTrainer t(cfg);
    t.add_piece("abab", 10);  // (a,b) x20, (b,a) x10
    t.add_piece("xy", 3);
    const auto tokens = t.train();
    ASSERT_EQ(tokens.size(), 259u);
    EXPECT_EQ(tokens[256], "ab");
    EXPECT_EQ(tokens[257], "abab");  // (ab,ab) x10 beats (x,y) x3
    EXPECT_EQ(tokens[258], "xy");
    // min_frequency stops early.
    cfg.min_frequency = 5;
    cfg.vocab_size = 300;
    BpeTrainer t2(cfg);
    t2.add_piece("abab", 10);
    t2.add_piece("xy", 3);
    EXPECT_EQ(t2.train().size(), 258u);
}

TEST(Bpe, TrainedVocabularyLoadsAndRoundTrips) {
    const auto corpus = small_corpus();
    ASSERT_GT(corpus.size(), 300u);
    BpeConfig cfg;
    cfg.vocab_size = 700;
    BpeTrainer trainer(cfg);
    for (const auto& t : corpus) trainer.add_text(t);
    const auto tokens = trainer.train();
    EXPECT_GT(tokens.size(), 300u);
    EXPECT_LE(tokens.size(), 700u);
    EXPECT_EQ(tokens, trainer.train());  // deterministic

    const std::string dir = test::temp_dir("train_bpe_vocab");
    const int n_visual = 512;
    write_tokenizer_folder(dir, tokens, n_visual);
    const text::Tokenizer tok = text::Tokenizer::load(dir);
    EXPECT_EQ(tok.n_ranks(), tokens.size());
    EXPECT_EQ(tok.n_vocab(), tokens.size() + 3 + 205 + 3 + n_visual);
    for (std::size_t r = 0; r < tokens.size(); ++r) ASSERT_EQ(tok.token_bytes(text::TokenId(r)), tokens[r]);

    // Every role the generator needs exists, at the official offsets from the first special.
    const text::SpecialRoles& roles = tok.roles();
    const text::TokenId first = tok.first_special();
    EXPECT_EQ(roles.pad, first);
    EXPECT_EQ(roles.bos, first + 3 + 203);
    EXPECT_EQ(roles.eos, first + 3 + 204);
    EXPECT_EQ(roles.img, first + 208);
    EXPECT_EQ(roles.boi, first + 209);
    EXPECT_EQ(roles.eoi, first + 210);
    EXPECT_EQ(roles.bov, first + 211);
    EXPECT_EQ(roles.n_visual, n_visual);
    for (const auto& r : text::role_names()) EXPECT_NE(roles.*r.field, text::kNoToken) << r.name;
    EXPECT_EQ(tok.visual_id(511), roles.bov + 511);
    EXPECT_THROW(tok.visual_id(512), Error);

    // Round trip, and compression well beyond one byte per token on unseen ShapesWorld text.
    world::WorldConfig w;
    const auto unseen = shapesworld_corpus(w, 777, 20);
    std::size_t bytes = 0, ids = 0;
    for (const auto& t : unseen) {
        const auto enc = tok.encode(t);
        ASSERT_EQ(tok.decode(enc), t);
        bytes += t.size();
        ids += enc.size();
    }
    EXPECT_GT(double(bytes) / double(ids), 2.5) << bytes << " bytes, " << ids << " tokens";
    // Any text still encodes (all 256 bytes are ranks), including text never seen.
    const std::string odd = "Ünïcödé ✓ 漢字 \t\r\n tabs";
    EXPECT_EQ(tok.decode(tok.encode(odd)), odd);
    const std::string raw("\x00\xff\x80 bytes", 9);
    EXPECT_EQ(tok.decode_bytes(tok.encode_bytes(raw)), raw);

    // The image header digits keep their official ids, so an image string parses back.
    text::CodeGrid g{2, 3, {0, 5, 511, 7, 8, 9}};
    const auto img = text::image_token_ids(g, tok);
    EXPECT_EQ(img, tok.encode(text::image_string(g)));
    const auto found = text::find_images(img, tok);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_TRUE(found[0].ok);
    EXPECT_EQ(found[0].grid.codes, g.codes);
    EXPECT_EQ(found[0].header_h, 2);
    EXPECT_EQ(found[0].header_w, 3);
}

TEST(Bpe, SpecialTokensAreNotLearnedFrom) {
    BpeConfig cfg;
    cfg.vocab_size = 400;
    BpeTrainer t(cfg);
    for (int i = 0; i < 50; ++i) t.add_text("<|extra_203|>hi there<|image start|><|visual token 000001|><|image end|>");
    for (const auto& tok : t.train()) {
        EXPECT_EQ(tok.find("<|"), std::string::npos) << tok;
        EXPECT_EQ(tok.find("visual"), std::string::npos) << tok;
    }
}

TEST(Bpe, TiktokenLinesAreBase64AndRank) {
    const std::string text = tiktoken_text({"a", "bc", "def", std::string("\0\xff", 2)});
    EXPECT_EQ(text, "YQ== 0\nYmM= 1\nZGVm 2\nAP8= 3\n");
    EXPECT_THROW(BpeTrainer(BpeConfig{100, 2, std::string(text::kEmu3PatStr)}), Error);
}
