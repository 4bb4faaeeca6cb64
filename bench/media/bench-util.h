// Small pieces the media benchmarks share: a JSON value for results,
// statistics over samples, process CPU and memory, pipelines that tear
// themselves down, and bounded waits. Every wait has a deadline; failures
// are exceptions (BenchError) that main() reports as JSON.
#pragma once

#include "glib-ptr.h"
#include "gst-ptr.h"

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(bench_debug);

namespace signalbin::bench {

class BenchError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ---- JSON -------------------------------------------------------------------------

// A JSON value built in code and printed once; objects keep insertion order.
class Json {
public:
    Json() = default; // null
    Json(bool b) : kind_(Kind::Bool), b_(b) {}
    Json(int v) : kind_(Kind::Int), i_(v) {}
    Json(unsigned v) : kind_(Kind::Int), i_(v) {}
    Json(long v) : kind_(Kind::Int), i_(v) {}
    Json(long long v) : kind_(Kind::Int), i_(v) {}
    Json(unsigned long v) : kind_(Kind::Int), i_(static_cast<long long>(v)) {}
    Json(unsigned long long v) : kind_(Kind::Int), i_(static_cast<long long>(v)) {}
    Json(double v) : kind_(Kind::Double), d_(v) {}
    Json(const char* s) : kind_(Kind::String), s_(s) {}
    Json(std::string s) : kind_(Kind::String), s_(std::move(s)) {}

    static Json object();
    static Json array();
    template <typename T>
    static Json array_of(const std::vector<T>& values)
    {
        Json a = array();
        for (const T& v : values)
            a.push(Json(v));
        return a;
    }

    Json& set(const std::string& key, Json value);
    Json& push(Json value);
    std::string dump() const;

private:
    enum class Kind { Null, Bool, Int, Double, String, Array, Object };
    void dump_to(std::string& out) const;

    Kind kind_ = Kind::Null;
    bool b_ = false;
    long long i_ = 0;
    double d_ = 0;
    std::string s_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
};

// ---- statistics -------------------------------------------------------------------

struct Summary {
    size_t n = 0;
    double min = 0, median = 0, max = 0, mean = 0, p99 = 0;
};

// Nearest-rank percentiles over `values` (any order). Empty: n = 0.
Summary summarize(std::vector<double> values);
// {"n", "min", "median", "max", "mean", "p99"}.
Json to_json(const Summary& s);
// {"min", "median", "max"} only: a figure over repeats.
Json min_median_max(const std::vector<double>& values);

// ---- the process ------------------------------------------------------------------

inline gint64 now_us()
{
    return g_get_monotonic_time();
}
// User + system CPU time of this process so far, in seconds.
double process_cpu_seconds();
// VmRSS of this process, in kB (0 if unreadable).
long vm_rss_kb();
// Threads of this process.
long thread_count();

// ---- pipelines --------------------------------------------------------------------

// A pipeline from a launch line, set to NULL and dropped when it goes away.
class Pipeline {
public:
    explicit Pipeline(const std::string& description, const std::string& name = {});
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    GstElement* get() const { return pipeline_.get(); }
    const std::string& description() const { return description_; }
    // The element called `name`; BenchError if there is none.
    GRef<GstElement> element(const char* name) const;

    // Asks for PLAYING; returns what set_state said (FAILURE throws).
    GstStateChangeReturn play();
    void stop();

    // Throws BenchError with the text of an ERROR on the bus, if any.
    void check();

private:
    std::string description_;
    GRef<GstElement> pipeline_;
};

// Polls `condition` every `step_ms` until it holds or `timeout_us` passes,
// checking `watch` for errors meanwhile. True if it held.
bool wait_until(const std::function<bool()>& condition, gint64 timeout_us, const std::vector<Pipeline*>& watch = {},
                unsigned step_ms = 5);
// Sleeps `us`, checking `watch` for errors every 50 ms.
void sleep_checking(gint64 us, const std::vector<Pipeline*>& watch = {});

// Elements made by `factory` anywhere inside `bin`.
std::vector<GRef<GstElement>> elements_of_factory(GstElement* bin, const char* factory);

// Adds `address` to webrtcbin's ICE agent (libnice skips loopback unless told).
void add_local_address(GstElement* webrtcbin, const char* address);

// The time the first buffer crossed a pad (g_get_monotonic_time), 0 before.
class FirstBuffer {
public:
    FirstBuffer() = default;
    ~FirstBuffer();
    FirstBuffer(const FirstBuffer&) = delete;
    FirstBuffer& operator=(const FirstBuffer&) = delete;

    // Only buffers under caps whose name starts with `media` ("video/x-raw").
    void attach(GstPad* pad, const char* media);
    gint64 time_us() const { return state_->time_us.load(); }

private:
    struct State {
        std::atomic<gint64> time_us {0};
        std::string media;
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
    GRef<GstPad> pad_;
    gulong probe_ = 0;
};

// Counts buffers crossing a pad.
class BufferCount {
public:
    BufferCount() = default;
    ~BufferCount();
    BufferCount(const BufferCount&) = delete;
    BufferCount& operator=(const BufferCount&) = delete;

    void attach(GstPad* pad);
    guint64 count() const { return state_->count.load(); }

private:
    struct State {
        std::atomic<guint64> count {0};
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
    GRef<GstPad> pad_;
    gulong probe_ = 0;
};

} // namespace signalbin::bench
