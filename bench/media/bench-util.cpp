#include "bench-util.h"

#include "gst-bin.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

GST_DEBUG_CATEGORY(bench_debug);

namespace signalbin::bench {

// ---- JSON -------------------------------------------------------------------------

Json Json::object()
{
    Json j;
    j.kind_ = Kind::Object;
    return j;
}

Json Json::array()
{
    Json j;
    j.kind_ = Kind::Array;
    return j;
}

Json& Json::set(const std::string& key, Json value)
{
    if (kind_ == Kind::Null)
        kind_ = Kind::Object;
    for (auto& [k, v] : members_) {
        if (k == key) {
            v = std::move(value);
            return *this;
        }
    }
    members_.emplace_back(key, std::move(value));
    return *this;
}

Json& Json::push(Json value)
{
    if (kind_ == Kind::Null)
        kind_ = Kind::Array;
    items_.push_back(std::move(value));
    return *this;
}

namespace {

void escape_to(std::string& out, const std::string& s)
{
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

} // namespace

void Json::dump_to(std::string& out) const
{
    switch (kind_) {
    case Kind::Null:
        out += "null";
        break;
    case Kind::Bool:
        out += b_ ? "true" : "false";
        break;
    case Kind::Int:
        out += std::to_string(i_);
        break;
    case Kind::Double: {
        if (!std::isfinite(d_)) {
            out += "null";
            break;
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", d_);
        out += buf;
        break;
    }
    case Kind::String:
        escape_to(out, s_);
        break;
    case Kind::Array: {
        out += '[';
        bool first = true;
        for (const Json& item : items_) {
            if (!first)
                out += ", ";
            first = false;
            item.dump_to(out);
        }
        out += ']';
        break;
    }
    case Kind::Object: {
        out += '{';
        bool first = true;
        for (const auto& [key, value] : members_) {
            if (!first)
                out += ", ";
            first = false;
            escape_to(out, key);
            out += ": ";
            value.dump_to(out);
        }
        out += '}';
        break;
    }
    }
}

std::string Json::dump() const
{
    std::string out;
    dump_to(out);
    return out;
}

// ---- statistics -------------------------------------------------------------------

Summary summarize(std::vector<double> values)
{
    Summary s;
    s.n = values.size();
    if (values.empty())
        return s;
    std::sort(values.begin(), values.end());
    auto rank = [&](double p) {
        // Nearest rank: the smallest value with at least p of the samples at or below it.
        size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
        return values[std::min(values.size() - 1, r == 0 ? 0 : r - 1)];
    };
    s.min = values.front();
    s.max = values.back();
    size_t mid = values.size() / 2;
    s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    s.p99 = rank(0.99);
    s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
    return s;
}

Json to_json(const Summary& s)
{
    Json j = Json::object();
    j.set("n", s.n);
    if (s.n == 0)
        return j;
    j.set("min", s.min).set("median", s.median).set("max", s.max).set("mean", s.mean).set("p99", s.p99);
    return j;
}

Json min_median_max(const std::vector<double>& values)
{
    Summary s = summarize(values);
    Json j = Json::object();
    if (s.n == 0)
        return j.set("n", 0);
    return j.set("min", s.min).set("median", s.median).set("max", s.max).set("n", s.n);
}

// ---- the process ------------------------------------------------------------------

double process_cpu_seconds()
{
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

namespace {

long status_field(const char* field)
{
    std::ifstream status("/proc/self/status");
    std::string line;
    size_t len = std::strlen(field);
    while (std::getline(status, line)) {
        if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':')
            return std::strtol(line.c_str() + len + 1, nullptr, 10);
    }
    return 0;
}

} // namespace

long vm_rss_kb()
{
    return status_field("VmRSS");
}

long thread_count()
{
    return status_field("Threads");
}

// ---- pipelines --------------------------------------------------------------------

Pipeline::Pipeline(const std::string& description, const std::string& name) : description_(description)
{
    GErrorPtr error;
    GstElement* element = gst_parse_launch(description.c_str(), GErrorOut(error));
    if (!element || error) {
        if (element)
            gst_object_unref(gst_object_ref_sink(element));
        throw BenchError("cannot build pipeline \"" + description + "\": " + (error ? error->message : "?"));
    }
    pipeline_ = GRef<GstElement>::ref(element); // sinks the floating reference
    if (!name.empty())
        gst_object_set_name(GST_OBJECT(element), name.c_str());
}

Pipeline::~Pipeline()
{
    stop();
}

GRef<GstElement> Pipeline::element(const char* name) const
{
    GRef<GstElement> e = adopt_ref(gst_bin_get_by_name(GST_BIN(pipeline_.get()), name));
    if (!e)
        throw BenchError(std::string("no element ") + name + " in \"" + description_ + "\"");
    return e;
}

GstStateChangeReturn Pipeline::play()
{
    GstStateChangeReturn ret = gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING);
    if (ret == GST_STATE_CHANGE_FAILURE) {
        check();
        throw BenchError("cannot play \"" + description_ + "\"");
    }
    return ret;
}

void Pipeline::stop()
{
    if (!pipeline_)
        return;
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    pipeline_.reset();
}

void Pipeline::check()
{
    if (!pipeline_)
        return;
    GRef<GstBus> bus = adopt_ref(gst_element_get_bus(pipeline_.get()));
    while (GstMessage* raw = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)) {
        GRef<GstMessage> message = adopt_ref(raw);
        GErrorPtr error;
        char* debug = nullptr;
        gst_message_parse_error(message.get(), GErrorOut(error), &debug);
        GCharPtr owned_debug(debug);
        std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message.get()))) + ": " +
                           (error ? error->message : "?") + " (" + (debug ? debug : "") + ")";
        throw BenchError("error in \"" + description_ + "\": " + text);
    }
}

bool wait_until(const std::function<bool()>& condition, gint64 timeout_us, const std::vector<Pipeline*>& watch,
                unsigned step_ms)
{
    gint64 deadline = now_us() + timeout_us;
    gint64 next_check = 0;
    while (true) {
        if (condition())
            return true;
        gint64 now = now_us();
        if (now >= deadline)
            return false;
        if (now >= next_check) {
            for (Pipeline* p : watch)
                p->check();
            next_check = now + 50000;
        }
        g_usleep(std::min<gint64>(step_ms * 1000, deadline - now));
    }
}

void sleep_checking(gint64 us, const std::vector<Pipeline*>& watch)
{
    gint64 end = now_us() + us;
    while (true) {
        for (Pipeline* p : watch)
            p->check();
        gint64 left = end - now_us();
        if (left <= 0)
            return;
        g_usleep(std::min<gint64>(left, 50000));
    }
}

std::vector<GRef<GstElement>> elements_of_factory(GstElement* bin, const char* factory)
{
    std::vector<GRef<GstElement>> found;
    for (GRef<GstElement>& e : bin_elements(GST_BIN(bin))) {
        if (factory_name(e.get()) == factory)
            found.push_back(std::move(e));
    }
    return found;
}

void add_local_address(GstElement* webrtcbin, const char* address)
{
    GstObject* agent = nullptr;
    g_object_get(webrtcbin, "ice-agent", &agent, nullptr);
    // webrtcbin never sinks its agent: ours is a plain reference all the same.
    if (agent && g_object_is_floating(agent))
        g_object_ref_sink(agent);
    GRef<GstObject> owned = adopt_ref(agent);
    if (!owned)
        throw BenchError("webrtcbin has no ice-agent");
    gboolean added = FALSE;
    g_signal_emit_by_name(owned.get(), "add-local-ip-address", address, &added);
    if (!added)
        throw BenchError(std::string("ICE agent refused ") + address);
}

// ---- pad probes -------------------------------------------------------------------

FirstBuffer::~FirstBuffer()
{
    if (pad_ && probe_)
        gst_pad_remove_probe(pad_.get(), probe_);
}

void FirstBuffer::attach(GstPad* pad, const char* media)
{
    state_->media = media;
    pad_ = GRef<GstPad>::ref(pad);
    auto* held = new std::shared_ptr<State>(state_);
    probe_ = gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad* pad, GstPadProbeInfo*, gpointer data) -> GstPadProbeReturn {
            auto& state = *static_cast<std::shared_ptr<State>*>(data);
            if (state->time_us.load() != 0)
                return GST_PAD_PROBE_OK;
            gint64 now = now_us();
            GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
            if (!caps || gst_caps_is_empty(caps.get()) ||
                !g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps.get(), 0)), state->media.c_str()))
                return GST_PAD_PROBE_OK;
            gint64 expected = 0;
            state->time_us.compare_exchange_strong(expected, now);
            return GST_PAD_PROBE_OK;
        },
        held, [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
}

BufferCount::~BufferCount()
{
    if (pad_ && probe_)
        gst_pad_remove_probe(pad_.get(), probe_);
}

void BufferCount::attach(GstPad* pad)
{
    pad_ = GRef<GstPad>::ref(pad);
    auto* held = new std::shared_ptr<State>(state_);
    probe_ = gst_pad_add_probe(
        pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            auto& state = *static_cast<std::shared_ptr<State>*>(data);
            guint n = 1;
            if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
                n = gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
            state->count += n;
            return GST_PAD_PROBE_OK;
        },
        held, [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
}

} // namespace signalbin::bench
