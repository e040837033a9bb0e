#include "facedge/nms.h"

#include <algorithm>

namespace facedge {

float iou(const Face& a, const Face& b)
{
    const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    if (iw <= 0.f || ih <= 0.f)
        return 0.f;
    const float inter = iw * ih;
    const float uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
    return uni > 0.f ? inter / uni : 0.f;
}

std::vector<Face> nms(const std::vector<Face>& faces, NmsKind kind, float iou_threshold, int top_k, int num_landmarks, bool class_aware)
{
    std::vector<Face> kept;
    std::vector<char> removed(faces.size(), 0);
    for (size_t i = 0; i < faces.size(); i++)
    {
        if (removed[i])
            continue;
        if (top_k > 0 && (int)kept.size() >= top_k)
            break;
        Face best = faces[i];
        // group members: i and every later face overlapping it above the threshold
        double wsum = best.score;
        double box[4] = {best.x1 * wsum, best.y1 * wsum, best.x2 * wsum, best.y2 * wsum};
        double lm[10];
        for (int k = 0; k < 2 * num_landmarks; k++)
            lm[k] = best.landmarks[k] * wsum;
        for (size_t j = i + 1; j < faces.size(); j++)
        {
            if (removed[j] || (class_aware && faces[j].label != best.label) || iou(faces[i], faces[j]) <= iou_threshold)
                continue;
            removed[j] = 1;
            if (kind == NmsKind::Blend)
            {
                const Face& o = faces[j];
                const double w = o.score;
                wsum += w;
                box[0] += o.x1 * w;
                box[1] += o.y1 * w;
                box[2] += o.x2 * w;
                box[3] += o.y2 * w;
                for (int k = 0; k < 2 * num_landmarks; k++)
                    lm[k] += o.landmarks[k] * w;
            }
        }
        if (kind == NmsKind::Blend)
        {
            best.x1 = (float)(box[0] / wsum);
            best.y1 = (float)(box[1] / wsum);
            best.x2 = (float)(box[2] / wsum);
            best.y2 = (float)(box[3] / wsum);
            for (int k = 0; k < 2 * num_landmarks; k++)
                best.landmarks[k] = (float)(lm[k] / wsum);
        }
        kept.push_back(best);
    }
    return kept;
}

} // namespace facedge
