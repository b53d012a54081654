// emu vq encode|decode|roundtrip: the IBQ vision tokenizer from the command line.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/io/image.h"
#include "emu/io/safetensors.h"
#include "emu/vision/ibq.h"
#include "emu/vision/preprocess.h"

namespace emu::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Loads and pre-processes the image as the official build_image does. Without --area the
// target area is the image's own pixel count, so only the rounding to multiples of the
// downsample factor changes the size.
Image load_input(const Args& args, int factor) {
    Image rgb = read_image_rgb(args.require("image"));
    const double area = args.has("area") ? args.get_double("area", 0) : double(rgb.width) * rgb.height;
    check(area > 0, "--area must be positive");
    return vision::smart_resize(rgb, area, factor);
}

int run_encode(const std::vector<std::string>& argv) {
    Args args(argv, {"vq", "image", "area", "out"}, {});
    const auto t0 = Clock::now();
    const vision::Ibq ibq = vision::Ibq::load(args.require("vq"));
    const Image img = load_input(args, ibq.config().downsample_factor());
    const auto t1 = Clock::now();
    const Tensor codes = ibq.encode(vision::image_to_tensor(img));
    const double enc = seconds_since(t1);
    write_safetensors(args.require("out"), {{"codes", codes}});
    std::printf("encoded %dx%d -> %lldx%lld codes in %.2fs (total %.2fs): %s\n", img.width, img.height,
                (long long)codes.dim(0), (long long)codes.dim(1), enc, seconds_since(t0), args.require("out").c_str());
    return 0;
}

Tensor read_codes(const std::string& path) {
    SafetensorsFile f = SafetensorsFile::open(path);
    check(f.has("codes"), path, ": no tensor named 'codes'");
    const Tensor& c = f.get("codes");
    check(c.dtype() == DType::I64 || c.dtype() == DType::I32, path, ": 'codes' must be I64 or I32, got ",
          dtype_name(c.dtype()));
    check(c.ndim() == 2, path, ": 'codes' must be [h, w], got ", shape_str(c.shape()));
    return c.to(DType::I64);
}

int run_decode(const std::vector<std::string>& argv) {
    Args args(argv, {"vq", "codes", "out"}, {});
    const vision::Ibq ibq = vision::Ibq::load(args.require("vq"));
    const Tensor codes = read_codes(args.require("codes"));
    const auto t1 = Clock::now();
    const Image out = vision::tensor_to_image(ibq.decode(codes));
    const double dec = seconds_since(t1);
    write_png(args.require("out"), out);
    std::printf("decoded %lldx%lld codes -> %dx%d in %.2fs: %s\n", (long long)codes.dim(0), (long long)codes.dim(1),
                out.width, out.height, dec, args.require("out").c_str());
    return 0;
}

double psnr(const Image& a, const Image& b) {
    double se = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) {
        const double d = double(a.pixels[i]) - double(b.pixels[i]);
        se += d * d;
    }
    const double mse = se / double(a.pixels.size());
    return mse == 0 ? INFINITY : 10.0 * std::log10(255.0 * 255.0 / mse);
}

int run_roundtrip(const std::vector<std::string>& argv) {
    Args args(argv, {"vq", "image", "area", "out"}, {});
    const vision::Ibq ibq = vision::Ibq::load(args.require("vq"));
    const Image img = load_input(args, ibq.config().downsample_factor());
    const auto t1 = Clock::now();
    const Tensor codes = ibq.encode(vision::image_to_tensor(img));
    const double enc = seconds_since(t1);
    const auto t2 = Clock::now();
    const Image out = vision::tensor_to_image(ibq.decode(codes));
    const double dec = seconds_since(t2);
    write_png(args.require("out"), out);
    std::printf("%dx%d, %lldx%lld codes, encode %.2fs, decode %.2fs, PSNR %.2f dB: %s\n", img.width, img.height,
                (long long)codes.dim(0), (long long)codes.dim(1), enc, dec, psnr(img, out), args.require("out").c_str());
    return 0;
}

Register reg_encode{"vq encode", "--vq DIR --image IN.png [--area N] --out codes.safetensors  image -> IBQ codes (I64 [h,w])",
                    run_encode};
Register reg_decode{"vq decode", "--vq DIR --codes codes.safetensors --out OUT.png  IBQ codes -> image", run_decode};
Register reg_roundtrip{"vq roundtrip", "--vq DIR --image IN [--area N] --out OUT.png  encode + decode, prints PSNR",
                       run_roundtrip};

}  // namespace
}  // namespace emu::cli
