#include "emu/io/story_proto.h"

#include <cstdio>

#include "emu/core/error.h"
#include "interleave_story.pb.h"

namespace emu {

namespace {

namespace pb = emu3p5::story;

class Writer {
public:
    void add(const StoryItem& item) {
        switch (item.kind) {
            case StoryItem::Kind::Question: story_.set_question(item.text); break;
            case StoryItem::Kind::GlobalCot: story_.set_summary(item.text); break;
            case StoryItem::Kind::ImageCot: {
                pb::ImageMeta meta;
                meta.set_chain_of_thought(item.text);
                put_last_image(std::move(meta));
                break;
            }
            case StoryItem::Kind::Text: add_clip(item.text); break;
            case StoryItem::Kind::Image: {
                pb::ImageMeta meta = take_last_image();
                fill_image(*meta.mutable_image(), *item.image);
                put_last_image(std::move(meta));
                break;
            }
            case StoryItem::Kind::ReferenceImage:
                fill_image(*story_.add_reference_images()->mutable_image(), *item.image);
                break;
        }
    }

    std::string finish() {
        // A trailing chain of thought with no image after it is dropped, as officially
        // (which also leaves one empty clip in a story that had none).
        pb::ImageMeta last = take_last_image();
        if (!last.image().image_data().empty()) put_last_image(std::move(last));
        std::string out;
        check(story_.SerializeToString(&out), "cannot serialize the story protobuf");
        return out;
    }

private:
    void add_clip(const std::string& text) {
        char id[32];
        std::snprintf(id, sizeof id, "clip_%04d", story_.clips_size());
        pb::Clip* clip = story_.add_clips();
        clip->set_clip_id(id);
        clip->add_segments()->set_asr(text);
    }
    pb::Segment& last_segment() {
        if (story_.clips_size() == 0) add_clip("");
        return *story_.mutable_clips(story_.clips_size() - 1)->mutable_segments(0);
    }
    // The last image of the last clip when it still waits for its pixels (a CoT), else a new one.
    pb::ImageMeta take_last_image() {
        pb::Segment& seg = last_segment();
        if (seg.images_size() > 0 && seg.images(seg.images_size() - 1).image().image_data().empty()) {
            pb::ImageMeta meta = seg.images(seg.images_size() - 1);
            seg.mutable_images()->RemoveLast();
            return meta;
        }
        return pb::ImageMeta();
    }
    void put_last_image(pb::ImageMeta meta) { *last_segment().add_images() = std::move(meta); }
    static void fill_image(pb::Image& out, const emu::Image& image) {
        check(image.channels == 3, "story images must be RGB");
        out.set_width(image.width);
        out.set_height(image.height);
        out.set_format(pb::PNG);
        std::vector<std::uint8_t> png = encode_png(image);
        out.set_image_data(std::string(png.begin(), png.end()));
    }

    pb::Story story_;
};

}  // namespace

std::string build_story_proto(const std::vector<StoryItem>& items) {
    Writer w;
    for (const StoryItem& item : items) w.add(item);
    return w.finish();
}

}  // namespace emu
