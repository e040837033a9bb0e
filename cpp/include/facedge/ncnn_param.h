// The one reader of ncnn's .param text, shared by the model check and int8
// calibration (through the binding): layers with their type, name, blob names and
// key=value parameters, arrays (-23300-style keys) included. It checks the syntax
// only; what the parameters mean is the model check's business.
#pragma once

#include <string>
#include <vector>

namespace facedge {

struct NcnnParam
{
    int id = 0;                 // 0..31; an array key -23300-id gives id
    bool is_array = false;
    bool is_float = false;      // written with '.', 'e' or 'E', which ncnn reads as a float
    std::vector<double> values; // one value unless is_array
    std::string key, text;      // as written ("-23310", "2,1.0,2.0"), so a writer can reproduce the line
};

struct NcnnLayer
{
    int line_no = 0;
    std::string type, name;
    std::vector<std::string> bottoms, tops;
    std::vector<NcnnParam> params; // in file order

    const NcnnParam* find(int id) const;
    // The parameter as an integer, or def when absent; an array or a fraction is an
    // error naming the layer.
    long long get_int(int id, long long def) const;
    double get_float(int id, double def) const;

    std::string param_name; // the file, for error messages
    // "file:line: layer 'name' (Type): what"
    [[noreturn]] void fail(const std::string& what) const;
};

struct NcnnParamFile
{
    std::string name;
    int layer_count = 0, blob_count = 0; // as the header says
    std::vector<NcnnLayer> layers;
};

// Throws facedge::Error "name:line: what was expected" on anything that is not
// ncnn .param syntax (magic 7767517, the counts line, one line per layer).
NcnnParamFile parse_param(const std::string& text, const std::string& name);

} // namespace facedge
