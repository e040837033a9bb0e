// Validation of ncnn model files before ncnn sees them.
//
// ncnn trusts its inputs: a .bin of another model, or a .param whose numbers were
// edited, can make it read out of bounds. check_model() reads the files with facedge's
// ncnn reader (ncnn_param.h, ncnn_weights.h: syntax, and a .bin that does not fit its
// .param), checks the graph (blob names, counts, layer types this ncnn build has), and
// follows blob shapes through it with one table of layer rules: the parameters that
// size weights and buffers are sane, weights fit their input's channels, and, per
// input size (check_shapes), every window fits and joined blobs agree.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "facedge/ncnn_param.h"

namespace facedge {

struct ModelCheckResult
{
    int layer_count = 0;
    int blob_count = 0;
    std::vector<std::string> layer_types; // in file order
    std::vector<std::string> blob_names;
    size_t bin_bytes_used = 0;
    int int8_layer_count = 0; // layers with int8 weights (int8_scale_term set)
    std::shared_ptr<const NcnnParamFile> param; // kept for the per-input-size shape checks
};

// Throws facedge::Error naming param_name / bin_name, the line or layer, and the
// problem. input_channels: the channel count fed to `input_blob`. Spatial sizes are
// not known yet: channel counts are followed here, sizes by check_shapes.
ModelCheckResult check_model(const std::string& param_text, const std::string& param_name,
                             const unsigned char* bin, size_t bin_size, const std::string& bin_name,
                             const std::string& input_blob, int input_channels);

// The same pass from an input of input_width x input_height x input_channels: every
// layer whose inputs must agree (Concat, BinaryOp, Eltwise) does, every convolution
// and pooling window fits, and no blob grows absurdly large. ncnn checks none of this
// and reads out of bounds where it fails. Layers whose output shape facedge does not
// model end the pass along their branch.
void check_shapes(const ModelCheckResult& model, const std::string& input_blob, int input_width, int input_height,
                  int input_channels);

} // namespace facedge
