#include "emu/world/parse.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "emu/core/error.h"
#include "emu/world/render.h"

namespace emu::world {
namespace {

// One cell's soft mask: how much of the dominant colour each pixel holds (0..1).
struct Mask {
    int x0, y0, w, h;
    std::vector<float> v;
    double total = 0;
    float at(int x, int y) const {
        x -= x0;
        y -= y0;
        return (x >= 0 && y >= 0 && x < w && y < h) ? v[std::size_t(y * w + x)] : 0.0f;
    }
};

// Fuzzy IoU (sum of minima over sum of maxima) of a template with the mask. Each shape
// is tried sharp and softened by a 3x3 box blur and scores the better of the two, so a
// blurred picture is compared with blurred shapes instead of being misread as a blob.
double template_iou(const Mask& m, Shape shape, double cx, double cy, double r) {
    const int xa = int(std::floor(cx - r)) - 1, xb = int(std::ceil(cx + r)) + 1;
    const int ya = int(std::floor(cy - r)) - 1, yb = int(std::ceil(cy + r)) + 1;
    const int w = xb - xa + 1, h = yb - ya + 1;
    thread_local std::vector<float> sharp, soft, seen;
    sharp.assign(std::size_t(w * h), 0.0f);
    soft.assign(std::size_t(w * h), 0.0f);
    seen.assign(std::size_t(w * h), 0.0f);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const double px = xa + x + 0.5, py = ya + y + 0.5;
            sharp[std::size_t(y * w + x)] = shape_covers(shape, (px - cx) / r, (py - cy) / r) ? 1.0f : 0.0f;
            seen[std::size_t(y * w + x)] = m.at(xa + x, ya + y);
        }
    // Separable 3x3 box blur (zero outside the window, which is a pixel wider than the shape).
    thread_local std::vector<float> rows;
    rows.assign(std::size_t(w * h), 0.0f);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float sum = sharp[std::size_t(y * w + x)];
            if (x > 0) sum += sharp[std::size_t(y * w + x - 1)];
            if (x + 1 < w) sum += sharp[std::size_t(y * w + x + 1)];
            rows[std::size_t(y * w + x)] = sum;
        }
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float sum = rows[std::size_t(y * w + x)];
            if (y > 0) sum += rows[std::size_t((y - 1) * w + x)];
            if (y + 1 < h) sum += rows[std::size_t((y + 1) * w + x)];
            soft[std::size_t(y * w + x)] = sum / 9.0f;
        }
    double best = 0;
    for (const auto* t : {&sharp, &soft}) {
        double lo = 0, hi = 0, inside = 0;
        for (std::size_t i = 0; i < seen.size(); ++i) {
            lo += std::min(seen[i], (*t)[i]);
            hi += std::max(seen[i], (*t)[i]);
            inside += seen[i];
        }
        hi += m.total - inside;  // mask outside the template's window
        if (hi > 0) best = std::max(best, lo / hi);
    }
    return best;
}

// Removes isolated specks and fills isolated holes (stray pixels a decoder may leave),
// judging each pixel by its four neighbours in the original mask.
void clean_mask(Mask& m) {
    const std::vector<float> v = m.v;
    auto get = [&](int x, int y) { return (x >= 0 && y >= 0 && x < m.w && y < m.h) ? v[std::size_t(y * m.w + x)] : 0.0f; };
    m.total = 0;
    for (int y = 0; y < m.h; ++y)
        for (int x = 0; x < m.w; ++x) {
            const float n[4] = {get(x - 1, y), get(x + 1, y), get(x, y - 1), get(x, y + 1)};
            float& p = m.v[std::size_t(y * m.w + x)];
            int on = 0;
            float sum = 0;
            for (float q : n) {
                on += q >= 0.5f;
                sum += q;
            }
            if (p > 0 && on == 0 && sum < 0.5f) p = 0;
            else if (p < 0.5f && on == 4) p = sum / 4;
            m.total += p;
        }
}

struct Fit {
    double iou, cx, cy;
};

// Climbs over half-pixel centre shifts from a start a pixel or two from the truth.
Fit climb(const Mask& m, Shape shape, double r, Fit f) {
    for (int iter = 0; iter < 8; ++iter) {
        Fit best = f;
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                if (!dx && !dy) continue;
                const double x = f.cx + 0.5 * dx, y = f.cy + 0.5 * dy;
                const double v = template_iou(m, shape, x, y, r);
                if (v > best.iou) best = {v, x, y};
            }
        if (best.cx == f.cx && best.cy == f.cy) break;
        f = best;
    }
    return f;
}

// Bounding box over rows/columns holding a fair share of the mask, so a few stray
// pixels do not stretch it.
std::pair<double, double> robust_centre(const Mask& m) {
    std::vector<double> rows(std::size_t(m.h), 0), cols(std::size_t(m.w), 0);
    for (int y = 0; y < m.h; ++y)
        for (int x = 0; x < m.w; ++x) {
            const float v = m.v[std::size_t(y * m.w + x)];
            if (v < 0.5f) continue;
            rows[std::size_t(y)] += 1;
            cols[std::size_t(x)] += 1;
        }
    auto span = [](const std::vector<double>& v) {
        const double peak = *std::max_element(v.begin(), v.end());
        const double thr = std::max(1.5, peak / 10);
        int a = 0, b = int(v.size()) - 1;
        while (a < b && v[std::size_t(a)] < thr) ++a;
        while (b > a && v[std::size_t(b)] < thr) --b;
        return 0.5 * (a + b + 1);
    };
    return {m.x0 + span(cols), m.y0 + span(rows)};
}

constexpr double kPureBias = 0.15;

struct Mix {
    int colour = -1;  // palette index, -1 = background or noise
    float amount = 0;
};

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
    check(opt.cols > 0 && opt.rows > 0 && opt.cols * 4 <= image.width && opt.rows * 4 <= image.height,
          "parse: grid ", opt.cols, "x", opt.rows, " does not fit a ", image.width, "x", image.height, " image");
    const int W = image.width, H = image.height;
    const std::size_t npix = std::size_t(W) * std::size_t(H);

    // Background: the most common palette colour; its observed mean absorbs colour drift.
    std::array<long, kColourCount> hist{};
    std::vector<std::uint8_t> nearest(npix);
    const double max_d2 = opt.max_colour_distance * opt.max_colour_distance;
    for (std::size_t i = 0; i < npix; ++i) {
        const std::uint8_t* p = image.rgb.data() + i * 3;
        double d;
        const Colour c = nearest_colour(p[0], p[1], p[2], &d);
        nearest[i] = d * d <= max_d2 ? std::uint8_t(c) : 255;
        if (nearest[i] != 255) ++hist[std::size_t(c)];
    }
    ParseResult out;
    out.scene.cols = opt.cols;
    out.scene.rows = opt.rows;
    out.scene.background = Colour(std::max_element(hist.begin(), hist.end()) - hist.begin());
    double bg[3] = {0, 0, 0};
    long bg_n = 0;
    for (std::size_t i = 0; i < npix; ++i)
        if (nearest[i] == std::uint8_t(out.scene.background)) {
            for (int ch = 0; ch < 3; ++ch) bg[ch] += image.rgb[i * 3 + std::size_t(ch)];
            ++bg_n;
        }
    for (double& v : bg) v /= double(std::max(1L, bg_n));

    // Each pixel is read as background mixed with one object colour (how blur and
    // tokenizers blend edges); the mix amount is its share of that object.
    std::vector<int> candidates;
    for (int c = 0; c < kObjectColourCount; ++c)
        if (Colour(c) != out.scene.background) candidates.push_back(c);
    if (out.scene.background != Colour::Black) candidates.push_back(int(Colour::Black));  // the agent
    struct Axis {
        int colour;
        double d[3], inv_len2;
    };
    std::vector<Axis> axes;
    for (int c : candidates) {
        const Rgb rgb = colour_rgb(Colour(c));
        Axis a{c, {rgb.r - bg[0], rgb.g - bg[1], rgb.b - bg[2]}, 0};
        const double len2 = a.d[0] * a.d[0] + a.d[1] * a.d[1] + a.d[2] * a.d[2];
        if (len2 < 1600) continue;  // indistinguishable from this background
        a.inv_len2 = 1.0 / len2;
        axes.push_back(a);
    }
    const double max_residual2 = opt.max_colour_distance * opt.max_colour_distance * 0.5;
    std::vector<Mix> mix(npix);
    for (std::size_t i = 0; i < npix; ++i) {
        const std::uint8_t* p = image.rgb.data() + i * 3;
        const double q[3] = {p[0] - bg[0], p[1] - bg[1], p[2] - bg[2]};
        double best = max_residual2;
        for (const Axis& a : axes) {
            const double t = std::clamp((q[0] * a.d[0] + q[1] * a.d[1] + q[2] * a.d[2]) * a.inv_len2, 0.0, 1.0);
            if (t < 0.25) continue;
            const double e0 = q[0] - t * a.d[0], e1 = q[1] - t * a.d[1], e2 = q[2] - t * a.d[2];
            // Prefer reading a pixel as mostly one colour: on black, brown is nearly a
            // half-strength orange, and only this term tells them apart.
            const double res = e0 * e0 + e1 * e1 + e2 * e2 + kPureBias * (1 - t) * (1 - t) / a.inv_len2;
            if (res < best) {
                best = res;
                mix[i] = {a.colour, float(t)};
            }
        }
    }

    const double cw = double(W) / opt.cols, ch = double(H) / opt.rows, unit = std::min(cw, ch);
    const double small_r = kSmallRadius * unit;
    const double min_amount = opt.min_area_fraction * 1.8 * small_r * small_r;  // the triangle is smallest

    for (int row = 0; row < opt.rows; ++row)
        for (int col = 0; col < opt.cols; ++col) {
            CellParse cell{col, row, false, 0.0};
            // A pixel belongs to the cell holding its centre, as in the renderer.
            const int x0 = int(std::ceil(col * cw - 0.5)), x1 = int(std::ceil((col + 1) * cw - 0.5));
            const int y0 = int(std::ceil(row * ch - 0.5)), y1 = int(std::ceil((row + 1) * ch - 0.5));
            std::array<double, kColourCount> amount{};
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x) {
                    const Mix& m = mix[std::size_t(y) * std::size_t(W) + std::size_t(x)];
                    if (m.colour >= 0) amount[std::size_t(m.colour)] += m.amount;
                }
            const int dom = int(std::max_element(amount.begin(), amount.end()) - amount.begin());
            if (amount[std::size_t(dom)] < min_amount) {
                out.cells.push_back(cell);
                continue;
            }
            cell.occupied = true;
            Object o;
            o.col = col;
            o.row = row;
            o.colour = Colour(dom);
            if (o.colour == Colour::Black) {
                o.agent = true;
                cell.score = 1.0;
                out.scene.objects.push_back(o);
                out.cells.push_back(cell);
                continue;
            }
            // The mask: each pixel's share of the dominant colour against the background
            // alone, so edge pixels that looked like another colour still count.
            const Axis* axis = nullptr;
            for (const Axis& a : axes)
                if (a.colour == dom) axis = &a;
            Mask m{x0, y0, x1 - x0, y1 - y0, {}, 0};
            m.v.assign(std::size_t(m.w * m.h), 0.0f);
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x) {
                    const std::uint8_t* p = image.rgb.data() + (std::size_t(y) * std::size_t(W) + std::size_t(x)) * 3;
                    const double q[3] = {p[0] - bg[0], p[1] - bg[1], p[2] - bg[2]};
                    const double t = std::clamp(
                        (q[0] * axis->d[0] + q[1] * axis->d[1] + q[2] * axis->d[2]) * axis->inv_len2, 0.0, 1.0);
                    const double e0 = q[0] - t * axis->d[0], e1 = q[1] - t * axis->d[1], e2 = q[2] - t * axis->d[2];
                    if (t < 0.2 || e0 * e0 + e1 * e1 + e2 * e2 > max_residual2) continue;
                    m.v[std::size_t((y - y0) * m.w + (x - x0))] = float(t);
                    m.total += t;
                }
            clean_mask(m);
            const auto [cx, cy] = robust_centre(m);
            // Score every template at the start, then refine the centre of the best few.
            struct Candidate {
                Shape shape;
                Size size;
                Fit fit;
            };
            std::vector<Candidate> cands;
            for (int s = 0; s < kShapeCount; ++s)
                for (Size size : {Size::Small, Size::Large}) {
                    const double r = (size == Size::Small ? kSmallRadius : kLargeRadius) * unit;
                    cands.push_back({Shape(s), size, {template_iou(m, Shape(s), cx, cy, r), cx, cy}});
                }
            std::sort(cands.begin(), cands.end(), [](const auto& a, const auto& b) { return a.fit.iou > b.fit.iou; });
            cands.resize(3);
            for (auto& c : cands)
                c.fit = climb(m, c.shape, (c.size == Size::Small ? kSmallRadius : kLargeRadius) * unit, c.fit);
            const auto& best = *std::max_element(cands.begin(), cands.end(),
                                                 [](const auto& a, const auto& b) { return a.fit.iou < b.fit.iou; });
            o.shape = best.shape;
            o.size = best.size;
            cell.score = best.fit.iou;
            out.scene.objects.push_back(o);
            out.cells.push_back(cell);
        }
    return out;
}

Scene parse_image(const Image& image, const ParseOptions& options) {
    return parse_image_detailed(image, options).scene;
}

}  // namespace emu::world
