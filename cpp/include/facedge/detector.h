// The face detector: pixels in, faces out, all in one call.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facedge/decode.h"
#include "facedge/family.h"
#include "facedge/float_storage.h"
#include "facedge/image.h"
#include "facedge/inference_thread.h"
#include "facedge/model_check.h"
#include "facedge/nms.h"
#include "facedge/priors.h"
#include "facedge/resample.h"

namespace ncnn {
class Net;
class Mat;
class PoolAllocator;
class UnlockedPoolAllocator;
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
    // NMS within each class (default, as a multi-class SSD's own predictor) or across
    // all classes at once (one box per head whatever its class).
    bool class_agnostic_nms = false;
    // How frames are resampled to the input size (resample.h): area filtering for
    // large downscales (Auto), or always bilinear / always area.
    ResizeFilter resize = ResizeFilter::Auto;
    bool use_fp16 = true;  // fp16 storage/packing (and arithmetic where the CPU has it)
    // bfloat16 storage of float blobs and weights, fp32 arithmetic (float_storage.h).
    // Where fp16 storage runs (use_fp16 on an armv8.2 CPU such as a Pi 5's) ncnn
    // prefers it, and bf16 is not asked for; Detector::float_storage() says which runs.
    Bf16Mode bf16 = Bf16Mode::Off;
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
    // Face classes the model's facedge.json names (the scores output has one column
    // more, background); 0: whatever the model has. Checked when the model loads.
    int num_classes = 0;

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

struct NetOutputs; // the network's output tensors of one call (detector.cpp)

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

    // Thread-safe: concurrent calls share the network and the prior cache. Their
    // inferences run one at a time on the Detector's inference thread (see
    // inference_thread.h), so a Detector never has more than num_threads threads
    // busy; decoding runs on the callers' threads, and so does preprocessing while
    // other calls are in progress. A call that is the only one in progress (a single
    // caller) has its preprocessing done on the inference thread instead, split by
    // output rows over the Detector's OpenMP team (the same bytes, num_threads threads).
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
    // How ncnn stores this network's float blobs and weights on this CPU (the int8
    // layers of an int8 model aside): decided from the options when the model loads.
    FloatStorage float_storage() const { return float_storage_; }
    // Columns of the scores output: background + face classes.
    int num_score_columns() const { return num_score_columns_; }

private:
    void input_size_for_call(int& w, int& h, int override_w, int override_h) const;
    std::shared_ptr<const std::vector<Prior> > priors_for(int w, int h) const;
    // Runs network(in) on the inference thread. With an image, `in` is first made from
    // it (prepare_input; timings.preprocess_ms): inside the same job, on the Detector's
    // OpenMP team, when num_threads > 1, this is the only call in progress and the
    // inference thread is idle; otherwise on the caller's thread alone, concurrently
    // with the other calls. Without
    // one, `in` is the network input as given.
    void on_inference_thread(const ImageView* image, int w, int h, ncnn::Mat& in, Timings& timings,
                             const std::function<void(const ncnn::Mat&)>& network) const;
    // Inference (after preprocessing `image` into `input`, if given: on_inference_thread);
    // returns the output tensors (no copies) and checks their shapes against the priors.
    void run_network(const ImageView* image, int w, int h, ncnn::Mat& input, NetOutputs& out, Timings& timings) const;
    RawResult copy_raw(const NetOutputs& out) const;
    // resized, normalized and (for a padding family) padded network input, its rows
    // split among `threads` threads of the calling thread's OpenMP team
    void prepare_input(const ImageView& image, int w, int h, ncnn::Mat& in, int threads) const;

    FamilySpec family_;
    ModelConfig config_;
    DetectorOptions options_;
    // Input tensors are recycled between calls instead of allocated (about 1 MB at
    // 320x240). ncnn's PoolAllocator is thread-safe.
    std::unique_ptr<ncnn::PoolAllocator> input_allocator_;
    // ncnn's blobs and scratch memory. Ours rather than the Net's own pools: ncnn
    // clones every output taken from its own pool, and outputs from this one are
    // decoded in place. Scratch is used by the inference thread only, so unlocked.
    std::unique_ptr<ncnn::PoolAllocator> blob_allocator_;
    std::unique_ptr<ncnn::UnlockedPoolAllocator> workspace_allocator_;
    std::unique_ptr<ncnn::Net> net_; // after the allocators: destroyed before them
    std::vector<unsigned char> bin_data_; // ncnn references fp32 weights in place
    ModelCheckResult model_check_;
    std::vector<std::string> layer_types_;
    int int8_layer_count_ = 0;
    FloatStorage float_storage_ = FloatStorage::Fp32;
    bool bf16_input_ = false; // prepare_input makes bf16 planes (takes_bf16_input in detector.cpp)
    int num_score_columns_ = 0;
    std::unique_ptr<InferenceThread> inference_thread_;
    mutable std::atomic<int> calls_{0}; // detect/infer/extract_blobs calls in progress
    mutable std::mutex priors_mutex_;
    mutable std::map<std::pair<int, int>, std::shared_ptr<const std::vector<Prior> > > priors_cache_;
};

} // namespace facedge
