// The inference thread runs every job on one thread, one at a time, whatever the
// number of callers, and hands exceptions back to the caller.
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "facedge/inference_thread.h"
#include "test.h"

using namespace facedge;

namespace {

// What `callers` threads, each running `jobs` jobs through the worker, saw: how many
// jobs ran, the most that ran at once, and the threads they ran on.
struct JobRecord
{
    int done = 0;
    int most_at_once = 0;
    std::set<std::thread::id> threads;
};

JobRecord run_from_many_callers(InferenceThread& worker, int callers, int jobs)
{
    std::atomic<int> running(0), most(0), done(0);
    std::mutex ids_mutex;
    std::set<std::thread::id> ids;
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; c++)
        threads.emplace_back([&] {
            for (int i = 0; i < jobs; i++)
                worker.run([&] {
                    const int now = ++running;
                    int m = most.load();
                    while (now > m && !most.compare_exchange_weak(m, now))
                    {
                    }
                    {
                        std::lock_guard<std::mutex> lock(ids_mutex);
                        ids.insert(std::this_thread::get_id());
                    }
                    std::this_thread::yield();
                    --running;
                    ++done;
                });
        });
    for (auto& t : threads)
        t.join();
    JobRecord r;
    r.done = done;
    r.most_at_once = most;
    r.threads = ids;
    return r;
}

} // namespace

TEST(inference_jobs_run_one_at_a_time_on_one_thread)
{
    InferenceThread worker;
    const JobRecord r = run_from_many_callers(worker, 8, 25);
    CHECK(r.done == 200);
    CHECK(r.most_at_once == 1);
    CHECK(r.threads.size() == 1);
    CHECK(*r.threads.begin() != std::this_thread::get_id());
}

TEST(inference_job_exceptions_reach_the_caller)
{
    InferenceThread worker;
    CHECK_THROWS_WITH(worker.run([] { throw facedge::Error("ncnn said no"); }), "ncnn said no");
    int after = 0;
    worker.run([&] { after = 1; }); // the thread survives a failed job
    CHECK(after == 1);
}

TEST(inline_jobs_run_one_at_a_time_on_the_callers_threads)
{
    InferenceThread worker(true);
    const JobRecord r = run_from_many_callers(worker, 4, 25);
    CHECK(r.done == 100);
    CHECK(r.most_at_once == 1);
    CHECK(r.threads.size() == 4);
    CHECK_THROWS_WITH(worker.run([] { throw facedge::Error("inline failure"); }), "inline failure");
}

TEST(idle_says_whether_a_job_runs_or_waits)
{
    // Detector::detect moves a single caller's preprocessing onto the inference thread
    // only when it is idle: not while a job runs or waits there, and never inline.
    InferenceThread worker;
    CHECK(worker.idle()); // not started yet
    std::atomic<bool> started(false), release(false);
    std::thread caller([&] {
        worker.run([&] {
            started = true;
            while (!release)
                std::this_thread::yield();
        });
    });
    while (!started)
        std::this_thread::yield();
    CHECK(!worker.idle()); // a job runs
    std::atomic<bool> second_done(false);
    std::thread second([&] {
        worker.run([&] { second_done = true; });
    });
    release = true;
    caller.join();
    second.join();
    CHECK(second_done);
    CHECK(worker.idle()); // both done
    InferenceThread inline_worker(true);
    CHECK(!inline_worker.idle());
}
