// The face detector: pixels in, faces out, all in one call.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facedge/decode.h"
#include "facedge/family.h"
#include "facedge/image.h"
#include "facedge/model_check.h"
#include "facedge/nms.h"
#include "facedge/priors.h"

namespace ncnn {
class Net;
class Mat;
class PoolAllocator;
}

namespace facedge {

struct DetectorOptions
{
    int num_threads = 1;
    int input_width = 0;  // 0: the model's own input size
    int input_height = 0;
    float score_threshold = 0.6f;
    float iou_threshold = 0.3f;
    int top_k = 750;      // most faces returned per image; <= 0: no limit
    NmsKind nms = NmsKind::Hard;
    bool use_fp16 = true;  // fp16 storage/packing (and arithmetic where the CPU has it)
    bool use_int8 = true;  // run int8 layers of an int8 model as int8 (else float)
    bool lightmode = true; // free intermediate blobs as soon as they are consumed
    // Spin time of idle OpenMP threads before they sleep. Only LLVM's OpenMP honours
    // it; with GCC's libgomp set OMP_WAIT_POLICY in the environment instead.
    int openmp_blocktime_ms = 20;
};

// What the runtime needs to know about a model besides its ncnn files (facedge.json).
struct ModelConfig
{
    std::string family;
    int input_width = 0;  // the size the model was converted for
    int input_height = 0;
    PixelOrder pixel_order = PixelOrder::RGB;
    float mean[3] = {0.f, 0.f, 0.f};
    float norm[3] = {1.f, 1.f, 1.f};
    std::string input_blob;
    std::string scores_blob;
    std::string boxes_blob;
    std::string landmarks_blob; // empty: no landmarks

    // The family's defaults (bare ncnn files such as the upstream ULFD models).
    static ModelConfig defaults_for(const std::string& family);
};

struct Timings
{
    double preprocess_ms = 0;
    double inference_ms = 0;
    double postprocess_ms = 0;
};

struct DetectResult
{
    std::vector<Face> faces;
    int num_landmarks = 0;
    Timings timings;
};

// Raw network outputs for one input, for tests, calibration and benchmarks.
// A named intermediate blob: shape as ncnn holds it (dims 1..3: w, h, c) and values.
struct Blob
{
    std::string name;
    int dims = 0, w = 0, h = 0, c = 0;
    std::vector<float> data; // c x h x w, row-major
};

struct RawResult
{
    int num_priors = 0;
    int num_classes = 0;
    std::vector<float> scores, boxes, landmarks;
    Timings timings;
};

class Detector
{
public:
    // Validates the files (check_model) and the configuration, then loads them into
    // ncnn. Throws facedge::Error on any problem.
    Detector(const std::string& param_path, const std::string& bin_path, const ModelConfig& config,
             const DetectorOptions& options);
    ~Detector();
    Detector(const Detector&) = delete;
    Detector& operator=(const Detector&) = delete;

    // Thread-safe: concurrent calls share the network and the prior cache.
    // input_width/height override the input size for this call (0: the options').
    DetectResult detect(const ImageView& image, int input_width = 0, int input_height = 0) const;

    // Preprocess + inference only: the raw outputs the decoder would see.
    RawResult infer(const ImageView& image, int input_width = 0, int input_height = 0) const;

    // Any blobs of the network for this image, after facedge's own preprocessing
    // (what int8 calibration measures). Unknown names throw facedge::Error.
    std::vector<Blob> extract_blobs(const ImageView& image, const std::vector<std::string>& names, int input_width = 0,
                                    int input_height = 0) const;

    // Bare ncnn inference of an already normalized CHW float input (3 x h x w),
    // for measuring what facedge adds on top of ncnn.
    RawResult infer_normalized(const float* chw, int input_width, int input_height) const;

    const FamilySpec& family() const { return family_; }
    const ModelConfig& config() const { return config_; }
    const DetectorOptions& options() const { return options_; }
    // The layer types of the loaded network (file order) and which of them hold
    // int8 weights; lets callers show that an int8 model really runs int8 layers.
    const std::vector<std::string>& layer_types() const { return layer_types_; }
    const std::vector<std::string>& blob_names() const { return model_check_.blob_names; }
    int int8_layer_count() const { return int8_layer_count_; }

private:
    void input_size_for_call(int& w, int& h, int override_w, int override_h) const;
    std::shared_ptr<const std::vector<Prior> > priors_for(int w, int h) const;
    void run_network(const ncnn::Mat& input, int w, int h, RawResult& out, bool copy) const;
    // resized, normalized and (for a padding family) padded network input
    void prepare_input(const ImageView& image, int w, int h, ncnn::Mat& in) const;

    FamilySpec family_;
    ModelConfig config_;
    DetectorOptions options_;
    std::unique_ptr<ncnn::Net> net_;
    std::vector<unsigned char> bin_data_; // ncnn references fp32 weights in place
    // Input tensors are recycled between calls instead of allocated (about 1 MB at
    // 320x240). ncnn's PoolAllocator is thread-safe.
    std::unique_ptr<ncnn::PoolAllocator> input_allocator_;
    ModelCheckResult model_check_;
    std::string param_name_;
    std::vector<std::string> layer_types_;
    int int8_layer_count_ = 0;
    mutable std::mutex priors_mutex_;
    mutable std::map<std::pair<int, int>, std::shared_ptr<const std::vector<Prior> > > priors_cache_;
};

} // namespace facedge
