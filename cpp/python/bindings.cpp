// facedge._core: a thin pybind11 layer over the C++ core. It converts numpy arrays
// to ImageViews (no copy), releases the GIL for the work, and maps facedge::Error to
// facedge.FacedgeError. Everything else lives in the C++ library.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "facedge/build_info.h"
#include "facedge/detector.h"
#include "facedge/error.h"
#include "facedge/ncnn_param.h"
#include "facedge/ncnn_weights.h"

namespace py = pybind11;
using namespace facedge;

namespace {

PixelFormat parse_pixel_format(const std::string& name)
{
    if (name == "bgr") return PixelFormat::BGR;
    if (name == "rgb") return PixelFormat::RGB;
    if (name == "bgra") return PixelFormat::BGRA;
    if (name == "rgba") return PixelFormat::RGBA;
    if (name == "gray") return PixelFormat::GRAY;
    throw Error("pixel_format must be one of bgr, rgb, bgra, rgba, gray, got '" + name + "'");
}

// DetectorOptions' enum fields as Python sees them: one of a few names each. The
// names in the order the error message lists them.
template<class E>
using EnumNames = std::vector<std::pair<const char*, E> >;
const EnumNames<NmsKind> kNmsNames = {{"hard", NmsKind::Hard}, {"blend", NmsKind::Blend}};
const EnumNames<ResizeFilter> kResizeNames = {{"auto", ResizeFilter::Auto}, {"bilinear", ResizeFilter::Bilinear}, {"area", ResizeFilter::Area}};
const EnumNames<Bf16Mode> kBf16Names = {{"on", Bf16Mode::On}, {"off", Bf16Mode::Off}, {"auto", Bf16Mode::Auto}};

template<class E>
std::function<std::string(const DetectorOptions&)> enum_get(E DetectorOptions::*field, const EnumNames<E>& names)
{
    return [field, &names](const DetectorOptions& o) {
        for (const auto& n : names)
            if (n.second == o.*field)
                return std::string(n.first);
        throw Error("unnamed option value"); // every enumerator has a name above
    };
}

// Sets `field` from its name; anything else: "<what> must be 'a', 'b' or 'c', got 'x'".
template<class E>
std::function<void(DetectorOptions&, const std::string&)> enum_set(E DetectorOptions::*field, const EnumNames<E>& names, const char* what)
{
    return [field, &names, what](DetectorOptions& o, const std::string& v) {
        std::string expected;
        for (size_t i = 0; i < names.size(); i++)
        {
            if (v == names[i].first)
            {
                o.*field = names[i].second;
                return;
            }
            expected += std::string(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + "'" + names[i].first + "'";
        }
        throw Error(std::string(what) + " must be " + expected + ", got '" + v + "'");
    };
}

// A view of a uint8 HxW / HxWxC array whose pixels are packed within each row; rows
// may be strided (crops of larger frames). Other layouts are the caller's to copy.
ImageView image_view(const py::array& a, const std::string& pixel_format)
{
    if (!py::isinstance<py::array_t<uint8_t> >(a) || a.dtype().kind() != 'u' || a.itemsize() != 1)
        throw Error("image must be a uint8 array, got dtype " + std::string(py::str(a.dtype())));
    ImageView v;
    std::string fmt = pixel_format;
    if (a.ndim() == 2)
    {
        if (fmt.empty())
            fmt = "gray";
    }
    else if (a.ndim() == 3 && (a.shape(2) == 3 || a.shape(2) == 4))
    {
        if (fmt.empty())
            fmt = a.shape(2) == 3 ? "bgr" : "bgra";
    }
    else
    {
        std::string shape;
        for (py::ssize_t i = 0; i < a.ndim(); i++)
            shape += (i ? "x" : "") + std::to_string(a.shape(i));
        throw Error("image must be HxW (gray), HxWx3 or HxWx4, got shape (" + shape + ")");
    }
    v.format = parse_pixel_format(fmt);
    const int channels = a.ndim() == 2 ? 1 : (int)a.shape(2);
    if (channels_of(v.format) != channels)
        throw Error("pixel_format '" + fmt + "' needs " + std::to_string(channels_of(v.format)) + " channels, the image has " + std::to_string(channels));
    v.height = (int)a.shape(0);
    v.width = (int)a.shape(1);
    if (v.width == 0 || v.height == 0)
        throw Error("image is empty (" + std::to_string(v.height) + "x" + std::to_string(v.width) + ")");
    const bool packed = a.strides(1) == channels && (a.ndim() == 2 || a.strides(2) == 1) && a.strides(0) >= (py::ssize_t)v.width * channels;
    if (!packed)
        throw Error("image pixels must be packed within rows (use numpy.ascontiguousarray)");
    v.stride = (int)a.strides(0);
    v.data = (const uint8_t*)a.data();
    return v;
}

py::array_t<float> to_array(const std::vector<float>& v, std::vector<py::ssize_t> shape)
{
    py::array_t<float> a(shape);
    if (!v.empty())
        std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
    return a;
}

py::dict timings_dict(const Timings& t)
{
    py::dict d;
    d["preprocess"] = t.preprocess_ms;
    d["inference"] = t.inference_ms;
    d["postprocess"] = t.postprocess_ms;
    return d;
}

py::tuple detect_result(const DetectResult& r)
{
    const py::ssize_t n = (py::ssize_t)r.faces.size();
    py::array_t<float> boxes({n, (py::ssize_t)4});
    py::array_t<float> scores({n});
    py::array_t<int32_t> labels({n});
    auto b = boxes.mutable_unchecked<2>();
    auto s = scores.mutable_unchecked<1>();
    auto c = labels.mutable_unchecked<1>();
    for (py::ssize_t i = 0; i < n; i++)
    {
        const Face& f = r.faces[i];
        b(i, 0) = f.x1;
        b(i, 1) = f.y1;
        b(i, 2) = f.x2;
        b(i, 3) = f.y2;
        s(i) = f.score;
        c(i) = f.label - 1; // score column -> index into the class names (column 0 is background)
    }
    py::object landmarks = py::none();
    if (r.num_landmarks > 0)
    {
        py::array_t<float> lm({n, (py::ssize_t)r.num_landmarks, (py::ssize_t)2});
        auto l = lm.mutable_unchecked<3>();
        for (py::ssize_t i = 0; i < n; i++)
            for (int k = 0; k < r.num_landmarks; k++)
            {
                l(i, k, 0) = r.faces[i].landmarks[2 * k];
                l(i, k, 1) = r.faces[i].landmarks[2 * k + 1];
            }
        landmarks = lm;
    }
    return py::make_tuple(boxes, scores, labels, landmarks, timings_dict(r.timings));
}

py::dict raw_result(const RawResult& r, int num_landmarks)
{
    py::dict d;
    d["scores"] = to_array(r.scores, {r.num_priors, r.num_classes});
    d["boxes"] = to_array(r.boxes, {r.num_priors, 4});
    d["landmarks"] = r.landmarks.empty() ? py::object(py::none()) : py::object(to_array(r.landmarks, {r.num_priors, 2 * num_landmarks}));
    d["timings_ms"] = timings_dict(r.timings);
    return d;
}

py::dict family_dict(const FamilySpec& f)
{
    py::dict d;
    d["name"] = f.name;
    d["description"] = f.description;
    d["pixel"] = f.pixel_order == PixelOrder::RGB ? "rgb" : "bgr";
    d["mean"] = std::vector<float>(f.mean, f.mean + 3);
    d["norm"] = std::vector<float>(f.norm, f.norm + 3);
    d["input_size"] = py::make_tuple(f.default_width, f.default_height);
    py::dict blobs;
    blobs["input"] = f.input_blob;
    blobs["scores"] = f.scores_blob;
    blobs["boxes"] = f.boxes_blob;
    if (!f.landmarks_blob.empty())
        blobs["landmarks"] = f.landmarks_blob;
    d["blobs"] = blobs;
    py::list levels;
    for (const auto& l : f.levels)
        levels.append(py::make_tuple(l.stride, l.min_sizes));
    d["levels"] = levels;
    d["cell_offset"] = f.cell_offset;
    d["clip_priors"] = f.clip_priors;
    d["center_variance"] = f.center_variance;
    d["size_variance"] = f.size_variance;
    d["num_landmarks"] = f.num_landmarks;
    d["size_multiple"] = f.size_multiple;
    d["pad_multiple"] = f.pad_multiple;
    return d;
}

const char* storage_name(WeightStorage s)
{
    switch (s)
    {
    case WeightStorage::Fp16: return "fp16";
    case WeightStorage::Bf16: return "bf16";
    case WeightStorage::Int8: return "int8";
    case WeightStorage::Table: return "table";
    default: return "fp32";
    }
}

// An ncnn .param (and, given its bytes, .bin) as plain Python data: per layer a dict
// of type, name, line, bottoms, tops, params [(key, text, value)] and, with a .bin,
// chunks [(what, tagged, offset, size, storage, float32 values)].
py::list ncnn_layers(const std::string& param_text, const std::string& param_name, const py::object& bin, const std::string& bin_name)
{
    const NcnnParamFile file = parse_param(param_text, param_name);
    std::vector<std::vector<WeightChunk> > chunks;
    std::string bin_bytes;
    if (!bin.is_none())
    {
        bin_bytes = bin.cast<std::string>();
        chunks = locate_weights(file, (const unsigned char*)bin_bytes.data(), bin_bytes.size(), bin_name);
    }
    py::list layers;
    for (size_t i = 0; i < file.layers.size(); i++)
    {
        const NcnnLayer& l = file.layers[i];
        py::dict d;
        d["type"] = l.type;
        d["name"] = l.name;
        d["line"] = l.line_no;
        d["bottoms"] = l.bottoms;
        d["tops"] = l.tops;
        py::list params;
        for (const NcnnParam& p : l.params)
        {
            py::object value = p.is_array ? py::object(py::cast(p.values))
                             : p.is_float ? py::object(py::float_(p.values[0])) : py::object(py::int_((long long)p.values[0]));
            params.append(py::make_tuple(p.key, p.text, value));
        }
        d["params"] = params;
        py::list layer_chunks;
        for (size_t k = 0; i < chunks.size() && k < chunks[i].size(); k++)
        {
            const WeightChunk& c = chunks[i][k];
            std::vector<float> values = decode_weights((const unsigned char*)bin_bytes.data(), c);
            layer_chunks.append(py::make_tuple(c.what, c.tagged, c.offset, c.size, storage_name(c.storage), to_array(values, {(py::ssize_t)values.size()})));
        }
        d["chunks"] = layer_chunks;
        layers.append(d);
    }
    return layers;
}

} // namespace

PYBIND11_MODULE(_core, m)
{
    m.doc() = "facedge C++ core (ncnn). Use facedge.Detector rather than this module.";

    // facedge::Error -> facedge.base.errors.FacedgeError (a ValueError)
    // leaked on purpose: a static py::object would be destroyed after the interpreter
    static PyObject* facedge_error = py::module_::import("facedge.base.errors").attr("FacedgeError").cast<py::object>().release().ptr();
    py::register_exception_translator([](std::exception_ptr p) {
        try
        {
            if (p)
                std::rethrow_exception(p);
        }
        catch (const Error& e)
        {
            PyErr_SetString(facedge_error, e.what());
        }
    });

    py::class_<DetectorOptions>(m, "DetectorOptions")
        .def(py::init<>())
        .def_readwrite("num_threads", &DetectorOptions::num_threads)
        .def_readwrite("input_width", &DetectorOptions::input_width)
        .def_readwrite("input_height", &DetectorOptions::input_height)
        .def_readwrite("score_threshold", &DetectorOptions::score_threshold)
        .def_readwrite("iou_threshold", &DetectorOptions::iou_threshold)
        .def_readwrite("top_k", &DetectorOptions::top_k)
        .def_property("nms", enum_get(&DetectorOptions::nms, kNmsNames), enum_set(&DetectorOptions::nms, kNmsNames, "nms"))
        .def_readwrite("class_agnostic_nms", &DetectorOptions::class_agnostic_nms)
        .def_property("resize", enum_get(&DetectorOptions::resize, kResizeNames), enum_set(&DetectorOptions::resize, kResizeNames, "resize"))
        .def_readwrite("use_fp16", &DetectorOptions::use_fp16)
        .def_property("bf16", enum_get(&DetectorOptions::bf16, kBf16Names), enum_set(&DetectorOptions::bf16, kBf16Names, "bf16"))
        .def_readwrite("use_int8", &DetectorOptions::use_int8)
        .def_readwrite("lightmode", &DetectorOptions::lightmode)
        .def_readwrite("openmp_blocktime_ms", &DetectorOptions::openmp_blocktime_ms);

    py::class_<ModelConfig>(m, "ModelConfig")
        .def(py::init<>())
        .def_static("defaults_for", &ModelConfig::defaults_for)
        .def_readwrite("family", &ModelConfig::family)
        .def_readwrite("input_width", &ModelConfig::input_width)
        .def_readwrite("input_height", &ModelConfig::input_height)
        .def_property("pixel", [](const ModelConfig& c) { return c.pixel_order == PixelOrder::RGB ? "rgb" : "bgr"; },
                      [](ModelConfig& c, const std::string& v) {
                          if (v == "rgb") c.pixel_order = PixelOrder::RGB;
                          else if (v == "bgr") c.pixel_order = PixelOrder::BGR;
                          else throw Error("pixel must be 'rgb' or 'bgr', got '" + v + "'");
                      })
        .def_property("mean", [](const ModelConfig& c) { return std::vector<float>(c.mean, c.mean + 3); },
                      [](ModelConfig& c, const std::vector<float>& v) {
                          if (v.size() != 3) throw Error("mean must have 3 values");
                          std::copy(v.begin(), v.end(), c.mean);
                      })
        .def_property("norm", [](const ModelConfig& c) { return std::vector<float>(c.norm, c.norm + 3); },
                      [](ModelConfig& c, const std::vector<float>& v) {
                          if (v.size() != 3) throw Error("norm must have 3 values");
                          std::copy(v.begin(), v.end(), c.norm);
                      })
        .def_readwrite("input_blob", &ModelConfig::input_blob)
        .def_readwrite("scores_blob", &ModelConfig::scores_blob)
        .def_readwrite("boxes_blob", &ModelConfig::boxes_blob)
        .def_readwrite("landmarks_blob", &ModelConfig::landmarks_blob)
        .def_readwrite("num_classes", &ModelConfig::num_classes);

    py::class_<Detector, std::shared_ptr<Detector> >(m, "Detector")
        .def(py::init([](const std::string& param, const std::string& bin, const ModelConfig& config, const DetectorOptions& options) {
                 py::gil_scoped_release release;
                 return std::make_shared<Detector>(param, bin, config, options);
             }),
             py::arg("param"), py::arg("bin"), py::arg("config"), py::arg("options"))
        .def("detect", [](const Detector& d, const py::array& image, const std::string& pixel_format, int w, int h) {
                 ImageView v = image_view(image, pixel_format);
                 DetectResult r;
                 {
                     py::gil_scoped_release release;
                     r = d.detect(v, w, h);
                 }
                 return detect_result(r);
             },
             py::arg("image"), py::arg("pixel_format") = "", py::arg("input_width") = 0, py::arg("input_height") = 0)
        .def("infer", [](const Detector& d, const py::array& image, const std::string& pixel_format, int w, int h) {
                 ImageView v = image_view(image, pixel_format);
                 RawResult r;
                 {
                     py::gil_scoped_release release;
                     r = d.infer(v, w, h);
                 }
                 return raw_result(r, d.family().num_landmarks);
             },
             py::arg("image"), py::arg("pixel_format") = "", py::arg("input_width") = 0, py::arg("input_height") = 0)
        .def("extract_blobs", [](const Detector& d, const py::array& image, const std::vector<std::string>& names, const std::string& pixel_format, int w, int h) {
                 ImageView v = image_view(image, pixel_format);
                 std::vector<Blob> blobs;
                 {
                     py::gil_scoped_release release;
                     blobs = d.extract_blobs(v, names, w, h);
                 }
                 py::dict out;
                 for (const Blob& b : blobs)
                 {
                     std::vector<py::ssize_t> shape;
                     if (b.dims >= 3) shape.push_back(b.c);
                     if (b.dims >= 2) shape.push_back(b.h);
                     shape.push_back(b.w);
                     out[py::str(b.name)] = to_array(b.data, shape);
                 }
                 return out;
             },
             py::arg("image"), py::arg("names"), py::arg("pixel_format") = "", py::arg("input_width") = 0, py::arg("input_height") = 0)
        .def_property_readonly("blob_names", [](const Detector& d) { return d.blob_names(); })
        .def("infer_normalized", [](const Detector& d, py::array_t<float, py::array::c_style | py::array::forcecast> chw) {
                 if (chw.ndim() != 3 || chw.shape(0) != 3)
                     throw Error("infer_normalized expects a 3xHxW float32 array");
                 const int h = (int)chw.shape(1), w = (int)chw.shape(2);
                 RawResult r;
                 {
                     py::gil_scoped_release release;
                     r = d.infer_normalized(chw.data(), w, h);
                 }
                 return raw_result(r, d.family().num_landmarks);
             },
             py::arg("chw"))
        .def_property_readonly("family", [](const Detector& d) { return d.family().name; })
        .def_property_readonly("config", [](const Detector& d) { return d.config(); })
        .def_property_readonly("options", [](const Detector& d) { return d.options(); })
        .def_property_readonly("layer_types", [](const Detector& d) { return d.layer_types(); })
        .def_property_readonly("int8_layer_count", &Detector::int8_layer_count)
        .def_property_readonly("float_storage", [](const Detector& d) { return float_storage_name(d.float_storage()); })
        .def_property_readonly("num_score_columns", &Detector::num_score_columns);

    m.def("build_info", [] {
        // ncnn's CPU kernel variants: compiled into this build, supported by this CPU,
        // and so run here (what `facedge bench` records and the int8 notes rely on)
        py::dict d;
        d["ncnn"] = ncnn_version();
        py::list kernels;
        for (const KernelVariant& k : kernel_variants())
        {
            py::dict e;
            e["variant"] = k.name;
            e["compiled"] = k.compiled;
            e["cpu"] = k.cpu;
            e["runs"] = k.runs();
            kernels.append(e);
        }
        d["kernels"] = kernels;
        d["bf16"] = ncnn_has_bf16(); // ncnn built with NCNN_BF16 (bf16 storage kernels)
        return d;
    });
    m.def("ncnn_layers", &ncnn_layers, py::arg("param_text"), py::arg("param_name"), py::arg("bin") = py::none(), py::arg("bin_name") = "");
    m.def("family_names", &family_names);
    m.def("family_info", [](const std::string& name) { return family_dict(find_family(name)); }, py::arg("name"));
    m.def("generate_priors", [](const std::string& family, int w, int h) {
        if (w <= 0 || h <= 0)
            throw Error("input size must be positive");
        std::vector<Prior> p = generate_priors(find_family(family), w, h);
        py::array_t<float> a({(py::ssize_t)p.size(), (py::ssize_t)4});
        if (!p.empty())
            std::memcpy(a.mutable_data(), p.data(), p.size() * sizeof(Prior));
        return a;
    }, py::arg("family"), py::arg("width"), py::arg("height"));
}
