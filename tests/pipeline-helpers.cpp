#include "pipeline-helpers.h"

#include "gst-bin.h"

#include <gst/check/gstcheck.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace signalbin::test {

std::string message_text(GstMessage* message)
{
    GErrorPtr error;
    GCharPtr debug;
    GError* raw_error = nullptr;
    char* raw_debug = nullptr;
    switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR:
        gst_message_parse_error(message, &raw_error, &raw_debug);
        break;
    case GST_MESSAGE_WARNING:
        gst_message_parse_warning(message, &raw_error, &raw_debug);
        break;
    case GST_MESSAGE_INFO:
        gst_message_parse_info(message, &raw_error, &raw_debug);
        break;
    default:
        return GST_MESSAGE_TYPE_NAME(message);
    }
    error.reset(raw_error);
    debug.reset(raw_debug);
    std::string text = error ? error->message : "(no message)";
    if (debug)
        text += std::string(" (") + debug.get() + ")";
    return std::string(GST_MESSAGE_SRC_NAME(message) ? GST_MESSAGE_SRC_NAME(message) : "?") + ": " + text;
}

std::string embedded_sink(const std::string& extra)
{
    return "signalsink name=sink run-server=true server-url=ws://127.0.0.1:0 meta=\"meta,name=cam\" " + extra;
}

std::string consumer_src(unsigned port, const std::string& extra)
{
    return "signalsrc name=src server-url=ws://127.0.0.1:" + std::to_string(port) + " producer-name=cam " + extra;
}

void expect_buffers(BufferCounter& counter, guint64 n, const char* what, std::initializer_list<Pipeline*> watch)
{
    fail_unless(counter.wait_for(n, kTimeout, watch), "%s: only %" G_GUINT64_FORMAT " buffers of %" G_GUINT64_FORMAT
                " within %" G_GUINT64_FORMAT " s",
                what, counter.count(), n, static_cast<guint64>(kTimeout / GST_SECOND));
}

unsigned server_port(Pipeline& producer)
{
    GRef<GstElement> sink = producer.element("sink");
    guint port = 0;
    g_object_get(sink.get(), "server-port", &port, nullptr);
    fail_unless(port != 0, "signalsink run-server=true reports server-port 0 once PLAYING");
    return port;
}

namespace {

// Threads that ran DTLS hold OpenSSL thread-local state, freed as they end.
// OpenSSL frees its own state in an atexit handler, and a thread that ends
// after it crashes the process (OpenSSL issue 6214). gst_deinit(), gstcheck's
// atexit handler, ends GLib's idle pool threads, where GStreamer's streaming
// threads wait once GST_END_TEST has cleaned up the task pool. So: in the
// parent, idle pool threads stay (none ends on its own); after each test, in
// its process, they are ended while OpenSSL is alive, and waited for.
void keep_pool_threads()
{
    g_thread_pool_set_max_unused_threads(-1);
    g_thread_pool_set_max_idle_time(0);
}

void end_idle_pool_threads()
{
    int idle = static_cast<int>(g_thread_pool_get_num_unused_threads());
    int threads = thread_count();
    g_thread_pool_set_max_unused_threads(0);
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    while (thread_count() > threads - idle && g_get_monotonic_time() < deadline)
        g_usleep(1000); // threads ending: there is no event to wait on
    g_thread_pool_set_max_unused_threads(-1);
}

} // namespace

TCase* element_tcase(Suite* suite, const char* name)
{
    TCase* tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, keep_pool_threads, nullptr);
    tcase_add_checked_fixture(tc, nullptr, end_idle_pool_threads);
    suite_add_tcase(suite, tc);
    return tc;
}

// ---- Pipeline ------------------------------------------------------------------

struct Pipeline::Candidates {
    Candidates() { g_mutex_init(&lock); }
    ~Candidates() { g_mutex_clear(&lock); }
    GMutex lock;
    std::vector<std::string> lines;
};

namespace {

using CandidatesPtr = std::shared_ptr<Pipeline::Candidates>;

void on_ice_candidate(GstElement*, guint, const char* candidate, gpointer data)
{
    Pipeline::Candidates& c = **static_cast<CandidatesPtr*>(data);
    g_mutex_lock(&c.lock);
    c.lines.emplace_back(candidate ? candidate : "");
    g_mutex_unlock(&c.lock);
}

// Runs when an element is added anywhere inside the pipeline, before a new
// webrtcbin can gather candidates.
void on_deep_element_added(GstBin*, GstBin*, GstElement* element, gpointer data)
{
    if (factory_name(element) != "webrtcbin")
        return;
    g_signal_connect_data(
        element, "on-ice-candidate", G_CALLBACK(&on_ice_candidate), new CandidatesPtr(*static_cast<CandidatesPtr*>(data)),
        [](gpointer p, GClosure*) { delete static_cast<CandidatesPtr*>(p); }, static_cast<GConnectFlags>(0));
}

} // namespace

std::string candidate_address(const std::string& candidate)
{
    GUnique<char*> tokens(g_strsplit(candidate.c_str(), " ", -1));
    guint n = g_strv_length(tokens.get());
    return n > 4 ? tokens.get()[4] : "";
}

Pipeline::Pipeline(const std::string& description)
    : description_(description), candidates_(std::make_shared<Candidates>())
{
    GErrorPtr error;
    GstElement* raw = gst_parse_launch(description.c_str(), GErrorOut(error));
    fail_unless(raw != nullptr && !error, "cannot build \"%s\": %s", description.c_str(),
                error ? error->message : "unknown error");
    // gst_parse_launch hands out a floating reference.
    pipeline_ = g_object_is_floating(raw) ? GRef<GstElement>::ref(raw) : adopt_ref(raw);
    for (const GRef<GstElement>& e : bin_elements(GST_BIN(pipeline_.get()))) {
        std::string factory = factory_name(e.get());
        if (factory == "signalsink" || factory == "signalsrc")
            gst_util_set_object_arg(G_OBJECT(e.get()), "ice-local-addresses", "127.0.0.1");
    }
    gulong id = g_signal_connect_data(
        pipeline_.get(), "deep-element-added", G_CALLBACK(&on_deep_element_added), new CandidatesPtr(candidates_),
        [](gpointer p, GClosure*) { delete static_cast<CandidatesPtr*>(p); }, static_cast<GConnectFlags>(0));
    deep_added_ = SignalConnection(pipeline_.get(), id);
}

std::vector<std::string> Pipeline::candidates() const
{
    g_mutex_lock(&candidates_->lock);
    std::vector<std::string> lines = candidates_->lines;
    g_mutex_unlock(&candidates_->lock);
    return lines;
}

Pipeline::~Pipeline()
{
    stop();
}

GRef<GstElement> Pipeline::element(const char* name) const
{
    fail_unless(pipeline_ != nullptr, "pipeline \"%s\" is already stopped", description_.c_str());
    GRef<GstElement> e = adopt_ref(gst_bin_get_by_name(GST_BIN(pipeline_.get()), name));
    fail_unless(e != nullptr, "no element \"%s\" in \"%s\"", name, description_.c_str());
    return e;
}

GRef<GstBus> Pipeline::bus() const
{
    return adopt_ref(gst_element_get_bus(pipeline_.get()));
}

void Pipeline::play()
{
    GstStateChangeReturn ret = gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING);
    if (ret == GST_STATE_CHANGE_FAILURE) {
        std::optional<std::string> error = pending_error();
        fail("\"%s\" did not go to PLAYING: %s", description_.c_str(), error ? error->c_str() : "no error message");
    }
}

void Pipeline::stop()
{
    if (!pipeline_)
        return;
    for (const std::string& candidate : candidates()) {
        fail_unless(candidate_address(candidate) == "127.0.0.1", "\"%s\" gathered an ICE candidate off loopback: %s",
                    description_.c_str(), candidate.c_str());
    }
    GstStateChangeReturn ret = gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    fail_unless(ret == GST_STATE_CHANGE_SUCCESS, "\"%s\" did not go to NULL (%s)", description_.c_str(),
                gst_element_state_change_return_get_name(ret));
    GstElement* raw = pipeline_.get();
    gpointer alive = raw;
    g_object_add_weak_pointer(G_OBJECT(raw), &alive);
    int refs = GST_OBJECT_REFCOUNT_VALUE(raw);
    pipeline_.reset();
    if (alive) {
        g_object_remove_weak_pointer(G_OBJECT(raw), &alive);
        fail("\"%s\" was not finalized when released: %d references were held on it", description_.c_str(), refs);
    }
}

std::optional<std::string> Pipeline::pending_error()
{
    if (!pipeline_)
        return std::nullopt;
    GRef<GstBus> b = bus();
    GstMessage* raw = gst_bus_pop_filtered(b.get(), GST_MESSAGE_ERROR);
    if (!raw)
        return std::nullopt;
    GRef<GstMessage> message = adopt_ref(raw);
    return message_text(message.get());
}

GRef<GstMessage> Pipeline::wait_message(GstMessageType types, GstClockTime timeout, GstElement* source)
{
    GRef<GstBus> b = bus();
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    auto wanted = static_cast<GstMessageType>(types | GST_MESSAGE_ERROR);
    for (;;) {
        gint64 left = deadline - g_get_monotonic_time();
        if (left <= 0)
            return nullptr;
        GstMessage* raw = gst_bus_timed_pop_filtered(b.get(), static_cast<GstClockTime>(left) * GST_USECOND, wanted);
        if (!raw)
            return nullptr;
        GRef<GstMessage> message = adopt_ref(raw);
        if (GST_MESSAGE_TYPE(raw) == GST_MESSAGE_ERROR && !(types & GST_MESSAGE_ERROR))
            fail("error in \"%s\": %s", description_.c_str(), message_text(raw).c_str());
        if (source && GST_MESSAGE_SRC(raw) != GST_OBJECT(source))
            continue;
        return message;
    }
}

void check_no_error(std::initializer_list<Pipeline*> pipelines)
{
    for (Pipeline* p : pipelines) {
        if (std::optional<std::string> error = p->pending_error())
            fail("error in \"%s\": %s", p->description().c_str(), error->c_str());
    }
}

bool wait_until(const std::function<bool()>& condition, GstClockTime timeout, std::initializer_list<Pipeline*> pipelines)
{
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    for (;;) {
        if (condition())
            return true;
        if (g_get_monotonic_time() >= deadline)
            return false;
        check_no_error(pipelines);
        g_usleep(50 * 1000); // the polling interval, not a wait for the event
    }
}

// ---- BufferCounter ------------------------------------------------------------------

struct BufferCounter::State {
    State()
    {
        g_mutex_init(&lock);
        g_cond_init(&cond);
    }
    ~State()
    {
        g_mutex_clear(&lock);
        g_cond_clear(&cond);
    }
    GMutex lock;
    GCond cond;
    guint64 count = 0;
    std::string media_type;
    std::vector<gint64> arrivals;
};

BufferCounter::BufferCounter() : state_(std::make_shared<State>()) {}

BufferCounter::~BufferCounter()
{
    if (pad_ && probe_)
        gst_pad_remove_probe(pad_.get(), probe_);
}

void BufferCounter::attach(GstElement* element, const char* pad_name)
{
    pad_ = adopt_ref(gst_element_get_static_pad(element, pad_name));
    fail_unless(pad_ != nullptr, "%s has no pad %s", GST_ELEMENT_NAME(element), pad_name);
    probe_ = gst_pad_add_probe(
        pad_.get(), static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        [](GstPad* pad, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            State& s = **static_cast<std::shared_ptr<State>*>(data);
            guint n = 1;
            if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
                n = gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
            gint64 now = g_get_monotonic_time();
            std::string media;
            g_mutex_lock(&s.lock);
            bool need_caps = s.media_type.empty();
            g_mutex_unlock(&s.lock);
            if (need_caps) {
                GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
                if (caps && gst_caps_get_size(caps.get()) > 0)
                    media = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
            }
            g_mutex_lock(&s.lock);
            if (s.media_type.empty())
                s.media_type = media;
            s.count += n;
            s.arrivals.push_back(now);
            g_cond_broadcast(&s.cond);
            g_mutex_unlock(&s.lock);
            return GST_PAD_PROBE_OK;
        },
        new std::shared_ptr<State>(state_), [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
}

guint64 BufferCounter::count() const
{
    g_mutex_lock(&state_->lock);
    guint64 n = state_->count;
    g_mutex_unlock(&state_->lock);
    return n;
}

std::string BufferCounter::media_type() const
{
    g_mutex_lock(&state_->lock);
    std::string media = state_->media_type;
    g_mutex_unlock(&state_->lock);
    return media;
}

gint64 BufferCounter::max_gap_after(gint64 since_us) const
{
    g_mutex_lock(&state_->lock);
    gint64 gap = 0;
    const std::vector<gint64>& t = state_->arrivals;
    for (size_t i = 1; i < t.size(); ++i) {
        if (t[i] > since_us)
            gap = std::max(gap, t[i] - t[i - 1]);
    }
    g_mutex_unlock(&state_->lock);
    return gap;
}

bool BufferCounter::wait_for(guint64 n, GstClockTime timeout, std::initializer_list<Pipeline*> watch)
{
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    for (;;) {
        g_mutex_lock(&state_->lock);
        // Wakes on every buffer; the 100 ms bound only lets errors be seen.
        gint64 until = std::min(deadline, g_get_monotonic_time() + 100 * G_TIME_SPAN_MILLISECOND);
        while (state_->count < n && g_get_monotonic_time() < until)
            g_cond_wait_until(&state_->cond, &state_->lock, until);
        bool reached = state_->count >= n;
        g_mutex_unlock(&state_->lock);
        if (reached)
            return true;
        check_no_error(watch);
        if (g_get_monotonic_time() >= deadline)
            return false;
    }
}

// ---- ConsumerEvents -----------------------------------------------------------------

struct ConsumerEvents::State {
    State()
    {
        g_mutex_init(&lock);
        g_cond_init(&cond);
    }
    ~State()
    {
        g_mutex_clear(&lock);
        g_cond_clear(&cond);
    }
    GMutex lock;
    GCond cond;
    std::vector<Event> added;
    std::vector<Event> removed;
};

namespace {

template <bool Added>
void on_consumer(GstElement*, const char* peer_id, GstElement* webrtcbin, gpointer data)
{
    auto& s = **static_cast<std::shared_ptr<ConsumerEvents::State>*>(data);
    ConsumerEvents::Event event {peer_id ? peer_id : "", webrtcbin ? GST_ELEMENT_NAME(webrtcbin) : ""};
    g_mutex_lock(&s.lock);
    (Added ? s.added : s.removed).push_back(event);
    g_cond_broadcast(&s.cond);
    g_mutex_unlock(&s.lock);
}

bool wait_events(ConsumerEvents::State& s, std::vector<ConsumerEvents::Event> ConsumerEvents::State::*list, size_t n,
                 GstClockTime timeout, std::initializer_list<Pipeline*> watch)
{
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    for (;;) {
        g_mutex_lock(&s.lock);
        gint64 until = std::min(deadline, g_get_monotonic_time() + 100 * G_TIME_SPAN_MILLISECOND);
        while ((s.*list).size() < n && g_get_monotonic_time() < until)
            g_cond_wait_until(&s.cond, &s.lock, until);
        bool reached = (s.*list).size() >= n;
        g_mutex_unlock(&s.lock);
        if (reached)
            return true;
        check_no_error(watch);
        if (g_get_monotonic_time() >= deadline)
            return false;
    }
}

} // namespace

ConsumerEvents::ConsumerEvents(GstElement* signalsink) : state_(std::make_shared<State>())
{
    auto connect = [this, signalsink](const char* signal, GCallback callback) {
        gulong id = g_signal_connect_data(
            signalsink, signal, callback, new std::shared_ptr<State>(state_),
            [](gpointer data, GClosure*) { delete static_cast<std::shared_ptr<State>*>(data); },
            static_cast<GConnectFlags>(0));
        return SignalConnection(signalsink, id);
    };
    added_ = connect("consumer-added", G_CALLBACK(&on_consumer<true>));
    removed_ = connect("consumer-removed", G_CALLBACK(&on_consumer<false>));
}

ConsumerEvents::~ConsumerEvents() = default;

std::vector<ConsumerEvents::Event> ConsumerEvents::added() const
{
    g_mutex_lock(&state_->lock);
    std::vector<Event> copy = state_->added;
    g_mutex_unlock(&state_->lock);
    return copy;
}

std::vector<ConsumerEvents::Event> ConsumerEvents::removed() const
{
    g_mutex_lock(&state_->lock);
    std::vector<Event> copy = state_->removed;
    g_mutex_unlock(&state_->lock);
    return copy;
}

bool ConsumerEvents::wait_added(size_t n, GstClockTime timeout, std::initializer_list<Pipeline*> watch)
{
    return wait_events(*state_, &State::added, n, timeout, watch);
}

bool ConsumerEvents::wait_removed(size_t n, GstClockTime timeout, std::initializer_list<Pipeline*> watch)
{
    return wait_events(*state_, &State::removed, n, timeout, watch);
}

// ---- TestServer ---------------------------------------------------------------------

TestServer::TestServer() = default;

TestServer::~TestServer()
{
    stop();
}

void TestServer::start(unsigned port)
{
    fail_unless(!server_, "the test server is already running");
    std::string error;
    thread_.invoke_sync([&] {
        server::ServerOptions options;
        options.host = "127.0.0.1";
        options.port = port;
        options.make_session_id = make_session_id_;
        auto started = server::Server::start(thread_.context(), options);
        if (started)
            server_ = std::move(started.value());
        else
            error = started.error();
    });
    fail_unless(server_ != nullptr, "the signalling server did not start on port %u: %s", port, error.c_str());
    port_ = server_->port();
}

void TestServer::stop()
{
    if (!server_)
        return;
    struct Done {
        Done()
        {
            g_mutex_init(&lock);
            g_cond_init(&cond);
        }
        ~Done()
        {
            g_mutex_clear(&lock);
            g_cond_clear(&cond);
        }
        GMutex lock;
        GCond cond;
        bool done = false;
    };
    auto done = std::make_shared<Done>();
    thread_.invoke_sync([&] {
        server_->shutdown(
            [done] {
                g_mutex_lock(&done->lock);
                done->done = true;
                g_cond_broadcast(&done->cond);
                g_mutex_unlock(&done->lock);
            },
            2000);
    });
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&done->lock);
    while (!done->done && g_cond_wait_until(&done->cond, &done->lock, deadline)) {
    }
    bool finished = done->done;
    g_mutex_unlock(&done->lock);
    thread_.invoke_sync([&] { server_.reset(); });
    fail_unless(finished, "the signalling server did not shut down within 10 s");
}

// ---- Looking inside bins ------------------------------------------------------------

std::vector<std::string> elements_with_klass(GstElement* bin, std::initializer_list<const char*> klass_parts,
                                             bool recurse)
{
    std::vector<std::string> names;
    for (const GRef<GstElement>& e : bin_elements(GST_BIN(bin), recurse)) {
        GstElementFactory* factory = gst_element_get_factory(e.get());
        const char* klass = factory ? gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS) : nullptr;
        if (!klass)
            continue;
        bool all = std::all_of(klass_parts.begin(), klass_parts.end(),
                               [klass](const char* part) { return std::strstr(klass, part) != nullptr; });
        if (all)
            names.push_back(std::string(GST_ELEMENT_NAME(e.get())) + " (" + factory_name(e.get()) + ")");
    }
    return names;
}

std::vector<std::string> elements_of_factory(GstElement* bin, const char* factory)
{
    std::vector<std::string> names;
    for (const GRef<GstElement>& e : bin_elements(GST_BIN(bin))) {
        if (factory_name(e.get()) == factory)
            names.push_back(GST_ELEMENT_NAME(e.get()));
    }
    return names;
}

std::vector<std::string> child_names(GstElement* bin)
{
    std::vector<std::string> names;
    for (const GRef<GstElement>& e : bin_elements(GST_BIN(bin), false))
        names.push_back(GST_ELEMENT_NAME(e.get()));
    return names;
}

std::string join(const std::vector<std::string>& items)
{
    std::string out;
    for (const std::string& item : items)
        out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? "(none)" : out;
}

namespace {

// Socket inodes of this process.
std::vector<std::string> socket_inodes()
{
    std::vector<std::string> inodes;
    GDir* dir = g_dir_open("/proc/self/fd", 0, nullptr);
    if (!dir)
        return inodes;
    while (const char* name = g_dir_read_name(dir)) {
        GCharPtr path(g_build_filename("/proc/self/fd", name, nullptr));
        GCharPtr target(g_file_read_link(path.get(), nullptr));
        if (target && g_str_has_prefix(target.get(), "socket:["))
            inodes.emplace_back(target.get() + 8, strlen(target.get()) - 9);
    }
    g_dir_close(dir);
    return inodes;
}

} // namespace

std::string describe_sockets()
{
    std::string out;
    std::vector<std::string> inodes = socket_inodes();
    for (const char* table : {"tcp", "tcp6", "udp", "udp6", "unix", "netlink"}) {
        GCharPtr path(g_strdup_printf("/proc/self/net/%s", table));
        char* contents = nullptr;
        if (!g_file_get_contents(path.get(), &contents, nullptr, nullptr))
            continue;
        GCharPtr owned(contents);
        GUnique<char*> lines(g_strsplit(contents, "\n", -1));
        for (char** line = lines.get(); *line; ++line) {
            GUnique<char*> fields(g_strsplit_set(*line, " ", -1));
            for (char** f = fields.get(); *f; ++f) {
                if (**f && std::find(inodes.begin(), inodes.end(), *f) != inodes.end()) {
                    out += std::string(table) + ": " + g_strstrip(*line) + "\n";
                    break;
                }
            }
        }
    }
    return out.empty() ? "(none found in /proc/self/net)" : out;
}

int thread_count()
{
    GDir* dir = g_dir_open("/proc/self/task", 0, nullptr);
    if (!dir)
        return -1;
    int threads = 0;
    while (g_dir_read_name(dir))
        ++threads;
    g_dir_close(dir);
    return threads;
}

int threads_named(const char* name)
{
    GDir* dir = g_dir_open("/proc/self/task", 0, nullptr);
    if (!dir)
        return -1;
    int named = 0;
    while (const char* task = g_dir_read_name(dir)) {
        GCharPtr path(g_build_filename("/proc/self/task", task, "comm", nullptr));
        char* comm = nullptr;
        if (!g_file_get_contents(path.get(), &comm, nullptr, nullptr))
            continue; // ended meanwhile
        GCharPtr owned(comm);
        if (g_strcmp0(g_strstrip(comm), name) == 0)
            ++named;
    }
    g_dir_close(dir);
    return named;
}

bool wait_no_threads_named(const char* name, GstClockTime timeout)
{
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    while (threads_named(name) > 0) {
        if (g_get_monotonic_time() > deadline)
            return false;
        g_usleep(10 * 1000); // a thread ending is no event we could wait on
    }
    return true;
}

int open_socket_count()
{
    GDir* dir = g_dir_open("/proc/self/fd", 0, nullptr);
    if (!dir)
        return -1;
    int sockets = 0;
    while (const char* name = g_dir_read_name(dir)) {
        GCharPtr path(g_build_filename("/proc/self/fd", name, nullptr));
        GCharPtr target(g_file_read_link(path.get(), nullptr));
        if (target && g_str_has_prefix(target.get(), "socket:"))
            ++sockets;
    }
    g_dir_close(dir);
    return sockets;
}

} // namespace signalbin::test
