// A thread that runs its own GMainContext, for work that must not happen on
// streaming threads or the application's main loop (signalling, webrtcbin
// set-up and tear-down). invoke() runs a function there; the destructor
// quits the loop and joins the thread.
#pragma once

#include "glib-ptr.h"

#include <pthread.h>

#include <functional>
#include <string>
#include <thread>

namespace signalbin {

class ContextThread {
public:
    explicit ContextThread(const char* name)
        : context_(adopt_ref(g_main_context_new())), loop_(adopt_ref(g_main_loop_new(context_.get(), FALSE)))
    {
        // The thread holds its own references: when the object is destroyed
        // from a function running on the thread itself, stop() detaches it,
        // and the loop and context must outlive the object until it returns.
        thread_ = std::thread([loop = loop_, context = context_, thread_name = std::string(name)] {
            pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str()); // for gdb, top, perf
            g_main_context_push_thread_default(context.get());
            g_main_loop_run(loop.get());
            // Let sources that were destroyed during shutdown release their data.
            while (g_main_context_iteration(context.get(), FALSE)) {
            }
            g_main_context_pop_thread_default(context.get());
        });
        // Wait until the loop runs, so stop() cannot race its start.
        invoke_sync([] {});
    }

    ~ContextThread() { stop(); }
    ContextThread(const ContextThread&) = delete;
    ContextThread& operator=(const ContextThread&) = delete;

    GMainContext* context() const { return context_.get(); }
    bool is_current() const { return std::this_thread::get_id() == thread_.get_id(); }

    // Runs `fn` on the thread, soon (at once if called from it).
    void invoke(std::function<void()> fn)
    {
        if (is_current()) {
            fn();
            return;
        }
        post(std::move(fn));
    }

    // Runs `fn` on the thread later, even when called from it.
    void post(std::function<void()> fn)
    {
        // Always through a source: g_main_context_invoke_full() would call
        // `fn` at once when called from the thread.
        auto* heap = new std::function<void()>(std::move(fn));
        GRef<GSource> source = adopt_ref(g_idle_source_new());
        g_source_set_priority(source.get(), G_PRIORITY_DEFAULT);
        g_source_set_callback(
            source.get(),
            [](gpointer data) -> gboolean {
                (*static_cast<std::function<void()>*>(data))();
                return G_SOURCE_REMOVE;
            },
            heap, [](gpointer data) { delete static_cast<std::function<void()>*>(data); });
        g_source_attach(source.get(), context_.get());
    }

    // Runs `fn` on the thread and waits for it.
    void invoke_sync(const std::function<void()>& fn)
    {
        if (is_current()) {
            fn();
            return;
        }
        struct Call {
            const std::function<void()>* fn;
            GMutex lock;
            GCond cond;
            bool done = false;
        } call {&fn, {}, {}, false};
        g_mutex_init(&call.lock);
        g_cond_init(&call.cond);
        post([&call] {
            (*call.fn)();
            g_mutex_lock(&call.lock);
            call.done = true;
            g_cond_signal(&call.cond);
            g_mutex_unlock(&call.lock);
        });
        g_mutex_lock(&call.lock);
        while (!call.done)
            g_cond_wait(&call.cond, &call.lock);
        g_mutex_unlock(&call.lock);
        g_mutex_clear(&call.lock);
        g_cond_clear(&call.cond);
    }

    void stop()
    {
        if (!thread_.joinable())
            return;
        g_main_loop_quit(loop_.get());
        if (is_current())
            thread_.detach();
        else
            thread_.join();
    }

private:
    GRef<GMainContext> context_;
    GRef<GMainLoop> loop_;
    std::thread thread_;
};

} // namespace signalbin
