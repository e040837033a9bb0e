// Validation of ncnn model files before ncnn sees them.
//
// ncnn trusts its inputs: a truncated .bin, a .bin of another model, or a .param
// whose numbers were edited can make it read out of bounds. check_model() parses the
// .param text itself, checks the graph (blob names, counts, known layer types), the
// parameters that size weights and buffers, walks the .bin exactly as ncnn's loader
// would for every weighted layer, and propagates channel counts through the
// convolutional trunk so a weight shape that does not fit its input is caught here.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace facedge {

struct ModelGraph; // the parsed .param, kept for per-input-size shape checks

struct ModelCheckResult
{
    int layer_count = 0;
    int blob_count = 0;
    std::vector<std::string> layer_types; // in file order
    std::vector<std::string> blob_names;
    size_t bin_bytes_used = 0;
    int int8_layer_count = 0; // layers with int8 weights (int8_scale_term set)
    std::shared_ptr<const ModelGraph> graph;
};

// Throws facedge::Error naming param_name / bin_name, the line or layer, and the
// problem. input_channels: the channel count fed to `input_blob`.
ModelCheckResult check_model(const std::string& param_text, const std::string& param_name,
                             const unsigned char* bin, size_t bin_size, const std::string& bin_name,
                             const std::string& input_blob, int input_channels);

// Propagates (w, h, c) from an input of input_width x input_height x input_channels
// through the graph: every layer whose inputs must agree (Concat, BinaryOp, Eltwise)
// does, every convolution and pooling window fits, and no blob grows absurdly large.
// ncnn checks none of this and reads out of bounds where it fails. Layers whose
// output shape facedge does not model end the check along their branch.
void check_shapes(const ModelCheckResult& model, const std::string& param_name, const std::string& input_blob,
                  int input_width, int input_height, int input_channels);

} // namespace facedge
