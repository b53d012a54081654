// The world bench's gallery picture: layout, missing outputs, right/wrong bars.
#include <gtest/gtest.h>

#include "emu/core/error.h"
#include "emu/train/world_bench.h"

using namespace emu;

namespace {
world::Image flat(int w, int h, std::uint8_t v) {
    world::Image img(w, h);
    std::fill(img.rgb.begin(), img.rgb.end(), v);
    return img;
}
}  // namespace

TEST(Gallery, RowsHoldInputsGapOutputsAndBars) {
    train::GalleryEntry edit;  // one input, one output, right
    edit.prompt = "remove the red circle";
    edit.inputs = {flat(8, 8, 100)};
    edit.outputs = {flat(8, 8, 200)};
    edit.correct = true;
    train::GalleryEntry t2i;  // no input, two outputs (the second missing), wrong
    t2i.outputs = {flat(8, 8, 50), std::nullopt};
    const world::Image g = train::gallery_picture({edit, t2i});
    // 3 columns (input, gap, output) of 8 px with 4 px padding; rows of 8 + 3 (bar) + 4.
    EXPECT_EQ(g.width, 4 + 3 * 12);
    EXPECT_EQ(g.height, 4 + 2 * 15);
    EXPECT_EQ(g.px(4, 4)[0], 100);            // row 1: the input
    EXPECT_EQ(g.px(4 + 12, 4)[0], 255);       // the gap stays white
    EXPECT_EQ(g.px(4 + 24, 4)[0], 200);       // the output
    EXPECT_EQ(g.px(4 + 24, 4 + 8)[1], 170);   // green bar under it
    EXPECT_EQ(g.px(4, 4 + 8)[1], 255);        // no bar under inputs
    const int y1 = 4 + 15;
    EXPECT_EQ(g.px(4, y1)[0], 50);            // row 2: outputs start at column 0
    EXPECT_EQ(g.px(4 + 12, y1)[0], 0);        // a missing output is black
    EXPECT_EQ(g.px(4 + 12, y1 + 8)[0], 220);  // red bar: wrong
}

TEST(Gallery, EmptyIsAnError) { EXPECT_THROW(train::gallery_picture({}), Error); }

TEST(Gallery, PasteAndFillClipAtTheCanvasEdges) {
    world::Image canvas = flat(4, 3, 9);
    world::Image pic = flat(3, 3, 0);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x) pic.px(x, y)[0] = std::uint8_t(10 * y + x);
    world::paste(canvas, pic, 2, -1);  // hangs over the right and top edges
    EXPECT_EQ(canvas.px(2, 0)[0], 10);  // pic (0, 1)
    EXPECT_EQ(canvas.px(3, 1)[0], 21);  // pic (1, 2)
    EXPECT_EQ(canvas.px(1, 0)[0], 9);   // left of the picture: untouched
    EXPECT_EQ(canvas.px(2, 2)[0], 9);   // below it: untouched
    world::fill_rect(canvas, -5, 2, 6, 9, {1, 2, 3});
    EXPECT_EQ(canvas.px(0, 2)[2], 3);
    EXPECT_EQ(canvas.px(1, 2)[0], 9);  // x = 1 is past the rectangle's right edge
    world::paste(canvas, pic, 10, 10);  // entirely off the canvas: nothing happens
    EXPECT_EQ(canvas.px(3, 2)[0], 9);
}
