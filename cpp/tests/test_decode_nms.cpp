#include <cmath>

#include "facedge/decode.h"
#include "facedge/nms.h"
#include "test.h"

using namespace facedge;

static Face face(float x1, float y1, float x2, float y2, float score)
{
    Face f = {x1, y1, x2, y2, score, {0}};
    return f;
}

TEST(decode_zero_regression_gives_the_prior)
{
    FamilySpec fam = find_family("ultraface-rfb");
    std::vector<Prior> priors = {{0.5f, 0.5f, 0.2f, 0.4f}, {0.25f, 0.25f, 0.1f, 0.1f}};
    float scores[] = {0.1f, 0.9f, 0.8f, 0.2f};
    float boxes[8] = {0};
    RawOutputs raw;
    raw.scores = scores;
    raw.boxes = boxes;
    raw.num_priors = 2;
    std::vector<Face> faces = decode_faces(fam, priors, raw, 0.5f, 100, 200);
    CHECK(faces.size() == 1); // second prior's face score 0.2 is below the threshold
    CHECK_NEAR(faces[0].x1, 40, 1e-4);
    CHECK_NEAR(faces[0].x2, 60, 1e-4);
    CHECK_NEAR(faces[0].y1, 60, 1e-4);
    CHECK_NEAR(faces[0].y2, 140, 1e-4);
    CHECK_NEAR(faces[0].score, 0.9, 1e-6);
}

TEST(decode_applies_variances_and_clips_to_the_image)
{
    FamilySpec fam = find_family("retinaface-mnet");
    std::vector<Prior> priors = {{0.5f, 0.5f, 0.2f, 0.2f}};
    float scores[] = {0.f, 1.f};
    float boxes[] = {1.f, -1.f, std::log(2.f) / 0.2f, 0.f};
    float landmarks[10] = {1.f, 0.f};
    RawOutputs raw;
    raw.scores = scores;
    raw.boxes = boxes;
    raw.landmarks = landmarks;
    raw.num_priors = 1;
    std::vector<Face> faces = decode_faces(fam, priors, raw, 0.5f, 100, 100);
    CHECK(faces.size() == 1);
    // cx = 0.5 + 1 * 0.1 * 0.2 = 0.52, w = 0.4 -> x in [32, 72]; cy = 0.48, h = 0.2
    CHECK_NEAR(faces[0].x1, 32, 1e-3);
    CHECK_NEAR(faces[0].x2, 72, 1e-3);
    CHECK_NEAR(faces[0].y1, 38, 1e-3);
    CHECK_NEAR(faces[0].y2, 58, 1e-3);
    CHECK_NEAR(faces[0].landmarks[0], 52, 1e-3);
    CHECK_NEAR(faces[0].landmarks[1], 50, 1e-3);
    boxes[2] = 10.f; // exp(2) * 0.2 wide: clipped to the image
    faces = decode_faces(fam, priors, raw, 0.5f, 100, 100);
    CHECK(faces[0].x1 == 0.f && faces[0].x2 == 100.f);
}

TEST(decode_sorts_by_score_and_drops_nan)
{
    FamilySpec fam = find_family("ultraface-rfb");
    std::vector<Prior> priors(3, Prior{0.5f, 0.5f, 0.1f, 0.1f});
    float scores[] = {0, 0.7f, 0, std::nanf(""), 0, 0.9f};
    float boxes[12] = {0};
    RawOutputs raw;
    raw.scores = scores;
    raw.boxes = boxes;
    raw.num_priors = 3;
    std::vector<Face> faces = decode_faces(fam, priors, raw, 0.5f, 10, 10);
    CHECK(faces.size() == 2);
    CHECK(faces[0].score > faces[1].score);
}

TEST(iou_of_known_boxes)
{
    CHECK_NEAR(iou(face(0, 0, 10, 10, 1), face(0, 0, 10, 10, 1)), 1.0, 1e-6);
    CHECK_NEAR(iou(face(0, 0, 10, 10, 1), face(5, 0, 15, 10, 1)), 50.0 / 150.0, 1e-6);
    CHECK_NEAR(iou(face(0, 0, 10, 10, 1), face(10, 0, 20, 10, 1)), 0.0, 0);
}

TEST(hard_nms_keeps_the_best_of_each_group)
{
    std::vector<Face> in = {face(0, 0, 10, 10, 0.9f), face(1, 0, 11, 10, 0.8f), face(50, 50, 60, 60, 0.7f), face(0, 1, 10, 11, 0.6f)};
    std::vector<Face> out = nms(in, NmsKind::Hard, 0.3f, 750, 0);
    CHECK(out.size() == 2);
    CHECK(out[0].score == 0.9f && out[0].x1 == 0.f);
    CHECK(out[1].x1 == 50.f);
    // at a threshold above their overlap, all survive
    CHECK(nms(in, NmsKind::Hard, 0.95f, 750, 0).size() == 4);
    // top_k
    CHECK(nms(in, NmsKind::Hard, 0.95f, 3, 0).size() == 3);
}

TEST(blend_nms_averages_the_group_by_score)
{
    std::vector<Face> in = {face(0, 0, 10, 10, 0.75f), face(2, 0, 12, 10, 0.25f)};
    in[0].landmarks[0] = 4.f;
    in[1].landmarks[0] = 8.f;
    std::vector<Face> out = nms(in, NmsKind::Blend, 0.3f, 750, 1);
    CHECK(out.size() == 1);
    CHECK_NEAR(out[0].x1, 0.5, 1e-6); // 0.75 * 0 + 0.25 * 2
    CHECK_NEAR(out[0].x2, 10.5, 1e-6);
    CHECK_NEAR(out[0].landmarks[0], 5.0, 1e-6);
    CHECK_NEAR(out[0].score, 0.75, 1e-7); // the best score, not an average
}

TEST(decode_takes_each_priors_best_face_class)
{
    // three columns: background, face, mask; the best non-background column wins
    FamilySpec fam = find_family("ultraface-rfb");
    std::vector<Prior> priors(4, Prior{0.5f, 0.5f, 0.1f, 0.1f});
    float scores[] = {
        0.1f, 0.3f, 0.6f,  // mask 0.6
        0.1f, 0.7f, 0.2f,  // face 0.7
        0.5f, 0.25f, 0.25f, // tie below the threshold: dropped
        0.0f, std::nanf(""), 0.9f, // NaN face score does not hide the mask score
    };
    float boxes[16] = {0};
    RawOutputs raw;
    raw.scores = scores;
    raw.num_classes = 3;
    raw.boxes = boxes;
    raw.num_priors = 4;
    std::vector<Face> faces = decode_faces(fam, priors, raw, 0.5f, 10, 10);
    CHECK(faces.size() == 3);
    CHECK(faces[0].label == 2 && faces[0].score == 0.9f);
    CHECK(faces[1].label == 1 && faces[1].score == 0.7f);
    CHECK(faces[2].label == 2 && faces[2].score == 0.6f);
    // a tie goes to the lower column
    float tie[] = {0.f, 0.8f, 0.8f};
    raw.scores = tie;
    raw.num_priors = 1;
    faces = decode_faces(fam, priors, raw, 0.5f, 10, 10);
    CHECK(faces.size() == 1 && faces[0].label == 1);
}

TEST(nms_is_per_class_unless_class_agnostic)
{
    std::vector<Face> in = {face(0, 0, 10, 10, 0.9f), face(1, 0, 11, 10, 0.8f), face(0, 1, 10, 11, 0.7f)};
    in[0].label = 1;
    in[1].label = 2; // overlaps the first, another class
    in[2].label = 1; // overlaps the first, same class
    std::vector<Face> aware = nms(in, NmsKind::Hard, 0.3f, 0, 0, true);
    CHECK(aware.size() == 2);
    CHECK(aware[0].label == 1 && aware[0].score == 0.9f);
    CHECK(aware[1].label == 2 && aware[1].score == 0.8f);
    std::vector<Face> agnostic = nms(in, NmsKind::Hard, 0.3f, 0, 0, false);
    CHECK(agnostic.size() == 1 && agnostic[0].label == 1);
    // blending stays within the class too
    std::vector<Face> blended = nms(in, NmsKind::Blend, 0.3f, 0, 0, true);
    CHECK(blended.size() == 2);
    CHECK_NEAR(blended[0].y1, 0.7 / 1.6, 1e-6); // faces 0 and 2 blended
    CHECK(blended[1].x1 == 1.f);                // face 1 alone
    // top_k <= 0: no limit; top_k counts every class
    CHECK(nms(in, NmsKind::Hard, 0.95f, 0, 0).size() == 3);
    CHECK(nms(in, NmsKind::Hard, 0.95f, -1, 0).size() == 3);
    CHECK(nms(in, NmsKind::Hard, 0.95f, 2, 0).size() == 2);
}
