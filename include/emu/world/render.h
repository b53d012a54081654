// Draws scenes as flat colours without antialiasing: every pixel is exactly the
// background or one object's colour, so the truth can be read back from the picture.
#pragma once
#include "emu/world/image.h"
#include "emu/world/scene.h"

namespace emu::world {

// Object radius as a fraction of a cell's shorter side.
inline constexpr double kSmallRadius = 0.28;
inline constexpr double kLargeRadius = 0.42;
inline constexpr double kAgentRadius = 0.30;

// Whether a point in shape-local units (radius 1, y down) lies inside the shape.
bool shape_covers(Shape shape, double u, double v);

struct Placement {
    double cx, cy;  // centre in pixels
    double radius;  // in pixels
};
// Where an object lands on a width x height canvas showing the scene's grid.
Placement place(const Scene& scene, const Object& o, int width, int height);
double radius_fraction(const Object& o);

// Smallest canvas side at which shapes stay recognisable (a small object spans ~8 px).
inline constexpr int kMinCanvas = 48;

Image render(const Scene& scene, int width, int height);

}  // namespace emu::world
