#include "facedge/ncnn_param.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "facedge/error.h"

namespace facedge {
namespace {

const char* kMagic = "7767517";
const int kMaxParamId = 32;       // ncnn's NCNN_MAX_PARAM_COUNT
const long long kMaxCount = 1 << 20; // layers, blobs, array elements
const long long kMaxBlobsPerLayer = 1024;

bool parse_int(const std::string& s, long long& out)
{
    if (s.empty())
        return false;
    errno = 0;
    char* end = nullptr;
    out = std::strtoll(s.c_str(), &end, 10);
    return errno == 0 && end && *end == '\0';
}

bool parse_number(const std::string& s, double& out)
{
    long long i;
    if (parse_int(s, i))
    {
        out = (double)i;
        return true;
    }
    errno = 0;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return !s.empty() && errno == 0 && end && *end == '\0' && std::isfinite(out);
}

std::vector<std::string> split(const std::string& s, char c)
{
    std::vector<std::string> parts;
    std::istringstream is(s);
    std::string part;
    while (std::getline(is, part, c))
        parts.push_back(part);
    if (s.empty() || s.back() == c)
        parts.push_back("");
    return parts;
}

std::vector<std::string> split_ws(const std::string& line)
{
    std::vector<std::string> tokens;
    std::istringstream is(line);
    std::string t;
    while (is >> t)
        tokens.push_back(t);
    return tokens;
}

[[noreturn]] void fail_line(const std::string& name, int line_no, const std::string& what)
{
    throw Error(name + ":" + std::to_string(line_no) + ": " + what);
}

NcnnParam parse_key_value(const NcnnLayer& l, const std::string& kv)
{
    NcnnParam p;
    const size_t eq = kv.find('=');
    long long id;
    if (eq == std::string::npos || !parse_int(kv.substr(0, eq), id))
        l.fail("bad parameter '" + kv + "' (expected id=value)");
    p.key = kv.substr(0, eq);
    p.text = kv.substr(eq + 1);
    p.is_float = p.text.find_first_of(".eE") != std::string::npos;
    if (id <= -23300)
    {
        id = -(id + 23300);
        p.is_array = true;
        const std::vector<std::string> parts = split(p.text, ',');
        long long n;
        if (!parse_int(parts[0], n) || n < 0 || n > kMaxCount || (long long)parts.size() != n + 1)
            l.fail("bad array parameter '" + kv + "' (expected count,v1,...,vcount)");
        for (long long k = 1; k <= n; k++)
        {
            double d;
            if (!parse_number(parts[k], d))
                l.fail("bad array element in '" + kv + "'");
            p.values.push_back(d);
        }
    }
    else
    {
        double d;
        if (!parse_number(p.text, d))
            l.fail("bad parameter value '" + kv + "' (expected a number)");
        p.values.push_back(d);
    }
    if (id < 0 || id >= kMaxParamId)
        l.fail("parameter id " + std::to_string(id) + " out of range 0.." + std::to_string(kMaxParamId - 1));
    p.id = (int)id;
    return p;
}

NcnnLayer parse_layer(const std::string& name, int line_no, const std::vector<std::string>& t)
{
    NcnnLayer l;
    l.param_name = name;
    l.line_no = line_no;
    if (t.size() < 4)
        fail_line(name, line_no, "expected 'type name bottom_count top_count ...', got " + std::to_string(t.size()) + " fields");
    l.type = t[0];
    l.name = t[1];
    long long nb, nt;
    if (!parse_int(t[2], nb) || !parse_int(t[3], nt) || nb < 0 || nt < 0 || nb > kMaxBlobsPerLayer || nt > kMaxBlobsPerLayer)
        fail_line(name, line_no, "layer '" + l.name + "': bad bottom/top counts '" + t[2] + " " + t[3] + "'");
    if ((long long)t.size() < 4 + nb + nt)
        fail_line(name, line_no, "layer '" + l.name + "': lists fewer blob names than its counts " + t[2] + " " + t[3]);
    l.bottoms.assign(t.begin() + 4, t.begin() + 4 + nb);
    l.tops.assign(t.begin() + 4 + nb, t.begin() + 4 + nb + nt);
    for (size_t i = 4 + nb + nt; i < t.size(); i++)
        l.params.push_back(parse_key_value(l, t[i]));
    return l;
}

} // namespace

const NcnnParam* NcnnLayer::find(int id) const
{
    // the last one wins, as in ncnn's ParamDict
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        if (it->id == id)
            return &*it;
    return nullptr;
}

double NcnnLayer::get_float(int id, double def) const
{
    const NcnnParam* p = find(id);
    if (!p)
        return def;
    if (p->is_array)
        fail("parameter " + std::to_string(id) + " must be a number, not an array");
    return p->values[0];
}

long long NcnnLayer::get_int(int id, long long def) const
{
    const double v = get_float(id, (double)def);
    if (v != std::floor(v) || std::fabs(v) > 2e9)
        fail("parameter " + std::to_string(id) + " must be an integer, got " + std::to_string(v));
    return (long long)v;
}

void NcnnLayer::fail(const std::string& what) const
{
    throw Error(param_name + ":" + std::to_string(line_no) + ": layer '" + name + "' (" + type + "): " + what);
}

NcnnParamFile parse_param(const std::string& text, const std::string& name)
{
    if (text.find('\0') != std::string::npos)
        throw Error(name + ": not an ncnn .param text file (contains NUL bytes)");
    std::vector<std::pair<int, std::vector<std::string> > > lines; // non-blank lines with their numbers
    {
        std::istringstream is(text);
        std::string line;
        int no = 0;
        while (std::getline(is, line))
        {
            no++;
            std::vector<std::string> tokens = split_ws(line);
            if (!tokens.empty())
                lines.push_back({no, tokens});
        }
    }
    if (lines.empty())
        throw Error(name + ": empty file (expected an ncnn .param starting with " + kMagic + ")");
    if (lines[0].second.size() != 1 || lines[0].second[0] != kMagic)
        throw Error(name + ": not an ncnn .param file (first line must be the magic number " + kMagic + ")");
    long long layer_count = 0, blob_count = 0;
    if (lines.size() < 2 || lines[1].second.size() != 2 || !parse_int(lines[1].second[0], layer_count) || !parse_int(lines[1].second[1], blob_count)
            || layer_count <= 0 || blob_count <= 0 || layer_count > kMaxCount || blob_count > kMaxCount)
        fail_line(name, lines.size() < 2 ? 2 : lines[1].first, "expected 'layer_count blob_count' (two positive numbers)");
    if ((long long)lines.size() - 2 != layer_count)
        throw Error(name + ": header says " + std::to_string(layer_count) + " layers but the file has " + std::to_string(lines.size() - 2)
                    + " layer lines (truncated or edited?)");
    NcnnParamFile file;
    file.name = name;
    file.layer_count = (int)layer_count;
    file.blob_count = (int)blob_count;
    for (size_t i = 2; i < lines.size(); i++)
        file.layers.push_back(parse_layer(name, lines[i].first, lines[i].second));
    return file;
}

} // namespace facedge
