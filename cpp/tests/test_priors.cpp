#include "facedge/family.h"
#include "facedge/priors.h"
#include "test.h"

using namespace facedge;

TEST(ultraface_320x240_has_the_upstream_4420_priors)
{
    // 40x30x3 + 20x15x2 + 10x8x2 + 5x4x3 = 3600 + 600 + 160 + 60
    std::vector<Prior> p = generate_priors(find_family("ultraface-rfb"), 320, 240);
    CHECK(p.size() == 4420);
    // first cell of stride 8, its three sizes innermost
    CHECK_NEAR(p[0].cx, 4.0 / 320, 1e-7);
    CHECK_NEAR(p[0].cy, 4.0 / 240, 1e-7);
    CHECK_NEAR(p[0].w, 10.0 / 320, 1e-7);
    CHECK_NEAR(p[2].w, 24.0 / 320, 1e-7);
    CHECK_NEAR(p[3].cx, 12.0 / 320, 1e-7); // next column
    // first prior of the stride-16 level
    CHECK_NEAR(p[3600].cx, 8.0 / 320, 1e-7);
    CHECK_NEAR(p[3600].w, 32.0 / 320, 1e-7);
    // last prior: stride 64, cell (4, 3) of a 5x4 map (240 / 64 = 3.75 rounds up),
    // centers spread over the map as in training: (cell + 0.5) / cells
    CHECK_NEAR(p.back().cx, 4.5 / 5, 1e-6);
    CHECK_NEAR(p.back().cy, 3.5 / 4, 1e-6);
    CHECK_NEAR(p.back().w, 256.0 / 320, 1e-7);
}

TEST(ultraface_priors_are_clipped_to_the_image)
{
    std::vector<Prior> p = generate_priors(find_family("ultraface-slim"), 64, 64);
    for (const Prior& q : p)
    {
        CHECK(q.cx >= 0 && q.cx <= 1 && q.cy >= 0 && q.cy <= 1);
        CHECK(q.w <= 1 && q.h <= 1);
    }
    CHECK_NEAR(p.back().w, 1.0, 0); // 256 / 64 clipped
}

TEST(retinaface_640x480_priors_unclipped)
{
    std::vector<Prior> p = generate_priors(find_family("retinaface-mnet"), 640, 480);
    CHECK(p.size() == (80 * 60 + 40 * 30 + 20 * 15) * 2);
    CHECK_NEAR(p.back().w, 512.0 / 640, 1e-7); // not clipped
    CHECK_NEAR(p.back().h, 512.0 / 480, 1e-7); // > 1: not clipped
}

TEST(feature_maps_round_up)
{
    // 330 / 64 = 5.2 -> 6 columns at stride 64
    const FamilySpec& f = find_family("ultraface-rfb");
    std::vector<Prior> p = generate_priors(f, 330, 240);
    const size_t expected = (42 * 30 * 3) + (21 * 15 * 2) + (11 * 8 * 2) + (6 * 4 * 3);
    CHECK(p.size() == expected);
}

TEST(unknown_family_lists_the_known_ones)
{
    CHECK_THROWS_WITH(find_family("yolo"), "unknown model family 'yolo' (expected one of: ");
    CHECK_THROWS_WITH(find_family("yolo"), "ultraface-rfb");
}

TEST(blazeface_640_priors)
{
    const FamilySpec& f = find_family("blazeface-fpn-ssh");
    std::vector<Prior> p = generate_priors(f, 640, 640);
    CHECK(p.size() == 80 * 80 * 2 + 40 * 40 * 6);
    CHECK_NEAR(p[1].w, 24.0 / 640, 1e-7);
    CHECK_NEAR(p[80 * 80 * 2].cx, 0.5 / 40, 1e-7);
    CHECK_NEAR(p.back().w, 128.0 / 640, 1e-7);
    CHECK(f.size_multiple == 16);
}

TEST(yunet_priors_are_stride_sized_points_at_cell_corners_of_the_padded_input)
{
    // 320x240 runs the network at 320x256 (padded to a multiple of 32):
    // 40x32 + 20x16 + 10x8 cells, one prior each
    const FamilySpec& f = find_family("yunet-s");
    std::vector<Prior> p = generate_priors(f, 320, 240);
    CHECK(p.size() == 1280 + 320 + 80);
    // cell (0, 0) of stride 8: its corner, size 8 px; normalized to the unpadded 320x240
    CHECK_NEAR(p[0].cx, 0.0, 0);
    CHECK_NEAR(p[0].cy, 0.0, 0);
    CHECK_NEAR(p[0].w, 8.0 / 320, 1e-7);
    CHECK_NEAR(p[0].h, 8.0 / 240, 1e-7);
    CHECK_NEAR(p[1].cx, 8.0 / 320, 1e-7);
    // last stride-16 prior: cell (19, 15), the row lying in the padding
    CHECK_NEAR(p[1280 + 319].cx, 19 * 16.0 / 320, 1e-6);
    CHECK_NEAR(p[1280 + 319].cy, 15 * 16.0 / 240, 1e-6);
    CHECK_NEAR(p.back().w, 32.0 / 320, 1e-7);
    CHECK_NEAR(p.back().cy, 7 * 32.0 / 240, 1e-6);
}
