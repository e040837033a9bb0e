// The inference thread runs every job on one thread, one at a time, whatever the
// number of callers, and hands exceptions back to the caller.
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "facedge/inference_thread.h"
#include "test.h"

using namespace facedge;

TEST(inference_jobs_run_one_at_a_time_on_one_thread)
{
    InferenceThread worker;
    std::atomic<int> running(0), most(0), done(0);
    std::mutex ids_mutex;
    std::set<std::thread::id> ids;
    std::vector<std::thread> callers;
    for (int c = 0; c < 8; c++)
        callers.emplace_back([&] {
            for (int i = 0; i < 25; i++)
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
    for (auto& t : callers)
        t.join();
    CHECK(done == 200);
    CHECK(most == 1);
    CHECK(ids.size() == 1);
    CHECK(*ids.begin() != std::this_thread::get_id());
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
    std::atomic<int> running(0), most(0);
    std::mutex ids_mutex;
    std::set<std::thread::id> ids;
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; c++)
        callers.emplace_back([&] {
            for (int i = 0; i < 25; i++)
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
                });
        });
    for (auto& t : callers)
        t.join();
    CHECK(most == 1);
    CHECK(ids.size() == 4);
    CHECK_THROWS_WITH(worker.run([] { throw facedge::Error("inline failure"); }), "inline failure");
}
