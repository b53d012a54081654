#include "emu/world/parse.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "emu/core/error.h"
#include "emu/world/render.h"

namespace emu::world {
namespace {

constexpr std::uint8_t kNoise = 255;

struct Mask {
    int x0, y0, w, h;  // the cell's pixel window
    std::vector<std::uint8_t> on;
    int count = 0;
    bool at(int x, int y) const {
        x -= x0;
        y -= y0;
        return x >= 0 && y >= 0 && x < w && y < h && on[std::size_t(y * w + x)];
    }
};

double template_iou(const Mask& m, Shape shape, double cx, double cy, double r) {
    const int xa = int(std::floor(cx - r)), xb = int(std::ceil(cx + r));
    const int ya = int(std::floor(cy - r)), yb = int(std::ceil(cy + r));
    int inter = 0, covered = 0;
    for (int y = ya; y <= yb; ++y)
        for (int x = xa; x <= xb; ++x) {
            if (!shape_covers(shape, (x + 0.5 - cx) / r, (y + 0.5 - cy) / r)) continue;
            ++covered;
            inter += m.at(x, y);
        }
    const int uni = m.count + covered - inter;
    return uni > 0 ? double(inter) / uni : 0.0;
}

// Best IoU of one template, climbing over half-pixel centre shifts from a start point;
// the start (the mask's robust bounding-box centre) is within a pixel or two of the truth.
double fit(const Mask& m, Shape shape, double r, double cx, double cy) {
    double best = template_iou(m, shape, cx, cy, r);
    for (int iter = 0; iter < 8; ++iter) {
        double bx = cx, by = cy;
        bool moved = false;
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                if (!dx && !dy) continue;
                double v = template_iou(m, shape, cx + 0.5 * dx, cy + 0.5 * dy, r);
                if (v > best) {
                    best = v;
                    bx = cx + 0.5 * dx;
                    by = cy + 0.5 * dy;
                    moved = true;
                }
            }
        if (!moved) break;
        cx = bx;
        cy = by;
    }
    return best;
}

// Bounding box over rows/columns holding a fair share of the mask, so a few stray
// pixels do not stretch it.
std::pair<double, double> robust_centre(const Mask& m) {
    std::vector<int> rows(std::size_t(m.h), 0), cols(std::size_t(m.w), 0);
    for (int y = 0; y < m.h; ++y)
        for (int x = 0; x < m.w; ++x)
            if (m.on[std::size_t(y * m.w + x)]) {
                ++rows[std::size_t(y)];
                ++cols[std::size_t(x)];
            }
    auto span = [](const std::vector<int>& v) {
        const int peak = *std::max_element(v.begin(), v.end());
        const int thr = std::max(1, peak / 4);
        int a = 0, b = int(v.size()) - 1;
        while (a < b && v[std::size_t(a)] < thr) ++a;
        while (b > a && v[std::size_t(b)] < thr) --b;
        return 0.5 * (a + b + 1);
    };
    return {m.x0 + span(cols), m.y0 + span(rows)};
}

}  // namespace

Colour nearest_colour(std::uint8_t r, std::uint8_t g, std::uint8_t b, double* distance) {
    int best = 0, best_d = 1 << 30;
    for (int i = 0; i < kColourCount; ++i) {
        const Rgb c = colour_rgb(Colour(i));
        const int dr = int(r) - c.r, dg = int(g) - c.g, db = int(b) - c.b;
        const int d = dr * dr + dg * dg + db * db;
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    if (distance) *distance = std::sqrt(double(best_d));
    return Colour(best);
}

ParseResult parse_image_detailed(const Image& image, const ParseOptions& opt) {
    check(image.width > 0 && image.height > 0 &&
              image.rgb.size() == std::size_t(image.width) * std::size_t(image.height) * 3,
          "parse: image has inconsistent size");
    check(opt.cols > 0 && opt.rows > 0 && opt.cols <= image.width && opt.rows <= image.height,
          "parse: grid ", opt.cols, "x", opt.rows, " does not fit a ", image.width, "x", image.height, " image");
    const int W = image.width, H = image.height;
    std::vector<std::uint8_t> labels(std::size_t(W) * std::size_t(H));
    std::array<long, kColourCount> hist{};
    const double max_d2 = opt.max_colour_distance * opt.max_colour_distance;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const std::uint8_t* p = image.rgb.data() + i * 3;
        double d;
        Colour c = nearest_colour(p[0], p[1], p[2], &d);
        if (d * d > max_d2) {
            labels[i] = kNoise;
            continue;
        }
        labels[i] = std::uint8_t(c);
        ++hist[std::size_t(c)];
    }
    ParseResult out;
    out.scene.cols = opt.cols;
    out.scene.rows = opt.rows;
    out.scene.background = Colour(std::max_element(hist.begin(), hist.end()) - hist.begin());
    const std::uint8_t bg = std::uint8_t(out.scene.background);

    const double cw = double(W) / opt.cols, ch = double(H) / opt.rows, unit = std::min(cw, ch);
    const double small_r = kSmallRadius * unit;
    const double min_pixels = opt.min_area_fraction * 1.8 * small_r * small_r;  // the triangle is smallest

    for (int row = 0; row < opt.rows; ++row)
        for (int col = 0; col < opt.cols; ++col) {
            CellParse cell{col, row, false, 0.0};
            // A pixel belongs to the cell holding its centre, as in the renderer.
            const int x0 = int(std::ceil(col * cw - 0.5)), x1 = int(std::ceil((col + 1) * cw - 0.5));
            const int y0 = int(std::ceil(row * ch - 0.5)), y1 = int(std::ceil((row + 1) * ch - 0.5));
            std::array<int, kColourCount> counts{};
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x) {
                    const std::uint8_t l = labels[std::size_t(y) * std::size_t(W) + std::size_t(x)];
                    // White and gray are never objects; black is the agent unless it is the background.
                    if (l == kNoise || l == bg || l == std::uint8_t(Colour::White) || l == std::uint8_t(Colour::Gray))
                        continue;
                    ++counts[l];
                }
            const int dom = int(std::max_element(counts.begin(), counts.end()) - counts.begin());
            if (counts[std::size_t(dom)] < min_pixels) {
                out.cells.push_back(cell);
                continue;
            }
            cell.occupied = true;
            Object o;
            o.col = col;
            o.row = row;
            if (Colour(dom) == Colour::Black) {
                o.agent = true;
                o.colour = Colour::Black;
                cell.score = 1.0;
                out.scene.objects.push_back(o);
                out.cells.push_back(cell);
                continue;
            }
            Mask m{x0, y0, x1 - x0, y1 - y0, {}, 0};
            m.on.assign(std::size_t(m.w * m.h), 0);
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x)
                    if (labels[std::size_t(y) * std::size_t(W) + std::size_t(x)] == dom) {
                        m.on[std::size_t((y - y0) * m.w + (x - x0))] = 1;
                        ++m.count;
                    }
            const auto [cx, cy] = robust_centre(m);
            double best = -1;
            for (int s = 0; s < kShapeCount; ++s)
                for (Size size : {Size::Small, Size::Large}) {
                    const double r = (size == Size::Small ? kSmallRadius : kLargeRadius) * unit;
                    const double iou = fit(m, Shape(s), r, cx, cy);
                    if (iou > best) {
                        best = iou;
                        o.shape = Shape(s);
                        o.size = size;
                    }
                }
            o.colour = Colour(dom);
            cell.score = best;
            out.scene.objects.push_back(o);
            out.cells.push_back(cell);
        }
    return out;
}

Scene parse_image(const Image& image, const ParseOptions& options) {
    return parse_image_detailed(image, options).scene;
}

}  // namespace emu::world
