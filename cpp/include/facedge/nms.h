// Non-maximum suppression over score-sorted faces.
#pragma once

#include <vector>

#include "facedge/decode.h"

namespace facedge {

enum class NmsKind
{
    // Keep the best box of each overlapping group, drop the rest.
    Hard,
    // "Blending": replace the best box of each group by the score-weighted mean of
    // the group's boxes (and landmarks); the group's score is the best score. Steadier
    // boxes from video, as in Ultra-Light-Fast-Generic-Face-Detector's demos.
    Blend,
};

float iou(const Face& a, const Face& b);

// `faces` must be sorted by descending score. Returns at most top_k faces (top_k <= 0:
// no limit), in descending score order. class_aware: a face suppresses (or blends
// with) only faces of its own label, as a multi-class SSD's own predictor does, so a
// masked and an unmasked face on one head both survive to be told apart by score;
// otherwise every label competes in one group.
std::vector<Face> nms(const std::vector<Face>& faces, NmsKind kind, float iou_threshold, int top_k, int num_landmarks,
                      bool class_aware = true);

} // namespace facedge
