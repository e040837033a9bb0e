#include "facedge/inference_thread.h"

namespace facedge {

InferenceThread::~InferenceThread()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void InferenceThread::run(const std::function<void()>& job)
{
    if (inline_)
    {
        std::lock_guard<std::mutex> lock(inline_mutex_);
        job();
        return;
    }
    Pending pending;
    pending.job = &job;
    std::unique_lock<std::mutex> lock(mutex_);
    if (!thread_.joinable())
        thread_ = std::thread(&InferenceThread::loop, this);
    queue_.push_back(&pending);
    wake_.notify_one();
    finished_.wait(lock, [&] { return pending.done; });
    if (pending.error)
        std::rethrow_exception(pending.error);
}

bool InferenceThread::idle()
{
    if (inline_)
        return false;
    std::lock_guard<std::mutex> lock(mutex_);
    return !running_ && queue_.empty();
}

void InferenceThread::loop()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;)
    {
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) // stop, and nothing left to run
            return;
        Pending* p = queue_.front();
        queue_.pop_front();
        running_ = true;
        lock.unlock();
        try
        {
            (*p->job)();
        }
        catch (...)
        {
            p->error = std::current_exception();
        }
        lock.lock();
        running_ = false;
        p->done = true;
        // every waiter checks its own flag; few callers wait at once
        finished_.notify_all();
    }
}

} // namespace facedge
