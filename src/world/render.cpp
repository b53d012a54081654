#include "emu/world/render.h"

#include <algorithm>
#include <cmath>

#include "emu/core/error.h"

namespace emu::world {

bool shape_covers(Shape shape, double u, double v) {
    const double au = std::fabs(u), av = std::fabs(v);
    switch (shape) {
        case Shape::Circle: return u * u + v * v <= 1.0;
        // Square and triangle are scaled so their areas stay near the circle's; sizes
        // then read the same across shapes.
        case Shape::Square: return au <= 0.85 && av <= 0.85;
        case Shape::Triangle: return v <= 0.9 && v >= -0.9 && au <= (v + 0.9) / 1.8;
        case Shape::Diamond: return au + av <= 1.0;
        case Shape::Cross: return (au <= 0.34 && av <= 0.95) || (av <= 0.34 && au <= 0.95);
        case Shape::Ring: {
            double d2 = u * u + v * v;
            return d2 <= 1.0 && d2 >= 0.30;
        }
    }
    return false;
}

double radius_fraction(const Object& o) {
    if (o.agent) return kAgentRadius;
    return o.size == Size::Small ? kSmallRadius : kLargeRadius;
}

Placement place(const Scene& scene, const Object& o, int width, int height) {
    const double cw = double(width) / scene.cols, ch = double(height) / scene.rows;
    const double unit = std::min(cw, ch);
    return {(o.col + 0.5) * cw + o.jx * kJitterUnit * unit, (o.row + 0.5) * ch + o.jy * kJitterUnit * unit,
            radius_fraction(o) * unit};
}

Image render(const Scene& scene, int width, int height) {
    check(width > 0 && height > 0 && width <= 8192 && height <= 8192, "canvas ", width, "x", height,
          " is out of range");
    Image img(width, height);
    const Rgb bg = colour_rgb(scene.background);
    for (std::size_t i = 0; i < img.rgb.size(); i += 3) {
        img.rgb[i] = bg.r;
        img.rgb[i + 1] = bg.g;
        img.rgb[i + 2] = bg.b;
    }
    for (const Object& o : scene.objects) {
        const Placement p = place(scene, o, width, height);
        const Rgb c = colour_rgb(o.agent ? Colour::Black : o.colour);
        const Shape shape = o.agent ? Shape::Circle : o.shape;
        const int x0 = std::max(0, int(std::floor(p.cx - p.radius)));
        const int x1 = std::min(width - 1, int(std::ceil(p.cx + p.radius)));
        const int y0 = std::max(0, int(std::floor(p.cy - p.radius)));
        const int y1 = std::min(height - 1, int(std::ceil(p.cy + p.radius)));
        for (int y = y0; y <= y1; ++y)
            for (int x = x0; x <= x1; ++x) {
                // Sample at the pixel centre: exactly one answer per pixel, no blending.
                if (!shape_covers(shape, (x + 0.5 - p.cx) / p.radius, (y + 0.5 - p.cy) / p.radius)) continue;
                std::uint8_t* q = img.px(x, y);
                q[0] = c.r;
                q[1] = c.g;
                q[2] = c.b;
            }
    }
    return img;
}

}  // namespace emu::world
