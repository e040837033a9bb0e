// One thread that runs a Detector's inferences, one at a time.
//
// Why a thread of its own rather than a lock around inference on the caller's
// thread: with GCC's OpenMP every thread that starts a parallel region gets its own
// team of worker threads, and an idle team spins before it sleeps. Eight callers of
// one Detector(threads=2) would own eight teams, and the spinning of the team that
// just finished competes with the team that runs next (with threads above the free
// cores that made ncnn about 50x slower). Running every inference on this one
// thread means a Detector owns exactly one team: `threads` busy threads at most,
// however many callers it has. Decoding and NMS stay on the callers' threads and run
// concurrently, and so does preprocessing while several calls are in progress; a
// Detector's only call in progress hands its preprocessing to this thread, which splits
// it over the same OpenMP team (Detector::on_inference_thread). The hand-over costs two
// thread wake-ups per call.
//
// With one ncnn thread there is no team to share (ncnn then runs on the calling
// thread alone), so `inline_jobs` runs each job on its caller's thread under a lock:
// the same one-at-a-time budget without the wake-ups.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace facedge {

class InferenceThread
{
public:
    explicit InferenceThread(bool inline_jobs = false)
        : inline_(inline_jobs)
    {
    }
    ~InferenceThread();
    InferenceThread(const InferenceThread&) = delete;
    InferenceThread& operator=(const InferenceThread&) = delete;

    // Runs `job` on the inference thread (started on first use) after the jobs queued
    // before it, and returns when it is done; an exception it throws is rethrown here.
    void run(const std::function<void()>& job);

    // True when no job runs and none is queued (always false in inline mode): a
    // caller may then hand this thread more of its work (Detector::detect's
    // preprocessing) without delaying anyone. A hint: another caller may queue a job
    // right after.
    bool idle();

private:
    struct Pending
    {
        const std::function<void()>* job;
        std::exception_ptr error;
        bool done = false;
    };
    void loop();

    const bool inline_;
    std::mutex inline_mutex_; // inline mode: one job at a time
    std::mutex mutex_;
    std::condition_variable wake_;     // the inference thread: a job came, or stop
    std::condition_variable finished_; // callers: some job is done
    std::deque<Pending*> queue_;
    bool stop_ = false;
    bool running_ = false; // a job is running on the thread
    std::thread thread_;
};

} // namespace facedge
