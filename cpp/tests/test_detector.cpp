// End-to-end checks of Detector on the upstream ULFD ncnn model (shared data);
// skipped (SKIP, reported as skips) where the shared folder is absent.
#include <fstream>
#include <thread>

#include "facedge/detector.h"
#include "facedge/error.h"
#include "test.h"

using namespace facedge;

static void reference_model(std::string& param, std::string& bin)
{
    const std::string shared = facedge_test::shared_dir();
    if (shared.empty())
        SKIP("no shared data; set FACEDGE_SHARED");
    param = shared + "/reference/ultraface-ncnn/RFB-320.param";
    bin = shared + "/reference/ultraface-ncnn/RFB-320.bin";
    CHECK(std::ifstream(param).good() && std::ifstream(bin).good());
}

TEST(detector_raw_outputs_have_one_softmax_row_per_prior)
{
    std::string param, bin;
    reference_model(param, bin);
    DetectorOptions opt;
    Detector det(param, bin, ModelConfig::defaults_for("ultraface-rfb"), opt);
    std::vector<uint8_t> pixels(640 * 480 * 3, 128);
    ImageView img{pixels.data(), 640, 480, 640 * 3, PixelFormat::BGR};
    RawResult raw = det.infer(img);
    CHECK(raw.num_priors == 4420 && raw.num_classes == 2);
    for (int i = 0; i < raw.num_priors; i++)
        CHECK_NEAR(raw.scores[2 * i] + raw.scores[2 * i + 1], 1.0, 1e-3);
    // another input size: priors follow
    RawResult raw640 = det.infer(img, 640, 480);
    CHECK(raw640.num_priors == 17640);
    DetectResult r = det.detect(img);
    CHECK(r.faces.empty()); // a flat grey frame has no face at 0.6
    CHECK(r.timings.inference_ms > 0);
}

TEST(detector_rejects_bad_files_and_options)
{
    std::string param, bin;
    reference_model(param, bin);
    ModelConfig cfg = ModelConfig::defaults_for("ultraface-rfb");
    DetectorOptions opt;
    CHECK_THROWS_WITH(Detector("/nonexistent.param", bin, cfg, opt), "/nonexistent.param: cannot open ncnn .param");
    CHECK_THROWS_WITH(Detector(param, param, cfg, opt), "RFB-320.param: ");
    DetectorOptions bad = opt;
    bad.num_threads = 0;
    CHECK_THROWS_WITH(Detector(param, bin, cfg, bad), "threads must be at least 1, got 0");
    bad = opt;
    bad.score_threshold = 0.f;
    CHECK_THROWS_WITH(Detector(param, bin, cfg, bad), "score_threshold must be between 0 and 1");
    ModelConfig wrong = cfg;
    wrong.boxes_blob = "bbox";
    CHECK_THROWS_WITH(Detector(param, bin, wrong, opt), "has no blob named 'bbox'");
    wrong = cfg;
    wrong.family = "ultraface";
    CHECK_THROWS_WITH(Detector(param, bin, wrong, opt), "unknown model family 'ultraface'");
    Detector det(param, bin, cfg, opt);
    std::vector<uint8_t> pixels(10 * 10 * 3);
    ImageView img{pixels.data(), 10, 10, 20, PixelFormat::BGR};
    CHECK_THROWS_WITH(det.detect(img), "row stride 20 bytes is smaller than a bgr row of 10 pixels (30 bytes)");
}

TEST(detector_checks_the_class_count_against_the_model)
{
    std::string param, bin;
    reference_model(param, bin);
    ModelConfig cfg = ModelConfig::defaults_for("ultraface-rfb");
    DetectorOptions opt;
    cfg.num_classes = 1;
    Detector ok(param, bin, cfg, opt);
    CHECK(ok.num_score_columns() == 2);
    cfg.num_classes = 2;
    CHECK_THROWS_WITH(Detector(param, bin, cfg, opt),
                      "RFB-320.param: the scores output 'scores' has 2 columns (background + 1 face classes), but the model's class names list 2");
}

TEST(concurrent_detects_equal_serial_ones)
{
    std::string param, bin;
    reference_model(param, bin);
    DetectorOptions opt;
    opt.num_threads = 2;
    opt.top_k = 0; // no limit
    Detector det(param, bin, ModelConfig::defaults_for("ultraface-rfb"), opt);
    // textured frames of different sizes, so every call has its own answer
    std::vector<std::vector<uint8_t> > frames;
    std::vector<ImageView> views;
    for (int k = 0; k < 6; k++)
    {
        const int w = 320 + 64 * k, h = 240 + 32 * k;
        frames.emplace_back((size_t)w * h * 3);
        unsigned seed = 7u + k;
        for (auto& p : frames.back())
            p = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 17);
    }
    for (int k = 0; k < 6; k++)
        views.push_back(ImageView{frames[k].data(), 320 + 64 * k, 240 + 32 * k, (320 + 64 * k) * 3, PixelFormat::BGR});
    std::vector<RawResult> serial;
    for (const auto& v : views)
        serial.push_back(det.infer(v));
    std::vector<RawResult> parallel(views.size() * 4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < parallel.size(); t++)
        threads.emplace_back([&, t] { parallel[t] = det.infer(views[t % views.size()]); });
    for (auto& t : threads)
        t.join();
    for (size_t t = 0; t < parallel.size(); t++)
        CHECK(parallel[t].scores == serial[t % views.size()].scores && parallel[t].boxes == serial[t % views.size()].boxes);
}
