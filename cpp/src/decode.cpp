#include "facedge/decode.h"

#include <algorithm>
#include <cmath>

namespace facedge {

std::vector<Face> decode_faces(const FamilySpec& family, const std::vector<Prior>& priors, const RawOutputs& raw,
                               float score_threshold, int image_width, int image_height)
{
    std::vector<Face> faces;
    const float iw = (float)image_width, ih = (float)image_height;
    for (int i = 0; i < raw.num_priors; i++)
    {
        const float* row = raw.scores + (size_t)i * raw.num_classes;
        float score = row[1];
        int label = 1;
        for (int c = 2; c < raw.num_classes; c++)
            if (row[c] > score || (score != score && row[c] == row[c])) // NaN loses
            {
                score = row[c];
                label = c;
            }
        if (!(score > score_threshold)) // also drops NaN
            continue;
        const Prior& p = priors[i];
        const float* d = raw.boxes + (size_t)i * 4;
        const float cx = p.cx + d[0] * family.center_variance * p.w;
        const float cy = p.cy + d[1] * family.center_variance * p.h;
        const float w = p.w * std::exp(d[2] * family.size_variance);
        const float h = p.h * std::exp(d[3] * family.size_variance);

        Face f;
        f.x1 = std::min(iw, std::max(0.f, (cx - 0.5f * w) * iw));
        f.y1 = std::min(ih, std::max(0.f, (cy - 0.5f * h) * ih));
        f.x2 = std::min(iw, std::max(0.f, (cx + 0.5f * w) * iw));
        f.y2 = std::min(ih, std::max(0.f, (cy + 0.5f * h) * ih));
        f.score = score;
        f.label = label;
        std::fill(f.landmarks, f.landmarks + 10, 0.f);
        if (raw.landmarks)
        {
            const float* l = raw.landmarks + (size_t)i * 2 * family.num_landmarks;
            for (int k = 0; k < family.num_landmarks; k++)
            {
                f.landmarks[2 * k] = (p.cx + l[2 * k] * family.center_variance * p.w) * iw;
                f.landmarks[2 * k + 1] = (p.cy + l[2 * k + 1] * family.center_variance * p.h) * ih;
            }
        }
        faces.push_back(f);
    }
    // stable: equal scores keep prior order, so results do not depend on the sort
    std::stable_sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
    return faces;
}

} // namespace facedge
