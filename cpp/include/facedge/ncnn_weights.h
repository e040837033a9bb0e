// Where each layer's weights lie in an ncnn .bin: the one table of what ncnn's layers
// load (their load_model(), in order), walked over the file. Shared by the model
// check (a .bin that does not fit its .param is refused before ncnn reads it) and
// int8 calibration (weights by layer, through the binding).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "facedge/ncnn_param.h"

namespace facedge {

// How a tagged chunk stores its values (a raw chunk is always Fp32).
enum class WeightStorage
{
    Fp32,
    Fp16,
    Bf16,
    Int8,
    Table // a 256-entry float table, then one byte index per value
};

struct WeightChunk
{
    std::string what;  // "weight", "bias", "weight scales", ... (per layer type)
    bool tagged = false; // ncnn's mb.load(n, 0): a 4-byte storage tag first; else raw float32
    long long count = 0; // values
    WeightStorage storage = WeightStorage::Fp32;
    size_t offset = 0, size = 0; // in the .bin: tag and alignment padding included
};

// The chunks a layer loads, from its parameters (offset/size/storage left unset).
std::vector<WeightChunk> weight_layout(const NcnnLayer& layer);

// Every layer's chunks located in the .bin. Throws facedge::Error naming bin_name and
// the layer when the .bin is too short for a layer, or longer than the layers use.
std::vector<std::vector<WeightChunk> > locate_weights(const NcnnParamFile& param, const unsigned char* bin, size_t bin_size,
                                                      const std::string& bin_name);

// A located chunk's values as float32 (int8 values as their integers).
std::vector<float> decode_weights(const unsigned char* bin, const WeightChunk& chunk);

} // namespace facedge
