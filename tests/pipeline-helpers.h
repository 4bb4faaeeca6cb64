// Helpers for the element tests: pipelines from launch lines that tear
// themselves down, buffer counters on pads, the consumer-added/-removed
// signals of signalsink as events to wait for, a signalling server run
// in-process on its own thread, and looking inside bins.
//
// Every wait is on an event (a buffer, a signal, a bus message) with a
// deadline; nothing sleeps. While waiting, the pipelines given to watch are
// checked for ERROR messages, and one fails the test at once with its text.
#pragma once

#include "context-thread.h"
#include "glib-ptr.h"
#include "gst-ptr.h"
#include "server.h"

#include <gst/check/gstcheck.h>
#include <gst/gst.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace signalbin::test {

// Long enough for a loaded 2-core machine; a passing wait returns at once.
constexpr GstClockTime kTimeout = 30 * GST_SECOND;

// Small live video and audio, cheap to encode.
constexpr const char* kVideoSource =
    "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1";
constexpr const char* kAudioSource = "audiotestsrc is-live=true wave=sine";

// Frames a test waits for to call a stream working.
constexpr guint64 kFrames = 30;

// signalsink serving its input through its embedded server on a free port,
// named "cam"; and signalsrc receiving "cam" from the server on `port`.
std::string embedded_sink(const std::string& extra = "");
std::string consumer_src(unsigned port, const std::string& extra = "");

// "GError message (debug)" of an ERROR, WARNING or INFO message.
std::string message_text(GstMessage* message);

// A pipeline from a launch line. Every signalsink and signalsrc in it gets
// ice-local-addresses=127.0.0.1, so ICE uses loopback only; the ICE
// candidates of every webrtcbin that appears inside are recorded, and stop()
// fails the test if one is not on 127.0.0.1. The destructor (or stop()) sets
// it to NULL and drops it, and checks that it is gone.
class Pipeline {
public:
    explicit Pipeline(const std::string& description);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    GstElement* get() const { return pipeline_.get(); }
    const std::string& description() const { return description_; }
    // The element called `name`; fails the test if there is none.
    GRef<GstElement> element(const char* name) const;
    GRef<GstBus> bus() const;

    // To PLAYING; fails the test if the state change fails.
    void play();
    // To NULL and released; fails the test if it is not finalized then (a
    // leaked reference would keep threads and sockets alive).
    void stop();
    bool stopped() const { return !pipeline_; }

    // An ERROR message already on the bus, as text.
    std::optional<std::string> pending_error();
    // The next message of `types` (from `source`, if given) within
    // `timeout`, or null. Other messages are dropped.
    GRef<GstMessage> wait_message(GstMessageType types, GstClockTime timeout, GstElement* source = nullptr);

    // The local ICE candidates the webrtcbins inside have gathered so far.
    std::vector<std::string> candidates() const;

    struct Candidates;

private:
    std::string description_;
    GRef<GstElement> pipeline_;
    std::shared_ptr<Candidates> candidates_;
    SignalConnection deep_added_;
};

// The connection address of an ICE candidate line ("candidate:1 1 UDP 2015363327
// 127.0.0.1 40000 typ host" gives 127.0.0.1), or "".
std::string candidate_address(const std::string& candidate);

// Fails the test if one of `pipelines` has an ERROR on its bus.
void check_no_error(std::initializer_list<Pipeline*> pipelines);

// Waits until `condition` holds, re-checking every 50 ms and watching
// `pipelines` for errors. For state that has no event of its own (stats).
bool wait_until(const std::function<bool()>& condition, GstClockTime timeout,
                std::initializer_list<Pipeline*> pipelines = {});

// Counts the buffers crossing a pad, with their arrival times.
class BufferCounter {
public:
    BufferCounter();
    ~BufferCounter();
    BufferCounter(const BufferCounter&) = delete;
    BufferCounter& operator=(const BufferCounter&) = delete;

    // Counts on `element`'s static pad `pad_name`.
    void attach(GstElement* element, const char* pad_name = "sink");

    guint64 count() const;
    // The media type of the caps on the pad when the first buffer came
    // ("video/x-raw"...), or "" before.
    std::string media_type() const;
    // The longest time between two consecutive buffers of which the later
    // arrived after `since_us` (g_get_monotonic_time), in microseconds.
    gint64 max_gap_after(gint64 since_us) const;
    // Waits for `n` buffers in all; false on timeout.
    bool wait_for(guint64 n, GstClockTime timeout, std::initializer_list<Pipeline*> watch = {});

    struct State;

private:
    std::shared_ptr<State> state_;
    GRef<GstPad> pad_;
    gulong probe_ = 0;
};

// signalsink's consumer-added and consumer-removed signals, recorded.
class ConsumerEvents {
public:
    struct Event {
        std::string peer_id;
        std::string webrtcbin_name;
    };

    explicit ConsumerEvents(GstElement* signalsink);
    ~ConsumerEvents();
    ConsumerEvents(const ConsumerEvents&) = delete;
    ConsumerEvents& operator=(const ConsumerEvents&) = delete;

    std::vector<Event> added() const;
    std::vector<Event> removed() const;
    // Wait until at least `n` consumers were added (removed) in all.
    bool wait_added(size_t n, GstClockTime timeout, std::initializer_list<Pipeline*> watch = {});
    bool wait_removed(size_t n, GstClockTime timeout, std::initializer_list<Pipeline*> watch = {});

    struct State;

private:
    std::shared_ptr<State> state_;
    SignalConnection added_, removed_;
};

// The real signalling server on 127.0.0.1, on a thread of its own, that can
// be stopped and started again on the same port.
class TestServer {
public:
    TestServer();
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    // Port 0: a free one. Fails the test if the server does not start.
    void start(unsigned port = 0);
    // Session ids for the next start(); empty: random UUIDs.
    void set_session_ids(std::function<std::string()> make) { make_session_id_ = std::move(make); }
    // Closes every connection and stops listening.
    void stop();
    bool running() const { return static_cast<bool>(server_); }
    unsigned port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

private:
    ContextThread thread_ {"test-server"};
    std::unique_ptr<server::Server> server_;
    unsigned port_ = 0;
    std::function<std::string()> make_session_id_;
};

// Fails the test unless `counter` sees `n` buffers within kTimeout.
void expect_buffers(BufferCounter& counter, guint64 n, const char* what, std::initializer_list<Pipeline*> watch);

// The embedded server's port of the signalsink called "sink", read as soon
// as the producer is PLAYING.
unsigned server_port(Pipeline& producer);

// A TCase for element tests: 120 s, and GLib's idle pool threads (where
// DTLS ran) ended after each test while OpenSSL is still alive.
TCase* element_tcase(Suite* suite, const char* name);

// Names of the elements inside `bin`, at any depth (or only its children),
// whose factory klass contains every one of `klass_parts` ("Encoder", "Video").
std::vector<std::string> elements_with_klass(GstElement* bin, std::initializer_list<const char*> klass_parts,
                                             bool recurse = true);
// Names of the elements inside `bin`, at any depth, made by `factory`.
std::vector<std::string> elements_of_factory(GstElement* bin, const char* factory);
// Names of `bin`'s direct children.
std::vector<std::string> child_names(GstElement* bin);

// "a, b, c" for failure messages.
std::string join(const std::vector<std::string>& items);

// The number of threads of this process.
int thread_count();
// How many of them are named `name` (as pthread_setname_np set it).
int threads_named(const char* name);
// Waits up to `timeout` for none to be named `name`; false if some still are.
bool wait_no_threads_named(const char* name, GstClockTime timeout);

// The number of open sockets of this process.
int open_socket_count();
// This process's sockets as /proc/self/net lists them, for failure reports.
std::string describe_sockets();

} // namespace signalbin::test
