#include "emu/io/image.h"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"

namespace emu {
namespace {

// Limits that keep a hostile header from requesting unbounded memory.
constexpr std::uint64_t kMaxSide = 1 << 15;
constexpr std::uint64_t kMaxPixels = std::uint64_t(1) << 28;

void check_dims(std::uint64_t w, std::uint64_t h, const std::string& name) {
    check(w > 0 && h > 0, name, ": image has no pixels (", w, "x", h, ")");
    check(w <= kMaxSide && h <= kMaxSide && w * h <= kMaxPixels, name, ": image ", w, "x", h, " is too large");
}

// ---- PNG -------------------------------------------------------------------------
// libpng reports errors by longjmp; the message is kept here and thrown afterwards, so
// no exception ever crosses C frames.
struct PngReadState {
    const std::uint8_t* data;
    std::size_t size, pos;
    char message[256];
};

void png_error_fn(png_structp png, png_const_charp msg) {
    auto* st = static_cast<PngReadState*>(png_get_error_ptr(png));
    std::snprintf(st->message, sizeof st->message, "%s", msg);
    png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

void png_read_fn(png_structp png, png_bytep out, png_size_t n) {
    auto* st = static_cast<PngReadState*>(png_get_io_ptr(png));
    if (n > st->size - st->pos) png_error(png, "truncated file");
    std::memcpy(out, st->data + st->pos, n);
    st->pos += n;
}

// Returns false with st->message set on a libpng error. Everything allocated in here
// is owned by `rows`/`out` outside the setjmp frame.
bool decode_png_impl(PngReadState* st, Image* out, std::vector<png_bytep>* rows) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, png_error_fn, png_warning_fn);
    if (!png) {
        std::snprintf(st->message, sizeof st->message, "out of memory");
        return false;
    }
    png_infop info = png_create_info_struct(png);
    bool ok = false;
    if (info && !setjmp(png_jmpbuf(png))) {
        png_set_read_fn(png, st, png_read_fn);
        png_set_user_limits(png, kMaxSide, kMaxSide);
        png_read_info(png, info);
        const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
        if (std::uint64_t(w) * h > kMaxPixels) png_error(png, "image too large");
        const int color = png_get_color_type(png, info);
        const int depth = png_get_bit_depth(png, info);
        if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (depth == 16) png_set_strip_16(png);
        // tRNS would become an alpha channel only if expanded; PIL's convert("RGB")
        // drops transparency, so strip any alpha and never expand tRNS.
        png_set_strip_alpha(png);
        if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8)
            png_error(png, "unsupported PNG pixel format");
        out->width = int(w);
        out->height = int(h);
        out->channels = 3;
        out->pixels.resize(std::size_t(w) * h * 3);
        rows->resize(h);
        for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = out->pixels.data() + std::size_t(y) * w * 3;
        png_read_image(png, rows->data());
        png_read_end(png, nullptr);
        ok = true;
    } else if (!info) {
        std::snprintf(st->message, sizeof st->message, "out of memory");
    }
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return ok;
}

Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
    PngReadState st{data, size, 0, {0}};
    Image img;
    std::vector<png_bytep> rows;
    if (!decode_png_impl(&st, &img, &rows)) fail(name, ": corrupt or unsupported PNG: ", st.message);
    check_dims(std::uint64_t(img.width), std::uint64_t(img.height), name);
    return img;
}

// ---- JPEG ------------------------------------------------------------------------
// A progressive JPEG may hold any number of scans, each a pass over the whole picture: a small
// file repeating tiny scans can keep the decoder busy for hours. Real encoders write about 10.
constexpr int kMaxJpegScans = 100;

struct JpegError {
    jpeg_error_mgr mgr;
    jpeg_progress_mgr progress;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
}
void jpeg_silent(j_common_ptr, int) {}
void jpeg_limit_scans(j_common_ptr cinfo) {
    const int scans = reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number;
    if (scans <= kMaxJpegScans) return;
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(err->jump, 1);
}

bool decode_jpeg_impl(const std::uint8_t* data, std::size_t size, Image* out, JpegError* err) {
    jpeg_decompress_struct cinfo;
    cinfo.err = jpeg_std_error(&err->mgr);
    err->mgr.error_exit = jpeg_error_exit;
    err->mgr.emit_message = jpeg_silent;
    if (setjmp(err->jump)) {
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_create_decompress(&cinfo);  // zeroes cinfo but for err, so the monitor is set after
    err->progress.progress_monitor = jpeg_limit_scans;
    cinfo.progress = &err->progress;
    jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > kMaxSide || cinfo.image_height > kMaxSide ||
        std::uint64_t(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
        std::snprintf(err->message, sizeof err->message, "image %ux%u too large", cinfo.image_width,
                      cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        std::snprintf(err->message, sizeof err->message, "CMYK JPEGs are not supported");
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    out->width = int(cinfo.output_width);
    out->height = int(cinfo.output_height);
    out->channels = 3;
    out->pixels.resize(std::size_t(out->width) * out->height * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels.data() + std::size_t(cinfo.output_scanline) * out->width * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return true;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
    auto err = std::make_unique<JpegError>();
    err->message[0] = 0;
    Image img;
    if (!decode_jpeg_impl(data, size, &img, err.get())) fail(name, ": corrupt or unsupported JPEG: ", err->message);
    check_dims(std::uint64_t(img.width), std::uint64_t(img.height), name);
    return img;
}

}  // namespace

Image decode_image_rgb(const std::uint8_t* data, std::size_t size, const std::string& name) {
    static const std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return decode_png(data, size, name);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return decode_jpeg(data, size, name);
    fail(name, ": not a PNG or JPEG image (unrecognised signature)");
}

Image read_image_rgb(const std::string& path) {
    std::shared_ptr<MappedFile> file = MappedFile::open(path);
    return decode_image_rgb(file->data(), file->size(), path);
}

Image to_rgb(const Image& in) {
    check(in.channels >= 1 && in.channels <= 4, "image has ", in.channels,
          " channels; expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)");
    check(in.width > 0 && in.height > 0, "image has no pixels (", in.width, "x", in.height, ")");
    const std::size_t n = std::size_t(in.width) * in.height;
    check(in.pixels.size() == n * in.channels, "image data holds ", in.pixels.size(), " bytes, ", in.width, "x",
          in.height, "x", in.channels, " needs ", n * in.channels);
    Image out{in.width, in.height, 3, std::vector<std::uint8_t>(n * 3)};
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = in.pixels.data() + i * in.channels;
        std::uint8_t* o = out.pixels.data() + i * 3;
        if (in.channels <= 2) {
            o[0] = o[1] = o[2] = p[0];
        } else {
            o[0] = p[0];
            o[1] = p[1];
            o[2] = p[2];
        }
    }
    return out;
}

namespace {

// Fills a simplified-API descriptor for `img`, after checking it can be written.
png_image png_descriptor(const Image& img, const std::string& name) {
    check(img.channels >= 1 && img.channels <= 4, name, ": cannot write an image with ", img.channels, " channels");
    check(img.width > 0 && img.height > 0, name, ": cannot write an empty image");
    check(img.pixels.size() == std::size_t(img.width) * img.height * img.channels, name,
          ": pixel buffer does not match ", img.width, "x", img.height, "x", img.channels);
    png_image pi;
    std::memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = png_uint_32(img.width);
    pi.height = png_uint_32(img.height);
    static const png_uint_32 kFormats[5] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
    pi.format = kFormats[img.channels];
    return pi;
}

}  // namespace

void write_png(const std::string& path, const Image& img) {
    png_image pi = png_descriptor(img, path);
    const int ok = png_image_write_to_file(&pi, path.c_str(), 0, img.pixels.data(), 0, nullptr);
    const std::string msg = pi.message;
    png_image_free(&pi);
    check(ok != 0, path, ": cannot write PNG: ", msg);
}

std::vector<std::uint8_t> encode_png(const Image& img) {
    png_image pi = png_descriptor(img, "PNG encoder");
    png_alloc_size_t size = 0;
    // First call measures, second writes.
    check(png_image_write_to_memory(&pi, nullptr, &size, 0, img.pixels.data(), 0, nullptr) != 0,
          "cannot encode PNG: ", pi.message);
    std::vector<std::uint8_t> out(size);
    const int ok = png_image_write_to_memory(&pi, out.data(), &size, 0, img.pixels.data(), 0, nullptr);
    const std::string msg = pi.message;
    png_image_free(&pi);
    check(ok != 0, "cannot encode PNG: ", msg);
    out.resize(size);
    return out;
}

}  // namespace emu
