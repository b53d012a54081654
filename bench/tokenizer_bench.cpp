// Single-thread throughput of the Emu3.5 text tokenizer on generated mixed text
// (English prose, Chinese prose, source code; about a third of the bytes each).
//   build/bench/tokenizer_bench [--tokenizer DIR] [--mb 4] [--repeat 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "emu/text/tokenizer.h"
#include "emu/text/utf8.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// CPU time of this (single-threaded) process: steadier than wall time on a busy machine.
double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

const char* kEnglish[] = {"the", "model", "learns", "to", "predict", "next", "token", "across", "images", "and",
                          "text", "with", "a", "single", "transformer", "that", "was", "trained", "on", "video",
                          "frames", "world", "it's", "they're", "we'll", "quickly", "beautiful", "mountain",
                          "river", "under", "sunset", "light", "generation", "native", "multimodal", "of", "in"};
const char* kChinese[] = {"我们", "提出", "一个", "原生", "多模态", "世界", "模型", "它", "能够", "预测", "下一个",
                          "视觉", "语言", "状态", "在", "视频", "数据", "上", "训练", "生成", "图像", "文本",
                          "的", "了", "和", "高质量", "交错", "故事", "指导", "探索"};
const char* kCode[] = {
    "def forward(self, x):\n        h = self.norm(x)\n        return x + self.mlp(h)\n",
    "for (int i = 0; i < n; ++i) {\n    acc += a[i] * b[i];  // dot\n}\n",
    "if (!ok) {\n\tthrow std::runtime_error(\"bad input: \" + name);\n}\n",
    "    result = {\"ids\": [1, 2, 3], \"scale\": 0.125, \"name\": 'emu3.5'}\n",
    "#include <vector>\nstatic const int kSize = 4096;\n",
    "x = torch.softmax(logits / temperature, dim=-1)  # sample\n"};

std::string generate(std::size_t bytes, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s;
    s.reserve(bytes + 1024);
    auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
    while (s.size() < bytes) {
        switch (rng() % 3) {
            case 0: {  // an English paragraph
                int words = 20 + int(rng() % 60);
                for (int i = 0; i < words; ++i) {
                    std::string w = pick(kEnglish);
                    if (i == 0) w[0] = char(std::toupper(w[0]));
                    s += w;
                    if (rng() % 12 == 0) s += std::to_string(rng() % 3000);
                    s += (rng() % 10 == 0) ? ", " : " ";
                }
                s += ".\n\n";
                break;
            }
            case 1: {  // a Chinese paragraph
                int words = 20 + int(rng() % 60);
                for (int i = 0; i < words; ++i) {
                    s += pick(kChinese);
                    if (rng() % 9 == 0) s += "，";
                }
                s += "。\n";
                break;
            }
            default: {  // a few lines of code
                int lines = 2 + int(rng() % 6);
                for (int i = 0; i < lines; ++i) s += pick(kCode);
                s += "\n";
            }
        }
    }
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir = EMU_DEFAULT_TOKENIZER;
    double mb = 4;
    int repeat = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--tokenizer") dir = argv[i + 1];
        else if (a == "--mb") mb = std::atof(argv[i + 1]);
        else if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: tokenizer_bench [--tokenizer DIR] [--mb 4] [--repeat 3]\n");
            return 2;
        }
    }
    try {
        auto t0 = Clock::now();
        emu::text::Tokenizer tok = emu::text::Tokenizer::load(dir);
        double load_s = seconds_since(t0);
        std::string text = generate(static_cast<std::size_t>(mb * 1e6), 1234);
        double text_mb = double(text.size()) / 1e6;

        double best_enc = 1e30, best_dec = 1e30, best_enc_cpu = 1e30;
        std::vector<emu::text::TokenId> ids;
        for (int r = 0; r < repeat; ++r) {
            auto t = Clock::now();
            double c0 = cpu_seconds();
            ids = tok.encode(text);
            best_enc_cpu = std::min(best_enc_cpu, cpu_seconds() - c0);
            best_enc = std::min(best_enc, seconds_since(t));
            t = Clock::now();
            std::string back = tok.decode(ids);
            best_dec = std::min(best_dec, seconds_since(t));
            if (back != text) {
                std::fprintf(stderr, "round trip mismatch\n");
                return 1;
            }
        }
        // Text that is not NFC-inert (accents as combining marks, Hangul jamo...) goes through
        // utf8proc; time that path on the same text for reference.
        auto tn = Clock::now();
        std::string normalized = emu::text::nfc_utf8proc(text);
        double nfc_s = seconds_since(tn);
        std::printf("tokenizer: %s (%zu ids), load %.3f s\n", dir.c_str(), tok.n_vocab(), load_s);
        std::printf("text: %.2f MB mixed English/Chinese/code -> %zu tokens (%.2f bytes/token)\n", text_mb,
                    ids.size(), double(text.size()) / double(ids.size()));
        std::printf("encode: %.1f MB/s (%.2f M tokens/s), best of %d, single thread; %.1f MB/s of CPU time\n",
                    text_mb / best_enc, double(ids.size()) / best_enc / 1e6, repeat, text_mb / best_enc_cpu);
        std::printf("decode: %.1f MB/s\n", text_mb / best_dec);
        std::printf("NFC through utf8proc (only for text with combining marks etc.): %.1f MB/s\n", text_mb / nfc_s);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
