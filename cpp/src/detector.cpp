#include "facedge/detector.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "facedge/error.h"
#include "facedge/model_check.h"
#include "facedge/preprocess.h"

#include "allocator.h"
#include "blob.h"
#include "datareader.h"
#include "layer.h"
#include "cpu.h"
#include "net.h"

namespace facedge {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string read_file(const std::string& path, const char* what)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw Error(path + ": cannot open " + what + " (no such file, or not readable)");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f.good() && !f.eof())
        throw Error(path + ": error while reading " + what);
    return ss.str();
}

// ncnn's own memory reader has no length; this one stops at the end of the buffer,
// so a .bin that is shorter than its .param needs fails instead of reading past it.
class BoundedMemoryReader : public ncnn::DataReader
{
public:
    BoundedMemoryReader(const unsigned char* data, size_t size)
        : data_(data), size_(size)
    {
    }
    size_t read(void* buf, size_t size) const override
    {
        if (size > size_ - pos_)
            size = size_ - pos_;
        std::memcpy(buf, data_ + pos_, size);
        pos_ += size;
        return size;
    }
    size_t reference(size_t size, const void** buf) const override
    {
        if (size > size_ - pos_)
            return 0;
        *buf = data_ + pos_;
        pos_ += size;
        return size;
    }

private:
    const unsigned char* data_;
    size_t size_;
    mutable size_t pos_ = 0;
};

void check_options(const DetectorOptions& o)
{
    if (o.num_threads < 1)
        throw Error("threads must be at least 1, got " + std::to_string(o.num_threads));
    if (o.input_width < 0 || o.input_height < 0 || (o.input_width == 0) != (o.input_height == 0))
        throw Error("input_size must be two positive numbers (width, height), got " + std::to_string(o.input_width) + "x" + std::to_string(o.input_height));
    if (!(o.score_threshold > 0.f && o.score_threshold < 1.f))
        throw Error("score_threshold must be between 0 and 1 (exclusive), got " + std::to_string(o.score_threshold));
    if (!(o.iou_threshold > 0.f && o.iou_threshold <= 1.f))
        throw Error("iou_threshold must be in (0, 1], got " + std::to_string(o.iou_threshold));
    if (o.openmp_blocktime_ms < 0 || o.openmp_blocktime_ms > 400)
        throw Error("openmp_blocktime_ms must be 0..400, got " + std::to_string(o.openmp_blocktime_ms));
}

const float* mat_rows(const ncnn::Mat& m, int rows, int cols, const std::string& blob, const std::string& family)
{
    // ncnn drops the batch axis: [1, N, C] arrives as w=C, h=N (dims 2), or c=1 (dims 3)
    const bool ok = (m.dims == 2 && m.w == cols && m.h == rows) || (m.dims == 3 && m.c == 1 && m.w == cols && m.h == rows);
    if (!ok || m.elemsize != 4 || m.elempack != 1)
        throw Error("model output '" + blob + "' has shape (dims=" + std::to_string(m.dims) + " w=" + std::to_string(m.w) + " h=" + std::to_string(m.h)
                    + " c=" + std::to_string(m.c) + "), expected " + std::to_string(rows) + " rows of " + std::to_string(cols)
                    + " (one per prior of family " + family + " at this input size)");
    return (const float*)m.data;
}

// With bf16 storage every layer's output is bf16, the network's outputs too: scores
// would come in steps of 2^-8 near 1, and many faces would tie at 0.996 or 1.0 (NMS
// and WIDER's ranking then order them arbitrarily). The layers between the last
// weighted layers and the outputs (softmax, sigmoid, concat, reshape, ...) work on a
// few thousand values per frame: they are told to take fp32 input, so ncnn casts the
// bf16 logits up before them (net.cpp convert_layout) and they compute and give fp32.
void keep_output_tail_fp32(ncnn::Net& net, std::initializer_list<std::string> outputs)
{
    static const std::set<std::string> tail_types = {"Softmax", "Sigmoid", "Concat", "Reshape", "Permute", "Flatten",
                                                     "BinaryOp", "UnaryOp", "Eltwise", "Exp", "Power", "Noop",
                                                     "Crop", "Squeeze", "ExpandDims"};
    const std::vector<ncnn::Blob>& blobs = net.blobs();
    std::vector<ncnn::Layer*>& layers = net.mutable_layers();
    std::vector<int> todo;
    for (const std::string& name : outputs)
        for (size_t b = 0; b < blobs.size(); b++)
            if (!name.empty() && blobs[b].name == name)
                todo.push_back((int)b);
    std::set<int> seen;
    while (!todo.empty())
    {
        const int b = todo.back();
        todo.pop_back();
        const int producer = blobs[b].producer;
        if (producer < 0 || !seen.insert(producer).second || !tail_types.count(layers[producer]->type))
            continue;
        layers[producer]->support_bf16_storage = false;
        for (int bottom : layers[producer]->bottoms)
            todo.push_back(bottom);
    }
}

// Whether the network input may be made in bf16 by facedge itself (resize_normalize's
// bf16): exactly where ncnn would cast the fp32 input to bf16 before its first layers
// anyway (net.cpp convert_layout: bf16 storage on, every layer reading the input takes
// bf16), and where ncnn's cast rounds as facedge's does, (bits + 0x8000) >> 16: not on
// CPUs with Arm's bf16 instructions, whose conversion rounds ties to even. The same
// bytes reach the network; the cast's pass over the input (a read of the fp32 planes
// and a write of the bf16 ones) and half of the input's writes are saved.
bool takes_bf16_input(const ncnn::Net& net, const std::string& input_blob, FloatStorage storage)
{
    if (storage != FloatStorage::Bf16 || ncnn::cpu_support_arm_bf16())
        return false;
    const std::vector<ncnn::Blob>& blobs = net.blobs();
    bool read = false;
    for (const ncnn::Layer* layer : net.layers())
        for (int bottom : layer->bottoms)
            if (blobs[bottom].name == input_blob)
            {
                if (!layer->support_bf16_storage || (layer->featmask & (1 << 2)))
                    return false;
                read = true;
            }
    return read;
}

// Counts a call in progress for as long as it lives.
struct CallCount
{
    explicit CallCount(std::atomic<int>& n)
        : n_(n)
    {
        n_++;
    }
    ~CallCount() { n_--; }
    std::atomic<int>& n_;
};

} // namespace

// The output tensors of one inference, held (not copied) until decoded. `scores`
// etc. point into them: n rows of `classes` / 4 / 2K floats.
struct NetOutputs
{
    ncnn::Mat scores_mat, boxes_mat, landmarks_mat;
    RawOutputs view;
};

ModelConfig ModelConfig::defaults_for(const std::string& family_name)
{
    const FamilySpec& f = find_family(family_name);
    ModelConfig c;
    c.family = f.name;
    c.input_width = f.default_width;
    c.input_height = f.default_height;
    c.pixel_order = f.pixel_order;
    for (int i = 0; i < 3; i++)
    {
        c.mean[i] = f.mean[i];
        c.norm[i] = f.norm[i];
    }
    c.input_blob = f.input_blob;
    c.scores_blob = f.scores_blob;
    c.boxes_blob = f.boxes_blob;
    c.landmarks_blob = f.landmarks_blob;
    return c;
}

Detector::Detector(const std::string& param_path, const std::string& bin_path, const ModelConfig& config, const DetectorOptions& options)
    : family_(find_family(config.family)), config_(config), options_(options)
{
    check_options(options_);
    if (config_.input_width <= 0 || config_.input_height <= 0)
        throw Error("model input size must be positive, got " + std::to_string(config_.input_width) + "x" + std::to_string(config_.input_height));
    for (int i = 0; i < 3; i++)
        if (!std::isfinite(config_.mean[i]) || !std::isfinite(config_.norm[i]))
            throw Error("model mean/norm must be finite numbers");
    if (config_.input_blob.empty() || config_.scores_blob.empty() || config_.boxes_blob.empty())
        throw Error("model input/scores/boxes blob names must not be empty");
    if (config_.num_classes < 0)
        throw Error("the number of face classes must be positive (0: the model's), got " + std::to_string(config_.num_classes));
    if (!config_.landmarks_blob.empty() && family_.num_landmarks == 0)
        throw Error("family " + family_.name + " has no landmarks, but a landmarks output '" + config_.landmarks_blob + "' was given");

    const std::string param_text = read_file(param_path, "ncnn .param");
    const std::string bin_text = read_file(bin_path, "ncnn .bin");
    bin_data_.assign(bin_text.begin(), bin_text.end());
    ModelCheckResult check = check_model(param_text, param_path, bin_data_.data(), bin_data_.size(), bin_path, config_.input_blob, 3);
    for (const std::string* blob : {&config_.scores_blob, &config_.boxes_blob, &config_.landmarks_blob})
    {
        if (blob->empty())
            continue;
        bool found = false;
        for (const auto& name : check.blob_names)
            found = found || name == *blob;
        if (!found)
            throw Error(param_path + ": has no blob named '" + *blob + "' (the model's outputs do not match facedge.json / the family's names)");
    }
    model_check_ = check;
    layer_types_ = check.layer_types;
    int8_layer_count_ = check.int8_layer_count;

    input_allocator_.reset(new ncnn::PoolAllocator());
    blob_allocator_.reset(new ncnn::PoolAllocator());
    workspace_allocator_.reset(new ncnn::UnlockedPoolAllocator());
    net_.reset(new ncnn::Net());
    ncnn::Option& opt = net_->opt;
    opt.blob_allocator = blob_allocator_.get();
    opt.workspace_allocator = workspace_allocator_.get();
    opt.num_threads = options_.num_threads;
    opt.lightmode = options_.lightmode;
    opt.use_fp16_storage = options_.use_fp16;
    opt.use_fp16_packed = options_.use_fp16;
    opt.use_fp16_arithmetic = options_.use_fp16;
    // bf16 asked of ncnn only where it is what runs: beside fp16 storage on an fp16 CPU,
    // a layer with bf16 kernels but none for fp16 would take bf16 blobs (net.cpp's
    // convert_layout) between fp16 ones, so one storage runs throughout instead.
    float_storage_ = float_storage_for(options_.use_fp16, options_.bf16);
    opt.use_bf16_storage = float_storage_ == FloatStorage::Bf16;
    opt.use_int8_inference = options_.use_int8;
    opt.openmp_blocktime = options_.openmp_blocktime_ms;
    opt.use_vulkan_compute = false;

    // Loaded on the inference thread: ncnn prepares the weights in OpenMP regions of
    // `threads`, and GCC's OpenMP keeps a team of workers for every thread that started
    // one. Loaded on the caller's thread, that second team stayed for the Detector's
    // lifetime beside the inference thread's, and with more OpenMP threads than cores
    // libgomp stops spinning between regions: every region then waited for a sleeping
    // worker to wake (RFB-320 at threads=2 on 2 x86 cores: 9.6 ms median per detect()
    // against 2.9 ms with one team, and 3.5 ms at threads=1).
    inference_thread_.reset(new InferenceThread(options_.num_threads == 1));
    inference_thread_->run([&] {
        if (net_->load_param_mem(param_text.c_str()) != 0)
            throw Error(param_path + ": ncnn rejected the .param (see ncnn's message above)");
        if (float_storage_ == FloatStorage::Bf16)
            keep_output_tail_fp32(*net_, {config_.scores_blob, config_.boxes_blob, config_.landmarks_blob});
        BoundedMemoryReader reader(bin_data_.data(), bin_data_.size());
        if (net_->load_model(reader) != 0)
            throw Error(bin_path + ": ncnn could not load the weights (see ncnn's message above)");
    });

    bf16_input_ = takes_bf16_input(*net_, config_.input_blob, float_storage_);

    // The default input size: valid for the family, and the graph runs at it. One
    // inference of a blank input tells the class count (and warms ncnn's pools).
    int w = 0, h = 0;
    input_size_for_call(w, h, 0, 0);
    priors_for(w, h);
    int nw = 0, nh = 0;
    network_size(family_, w, h, nw, nh); // the padded size, for families that pad
    ncnn::Mat blank(nw, nh, 3);
    blank.fill(0.f);
    NetOutputs probe;
    Timings unused;
    run_network(nullptr, w, h, blank, probe, unused);
    num_score_columns_ = probe.view.num_classes;
    if (config_.num_classes && config_.num_classes + 1 != num_score_columns_)
        throw Error(param_path + ": the scores output '" + config_.scores_blob + "' has " + std::to_string(num_score_columns_)
                    + " columns (background + " + std::to_string(num_score_columns_ - 1) + " face classes), but the model's class names list "
                    + std::to_string(config_.num_classes) + " (facedge.json 'class_names')");
}

Detector::~Detector() = default;

void Detector::prepare_input(const ImageView& image, int w, int h, ncnn::Mat& in, int threads) const
{
    int nw = 0, nh = 0;
    network_size(family_, w, h, nw, nh); // the padded size, for families that pad
    resize_normalize(image, config_.pixel_order, config_.mean, config_.norm, w, h, in, input_allocator_.get(), options_.resize, threads, nw, nh,
                     bf16_input_);
}

void Detector::input_size_for_call(int& w, int& h, int override_w, int override_h) const
{
    if (override_w || override_h)
    {
        w = override_w;
        h = override_h;
    }
    else if (options_.input_width)
    {
        w = options_.input_width;
        h = options_.input_height;
    }
    else
    {
        w = config_.input_width;
        h = config_.input_height;
    }
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    if (w <= 0 || h <= 0 || w > 8192 || h > 8192)
        throw Error("input size " + size + " out of range (1..8192 each)");
    const int m = family_.size_multiple;
    if (w % m || h % m)
    {
        // the valid sizes around it: each side rounded down and up to the multiple
        std::vector<std::string> sizes;
        for (int vw : {w / m * m, (w + m - 1) / m * m})
            for (int vh : {h / m * m, (h + m - 1) / m * m})
            {
                const std::string s = std::to_string(vw) + "x" + std::to_string(vh);
                if (vw > 0 && vh > 0 && std::find(sizes.begin(), sizes.end(), s) == sizes.end())
                    sizes.push_back(s);
            }
        std::string nearest;
        for (const auto& s : sizes)
            nearest += (nearest.empty() ? "" : ", ") + s;
        throw Error("input size " + size + " is not a multiple of " + std::to_string(m) + ", which family " + family_.name + " needs; nearest valid: " + nearest);
    }
}

std::shared_ptr<const std::vector<Prior> > Detector::priors_for(int w, int h) const
{
    std::lock_guard<std::mutex> lock(priors_mutex_);
    auto& slot = priors_cache_[std::make_pair(w, h)];
    if (!slot)
    {
        // First use of this input size: make sure ncnn can run the graph at it (the
        // padded size, for families that pad).
        int nw = 0, nh = 0;
        network_size(family_, w, h, nw, nh);
        check_shapes(model_check_, config_.input_blob, nw, nh, 3);
        slot = std::make_shared<const std::vector<Prior> >(generate_priors(family_, w, h));
    }
    return slot;
}

void Detector::on_inference_thread(const ImageView* image, int w, int h, ncnn::Mat& in, Timings& timings,
                                   const std::function<void(const ncnn::Mat&)>& network) const
{
    if (image && options_.num_threads > 1 && calls_.load() == 1 && inference_thread_->idle())
    {
        // This is the Detector's only call in progress and nothing runs on the
        // inference thread (one caller: a camera loop, a benchmark): the preprocessing
        // joins the inference job and runs on the Detector's OpenMP team, split by
        // output rows, instead of on the caller's thread alone while the team sleeps.
        inference_thread_->run([&] {
            const auto t0 = Clock::now();
            prepare_input(*image, w, h, in, options_.num_threads);
            timings.preprocess_ms = ms_since(t0);
            network(in);
        });
        return;
    }
    if (image)
    {
        // Other calls are in progress (inferring, waiting, or decoding and about to
        // come back): preprocess here, on the caller's thread, concurrently with them,
        // as the team has their inferences to run.
        const auto t0 = Clock::now();
        prepare_input(*image, w, h, in, 1);
        timings.preprocess_ms = ms_since(t0);
    }
    inference_thread_->run([&] { network(in); });
}

void Detector::run_network(const ImageView* image, int w, int h, ncnn::Mat& input, NetOutputs& out, Timings& timings) const
{
    const auto priors = priors_for(w, h);
    const int n = (int)priors->size();

    bool failed = false;
    on_inference_thread(image, w, h, input, timings, [&](const ncnn::Mat& in) {
        const auto t0 = Clock::now();
        ncnn::Extractor ex = net_->create_extractor();
        ex.set_light_mode(options_.lightmode);
        if (ex.input(config_.input_blob.c_str(), in) != 0)
            throw Error("ncnn rejected the input blob '" + config_.input_blob + "'");
        failed = ex.extract(config_.scores_blob.c_str(), out.scores_mat) != 0 || ex.extract(config_.boxes_blob.c_str(), out.boxes_mat) != 0
                 || (!config_.landmarks_blob.empty() && ex.extract(config_.landmarks_blob.c_str(), out.landmarks_mat) != 0);
        timings.inference_ms = ms_since(t0);
    });
    if (failed)
        throw Error("ncnn inference failed at input size " + std::to_string(w) + "x" + std::to_string(h) + " (see ncnn's message above)");

    const int classes = out.scores_mat.w;
    if (classes < 2)
        throw Error("model output '" + config_.scores_blob + "' has " + std::to_string(classes) + " columns, expected background + face scores");
    if (num_score_columns_ && classes != num_score_columns_)
        throw Error("model output '" + config_.scores_blob + "' has " + std::to_string(classes) + " columns at input size " + std::to_string(w) + "x"
                    + std::to_string(h) + ", " + std::to_string(num_score_columns_) + " at the model's own");
    out.view.num_priors = n;
    out.view.num_classes = classes;
    out.view.scores = mat_rows(out.scores_mat, n, classes, config_.scores_blob, family_.name);
    out.view.boxes = mat_rows(out.boxes_mat, n, 4, config_.boxes_blob, family_.name);
    out.view.landmarks = config_.landmarks_blob.empty()
                             ? nullptr
                             : mat_rows(out.landmarks_mat, n, 2 * family_.num_landmarks, config_.landmarks_blob, family_.name);
}

RawResult Detector::copy_raw(const NetOutputs& out) const
{
    RawResult r;
    const RawOutputs& v = out.view;
    r.num_priors = v.num_priors;
    r.num_classes = v.num_classes;
    r.scores.assign(v.scores, v.scores + (size_t)v.num_priors * v.num_classes);
    r.boxes.assign(v.boxes, v.boxes + (size_t)v.num_priors * 4);
    if (v.landmarks)
        r.landmarks.assign(v.landmarks, v.landmarks + (size_t)v.num_priors * 2 * family_.num_landmarks);
    return r;
}

RawResult Detector::infer(const ImageView& image, int input_width, int input_height) const
{
    const CallCount counted(calls_);
    check_image(image);
    int w, h;
    input_size_for_call(w, h, input_width, input_height);
    Timings timings;
    ncnn::Mat in;
    NetOutputs net;
    run_network(&image, w, h, in, net, timings);
    RawResult out = copy_raw(net);
    out.timings = timings;
    return out;
}

RawResult Detector::infer_normalized(const float* chw, int input_width, int input_height) const
{
    int w, h;
    input_size_for_call(w, h, input_width, input_height);
    ncnn::Mat in(w, h, 3);
    for (int c = 0; c < 3; c++)
        std::memcpy(in.channel(c), chw + (size_t)c * w * h, sizeof(float) * w * h);
    int nw = 0, nh = 0;
    network_size(family_, w, h, nw, nh);
    pad_bottom_right(in, nw, nh, config_.mean, config_.norm);
    NetOutputs net;
    Timings timings;
    run_network(nullptr, w, h, in, net, timings);
    RawResult out = copy_raw(net);
    out.timings = timings;
    return out;
}

std::vector<Blob> Detector::extract_blobs(const ImageView& image, const std::vector<std::string>& names, int input_width, int input_height) const
{
    const CallCount counted(calls_);
    check_image(image);
    int w, h;
    input_size_for_call(w, h, input_width, input_height);
    for (const std::string& name : names)
        if (std::find(model_check_.blob_names.begin(), model_check_.blob_names.end(), name) == model_check_.blob_names.end())
            throw Error("the model has no blob named '" + name + "'");
    priors_for(w, h); // the shape check at this size, before any work
    ncnn::Mat in;
    std::vector<ncnn::Mat> mats(names.size());
    Timings unused;
    on_inference_thread(&image, w, h, in, unused, [&](const ncnn::Mat& input) {
        ncnn::Extractor ex = net_->create_extractor();
        ex.set_light_mode(false); // keep every blob: several may be asked for
        if (ex.input(config_.input_blob.c_str(), input) != 0)
            throw Error("ncnn rejected the input blob '" + config_.input_blob + "'");
        for (size_t k = 0; k < names.size(); k++)
            if (ex.extract(names[k].c_str(), mats[k]) != 0)
                throw Error("ncnn could not compute blob '" + names[k] + "'");
    });
    std::vector<Blob> blobs;
    for (size_t k = 0; k < names.size(); k++)
    {
        const std::string& name = names[k];
        const ncnn::Mat& m = mats[k];
        Blob b;
        b.name = name;
        b.dims = m.dims;
        b.w = m.w;
        b.h = m.h;
        b.c = m.c;
        b.data.resize((size_t)m.w * m.h * m.c);
        for (int q = 0; q < m.c; q++)
            std::memcpy(b.data.data() + (size_t)q * m.w * m.h, m.channel(q), sizeof(float) * m.w * m.h);
        blobs.push_back(std::move(b));
    }
    return blobs;
}

DetectResult Detector::detect(const ImageView& image, int input_width, int input_height) const
{
    const CallCount counted(calls_);
    check_image(image);
    int w, h;
    input_size_for_call(w, h, input_width, input_height);
    DetectResult result;

    ncnn::Mat in;
    NetOutputs net;
    run_network(&image, w, h, in, net, result.timings);
    in.release(); // back to the pool before decoding

    const auto t0 = Clock::now();
    const auto priors = priors_for(w, h);
    result.num_landmarks = net.view.landmarks ? family_.num_landmarks : 0;
    std::vector<Face> candidates = decode_faces(family_, *priors, net.view, options_.score_threshold, image.width, image.height);
    result.faces = nms(candidates, options_.nms, options_.iou_threshold, options_.top_k, result.num_landmarks, !options_.class_agnostic_nms);
    result.timings.postprocess_ms = ms_since(t0);
    return result;
}

} // namespace facedge
