// Element tests for what goes wrong: pads released while running, an
// application stopping the pipeline from a signal handler, sessions that end
// or stall before they start, peers whose answers webrtcbin refuses, session
// ids that share a prefix, a consumer whose queue overflows, H.264 input that
// is not constrained baseline. Real signalsink, signalsrc and webrtcbin on
// loopback; where a test needs a peer that misbehaves, it speaks the
// signalling protocol itself (TestPeer) and never answers, or answers wrong.
#define GST_USE_UNSTABLE_API // gst/webrtc, for the local description
#include "pipeline-helpers.h"
#include "test-peer.h"

#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <atomic>
#include <mutex>

using namespace signalbin;
using namespace signalbin::test;

namespace {

std::string server_sink(const TestServer& server, const std::string& extra = "")
{
    return "signalsink name=sink server-url=" + server.url() + " meta=\"meta,name=cam\" " + extra;
}

// A WARNING from `source` whose text has `part`, within the timeout.
std::string expect_warning(Pipeline& pipeline, GstElement* source, const std::string& part)
{
    std::string seen;
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(kTimeout / GST_USECOND);
    while (g_get_monotonic_time() < deadline) {
        GRef<GstMessage> m = pipeline.wait_message(GST_MESSAGE_WARNING, kTimeout, source);
        if (!m)
            break;
        std::string text = message_text(m.get());
        if (text.find(part) != std::string::npos)
            return text;
        seen += "\n  " + text;
    }
    fail("no warning with \"%s\" from %s; warnings seen:%s", part.c_str(), GST_ELEMENT_NAME(source), seen.c_str());
    return "";
}

// A protocol peer of the test's own: finds the producer "cam" and starts a
// session with it, then does what the test says (usually nothing right).
struct ProtocolConsumer {
    explicit ProtocolConsumer(GMainContext* context, const std::string& url) : peer(context, url)
    {
        fail_unless(peer.connect().has_value(), "no welcome:\n%s", peer.describe().c_str());
    }

    std::string producer_id()
    {
        for (int attempt = 0; attempt < 100; ++attempt) {
            fail_unless(peer.send(protocol::ListRequest {}), "not connected");
            auto list = peer.wait_message<protocol::List>();
            fail_unless(list.has_value(), "no list reply:\n%s", peer.describe().c_str());
            for (const protocol::PeerInfo& p : list->producers) {
                if (p.meta.string_member("name") == std::string("cam"))
                    return p.id;
            }
            // Not registered yet: ask again once the server has news.
            peer.wait_message<protocol::PeerStatusChanged>({}, 200);
        }
        fail("producer \"cam\" never registered");
        return "";
    }

    // Starts a session; its id.
    std::string start_session(const std::optional<std::string>& offer = std::nullopt)
    {
        fail_unless(peer.send(protocol::StartSessionRequest {producer_id(), offer}), "not connected");
        auto started = peer.wait_message<protocol::SessionStarted>();
        fail_unless(started.has_value(), "no sessionStarted:\n%s", peer.describe().c_str());
        return started->session_id;
    }

    // The producer's SDP offer in `session`.
    std::string wait_offer(const std::string& session)
    {
        auto offer = peer.wait_message<protocol::Peer>([&](const protocol::Peer& m) {
            const auto* sdp = std::get_if<protocol::Sdp>(&m.payload);
            return m.session_id == session && sdp && sdp->type == protocol::Sdp::Type::Offer;
        });
        fail_unless(offer.has_value(), "no offer from the producer:\n%s", peer.describe().c_str());
        return std::get<protocol::Sdp>(offer->payload).sdp;
    }

    bool wait_end(const std::string& session, unsigned timeout_ms)
    {
        return peer.wait_message<protocol::EndSession>(
                       [&](const protocol::EndSession& m) { return m.session_id == session; }, timeout_ms)
            .has_value();
    }

    TestPeer peer;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// GStreamer debug lines of one category that contain `part`, as they come.
class DebugLines {
public:
    DebugLines(const char* category, std::string part) : category_(category), part_(std::move(part))
    {
        gst_debug_set_threshold_for_name(category, GST_LEVEL_INFO);
        (gst_debug_remove_log_function)(gst_debug_log_default); // our lines only, not on stderr
        // The function, not gstinfo.h's macro of the same name (which
        // compares a function pointer with void*, refused by -Wpedantic).
        (gst_debug_add_log_function)(&DebugLines::log, this, nullptr);
    }
    ~DebugLines()
    {
        gst_debug_remove_log_function_by_data(this);
        (gst_debug_add_log_function)(gst_debug_log_default, nullptr, nullptr);
        gst_debug_unset_threshold_for_name(category_.c_str());
    }
    DebugLines(const DebugLines&) = delete;
    DebugLines& operator=(const DebugLines&) = delete;

    // Waits for a line with `also` in it, too.
    bool wait(const std::string& also, GstClockTime timeout)
    {
        return wait_until(
            [&] {
                std::lock_guard<std::mutex> guard(lock_);
                return std::any_of(lines_.begin(), lines_.end(),
                                   [&](const std::string& l) { return l.find(also) != std::string::npos; });
            },
            timeout);
    }

private:
    static void log(GstDebugCategory* category, GstDebugLevel, const gchar*, const gchar*, gint, GObject*,
                    GstDebugMessage* message, gpointer data)
    {
        auto* self = static_cast<DebugLines*>(data);
        if (self->category_ != gst_debug_category_get_name(category))
            return;
        std::string text = gst_debug_message_get(message);
        if (text.find(self->part_) == std::string::npos)
            return;
        std::lock_guard<std::mutex> guard(self->lock_);
        self->lines_.push_back(text);
    }

    std::string category_;
    std::string part_;
    std::mutex lock_;
    std::vector<std::string> lines_;
};

// A flag one thread sets and another waits for.
struct Flag {
    Flag()
    {
        g_mutex_init(&lock);
        g_cond_init(&cond);
    }
    ~Flag()
    {
        g_mutex_clear(&lock);
        g_cond_clear(&cond);
    }
    void set()
    {
        g_mutex_lock(&lock);
        value = true;
        g_cond_broadcast(&cond);
        g_mutex_unlock(&lock);
    }
    bool wait(GstClockTime timeout)
    {
        gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
        g_mutex_lock(&lock);
        while (!value && g_cond_wait_until(&cond, &lock, deadline)) {
        }
        bool got = value;
        g_mutex_unlock(&lock);
        return got;
    }
    GMutex lock;
    GCond cond;
    bool value = false;
};

} // namespace

// ---- lifetimes ---------------------------------------------------------------------

// The application removes the audio branch of a running pipeline: signalsink
// keeps serving video, to the consumer it had and to a new one.
GST_START_TEST(test_release_pad_while_playing)
{
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink() +
                      " audiotestsrc name=asrc is-live=true wave=sine ! sink.audio_0");
    producer.play();
    unsigned port = server_port(producer);
    Pipeline first(consumer_src(port) + " src.video_0 ! fakesink name=vout sync=false src.audio_0 ! fakesink "
                                        "name=aout sync=false");
    BufferCounter video, audio;
    video.attach(first.element("vout").get());
    audio.attach(first.element("aout").get());
    first.play();
    expect_buffers(video, kFrames, "video before the release", {&producer, &first});
    expect_buffers(audio, kFrames, "audio before the release", {&producer, &first});

    GRef<GstElement> sink = producer.element("sink");
    GRef<GstElement> asrc = producer.element("asrc");
    GRef<GstPad> audio_pad = adopt_ref(gst_element_get_static_pad(sink.get(), "audio_0"));
    fail_unless(audio_pad != nullptr, "signalsink has no audio_0 pad");
    gst_element_set_locked_state(asrc.get(), TRUE);
    gst_element_set_state(asrc.get(), GST_STATE_NULL);
    gst_bin_remove(GST_BIN(producer.get()), asrc.get());
    gst_element_release_request_pad(sink.get(), audio_pad.get());
    audio_pad.reset();

    Pipeline second(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter second_video;
    second_video.attach(second.element("out").get());
    second.play();
    guint64 from = video.count();
    expect_buffers(second_video, kFrames, "video to a consumer that came after the release",
                   {&producer, &first, &second});
    expect_buffers(video, from + kFrames, "video to the first consumer after the release",
                   {&producer, &first, &second});
    GRef<GstElement> src = second.element("src");
    fail_unless(src->numsrcpads == 1, "the consumer that came after the release has %u pads, not 1 (video)",
                src->numsrcpads);

    second.stop();
    first.stop();
    producer.stop();
}
GST_END_TEST;

namespace {
struct StopFromHandler {
    GstElement* pipeline;
    Flag stopped;
    GstStateChangeReturn result = GST_STATE_CHANGE_FAILURE;
};

void stop_pipeline_on_consumer(GstElement*, const char*, GstElement*, gpointer data)
{
    auto* s = static_cast<StopFromHandler*>(data);
    s->result = gst_element_set_state(s->pipeline, GST_STATE_NULL);
    s->stopped.set();
}
} // namespace

// consumer-added runs on signalsink's signalling thread; an application
// that stops the pipeline from there must not deadlock or crash it.
GST_START_TEST(test_stop_from_consumer_added)
{
    {
        Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
        GRef<GstElement> sink = producer.element("sink");
        StopFromHandler stop {producer.get(), {}};
        gulong id = g_signal_connect(sink.get(), "consumer-added", G_CALLBACK(stop_pipeline_on_consumer), &stop);
        SignalConnection handler(sink.get(), id);
        producer.play();
        unsigned port = server_port(producer);
        Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
        consumer.play();

        fail_unless(stop.stopped.wait(kTimeout), "consumer-added never fired, or setting the pipeline to NULL from it "
                                                 "did not return within %" G_GUINT64_FORMAT " s",
                    static_cast<guint64>(kTimeout / GST_SECOND));
        fail_unless(stop.result == GST_STATE_CHANGE_SUCCESS, "set_state(NULL) from consumer-added returned %s",
                    gst_element_state_change_return_get_name(stop.result));
        handler.disconnect();
        sink.reset();
        consumer.stop();
        producer.stop();
    }
    // Every reference is gone, the last perhaps in the handler's emission on
    // the sink's own thread: that thread ends too, nothing of the sink runs
    // on (a thread left running crashed this process as it exited).
    fail_unless(wait_no_threads_named("signalbin-sig", kTimeout),
                "%d signalbin-sig threads still running %" G_GUINT64_FORMAT " s after the pipelines were freed",
                threads_named("signalbin-sig"), static_cast<guint64>(kTimeout / GST_SECOND));
}
GST_END_TEST;

namespace {
// An appsrc that gives signalsink its caps only when the test pushes a frame.
void push_frame(GstElement* appsrc, guint64 n)
{
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 320 * 240 * 3 / 2, nullptr);
    gst_buffer_memset(buffer, 0, 0x80, 320 * 240 * 3 / 2);
    GST_BUFFER_PTS(buffer) = n * GST_SECOND / 30;
    GST_BUFFER_DURATION(buffer) = GST_SECOND / 30;
    GstFlowReturn ret = GST_FLOW_ERROR;
    g_signal_emit_by_name(appsrc, "push-buffer", buffer, &ret);
    gst_buffer_unref(buffer);
    fail_unless(ret == GST_FLOW_OK, "push-buffer: %s", gst_flow_get_name(ret));
}
} // namespace

// A consumer that leaves while signalsink still waits for its input's caps
// is forgotten: it gets no webrtcbin when the caps come.
GST_START_TEST(test_session_ended_while_waiting_for_caps)
{
    DebugLines waiting("signalsink", "waits for the streams' caps");
    TestServer server;
    server.start();
    // No caps on the appsrc yet: it would send them as it starts.
    Pipeline producer("appsrc name=in is-live=true format=time ! " + server_sink(server));
    ConsumerEvents events(producer.element("sink").get());
    producer.play();

    TestContext context;
    ProtocolConsumer leaving(context, server.url());
    std::string gone = leaving.start_session();
    fail_unless(leaving.peer.send(protocol::EndSession {gone}), "not connected");
    ProtocolConsumer staying(context, server.url());
    std::string kept = staying.start_session();
    // The producer heard both requests (and the end between them, in order).
    fail_unless(waiting.wait(kept, kTimeout), "signalsink never said session %s waits for caps", kept.c_str());

    GRef<GstElement> appsrc = producer.element("in");
    GRef<GstCaps> caps = adopt_ref(gst_caps_from_string("video/x-raw,format=I420,width=320,height=240,framerate=30/1"));
    g_object_set(appsrc.get(), "caps", caps.get(), nullptr);
    for (guint64 n = 0; n < 3; ++n)
        push_frame(appsrc.get(), n);
    fail_unless(events.wait_added(1, kTimeout, {&producer}), "the waiting consumer was never added");
    staying.wait_offer(kept);
    std::vector<ConsumerEvents::Event> added = events.added();
    fail_unless(added.size() == 1 && added[0].peer_id == staying.peer.id(),
                "consumers added: %zu, the first %s; only %s (the one that stayed) should be", added.size(),
                added[0].peer_id.c_str(), staying.peer.id().c_str());
    fail_if(leaving.peer.wait_message<protocol::Peer>({}, 0).has_value(), "the consumer that left got an offer");

    producer.stop();
    server.stop();
}
GST_END_TEST;

// signalsrc outlives five producers: each session's elements go with it.
GST_START_TEST(test_receiver_sessions_leave_nothing)
{
    TestServer server;
    server.start();
    Pipeline consumer(consumer_src(server.port()) + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    GRef<GstElement> src = consumer.element("src");
    for (int round = 0; round < 5; ++round) {
        Pipeline producer(std::string(kVideoSource) + " ! " + server_sink(server));
        producer.play();
        guint64 from = frames.count();
        expect_buffers(frames, from + kFrames, ("round " + std::to_string(round)).c_str(), {&producer, &consumer});
        producer.stop();
        GRef<GstMessage> left;
        while ((left = consumer.wait_message(GST_MESSAGE_ELEMENT, kTimeout, src.get()))) {
            if (gst_structure_has_name(gst_message_get_structure(left.get()), "signalsrc-producer-left"))
                break;
        }
        fail_unless(left != nullptr, "round %d: signalsrc did not say the producer left", round);
        left.reset();
        std::vector<std::string> children = child_names(src.get());
        fail_unless(children.empty(), "round %d: still in signalsrc after its producer left: %s", round,
                    join(children).c_str());
    }
    consumer.stop();
    server.stop();
}
GST_END_TEST;

// ---- identity ----------------------------------------------------------------------

// Session ids from another server: sequential, with a long common prefix.
GST_START_TEST(test_session_ids_with_a_common_prefix)
{
    TestServer server;
    auto next = std::make_shared<std::atomic<int>>(0);
    server.set_session_ids([next] { return "session-" + std::to_string(100000 + ++*next); });
    server.start();
    Pipeline producer(std::string(kVideoSource) + " ! " + server_sink(server));
    producer.play();
    Pipeline a(consumer_src(server.port()) + " ! fakesink name=out sync=false");
    Pipeline b(consumer_src(server.port()) + " ! fakesink name=out sync=false");
    BufferCounter fa, fb;
    fa.attach(a.element("out").get());
    fb.attach(b.element("out").get());
    a.play();
    expect_buffers(fa, kFrames, "the first consumer", {&producer, &a});
    b.play();
    expect_buffers(fb, kFrames, "the second consumer", {&producer, &a, &b});
    GRef<GstElement> sink = producer.element("sink");
    fail_unless_equals_int(elements_of_factory(sink.get(), "webrtcbin").size(), 2);
    b.stop();
    a.stop();
    producer.stop();
    server.stop();
}
GST_END_TEST;

// ---- errors ------------------------------------------------------------------------

// A signalsink on a test server, and a protocol consumer of the test's own
// that has started a session and holds the producer's offer.
struct OfferedSession {
    explicit OfferedSession(const std::string& sink_extra)
        : producer(std::string(kVideoSource) + " ! " + server_sink(started(server), sink_extra)),
          sink(producer.element("sink")),
          events(sink.get())
    {
        producer.play();
        consumer.emplace(context, server.url());
        session = consumer->start_session();
        offer = consumer->wait_offer(session);
    }
    ~OfferedSession()
    {
        consumer.reset();
        sink.reset();
        producer.stop();
        server.stop();
    }
    OfferedSession(const OfferedSession&) = delete;
    OfferedSession& operator=(const OfferedSession&) = delete;

    static TestServer& started(TestServer& s)
    {
        s.start();
        return s;
    }
    bool send(const decltype(protocol::Peer::payload)& payload)
    {
        return consumer->peer.send(protocol::Peer {session, payload});
    }
    // The producer ends the session (the peer hears endSession) within `ms`.
    void expect_end(unsigned ms, const char* why)
    {
        fail_unless(consumer->wait_end(session, ms), "%s:\n%s", why, consumer->peer.describe().c_str());
    }

    TestServer server;
    Pipeline producer;
    GRef<GstElement> sink;
    ConsumerEvents events;
    TestContext context;
    std::optional<ProtocolConsumer> consumer;
    std::string session;
    std::string offer;
};

// A peer that takes the offer and never answers is dropped after
// session-timeout, told so, and the application warned.
GST_START_TEST(test_session_timeout)
{
    OfferedSession silent("session-timeout=2000");
    silent.expect_end(30000, "the producer never ended the session of a peer that does not answer");
    std::string warning = expect_warning(silent.producer, silent.sink.get(), "not connected within 2000 ms");
    fail_unless(warning.find("no answer") != std::string::npos, "the warning does not say what was missing: %s",
                warning.c_str());
    fail_unless(silent.events.wait_removed(1, kTimeout, {&silent.producer}), "consumer-removed did not fire");
    fail_unless(elements_of_factory(silent.sink.get(), "webrtcbin").empty(), "the stalled consumer's webrtcbin stayed");
}
GST_END_TEST;

GST_START_TEST(test_max_consumers)
{
    GRef<GstElement> fresh = GRef<GstElement>::ref(gst_element_factory_make("signalsink", nullptr));
    guint max = 0, timeout = 0;
    g_object_get(fresh.get(), "max-consumers", &max, "session-timeout", &timeout, nullptr);
    fail_unless(max == 50 && timeout == 20000, "defaults: max-consumers %u, session-timeout %u ms", max, timeout);
    fresh.reset();

    TestServer server;
    server.start();
    Pipeline producer(std::string(kVideoSource) + " ! " + server_sink(server, "max-consumers=1"));
    GRef<GstElement> sink = producer.element("sink");
    producer.play();
    TestContext context;
    ProtocolConsumer first(context, server.url());
    std::string one = first.start_session();
    first.wait_offer(one);
    ProtocolConsumer second(context, server.url());
    std::string two = second.start_session();
    fail_unless(second.wait_end(two, kTimeoutMs), "the consumer over max-consumers was not refused:\n%s",
                second.peer.describe().c_str());
    expect_warning(producer, sink.get(), "max-consumers (1)");
    fail_unless_equals_int(elements_of_factory(sink.get(), "webrtcbin").size(), 1);
    // A signalsrc refused hears why (endSessionV1_1) and says so.
    Pipeline third("signalsrc name=src server-url=" + server.url() + " producer-name=cam ! fakesink");
    GRef<GstElement> src = third.element("src");
    third.play();
    expect_warning(third, src.get(),
                   "The producer ended the session: the producer serves no more consumers (max-consumers 1)");
    third.stop();
    producer.stop();
    server.stop();
}
GST_END_TEST;

// An answer webrtcbin refuses (no ICE credentials) ends the session with a
// warning that says so, instead of leaving it half-negotiated.
GST_START_TEST(test_refused_answer)
{
    OfferedSession wrong("session-timeout=0");
    std::string answer =
        replace_all(replace_all(wrong.offer, "a=sendonly", "a=recvonly"), "a=setup:actpass", "a=setup:active");
    size_t at;
    while ((at = answer.find("a=ice-ufrag:")) != std::string::npos)
        answer.erase(at, answer.find("\r\n", at) + 2 - at);
    fail_unless(wrong.send(protocol::Sdp {protocol::Sdp::Type::Answer, answer}), "not connected");
    wrong.expect_end(kTimeoutMs, "the producer did not end the session after a refused answer");
    expect_warning(wrong.producer, wrong.sink.get(), "webrtcbin rejected the consumer's answer");
}
GST_END_TEST;

// A peer whose candidates all fail (nothing listens on port 9) and who then
// says it has no more: ICE fails, and the consumer is dropped, told and
// reported, with no session-timeout to fall back on.
GST_START_TEST(test_ice_failure_detected)
{
    OfferedSession dead("session-timeout=0");
    // The offer's own credentials and fingerprint will do: no check ever gets an answer.
    std::string answer =
        replace_all(replace_all(dead.offer, "a=sendonly", "a=recvonly"), "a=setup:actpass", "a=setup:active");
    fail_unless(dead.send(protocol::Sdp {protocol::Sdp::Type::Answer, answer}), "not connected");
    fail_unless(dead.send(protocol::Ice {"candidate:1 1 UDP 2015363327 127.0.0.1 9 typ host", 0, std::nullopt}),
                "not connected");
    fail_unless(dead.send(protocol::Ice {"", 0, std::nullopt}), "not connected");
    dead.expect_end(60000, "the producer never ended a session whose ICE cannot succeed");
    expect_warning(dead.producer, dead.sink.get(), "connection failed");
    fail_unless(dead.events.wait_removed(1, kTimeout, {&dead.producer}), "consumer-removed did not fire");
}
GST_END_TEST;

namespace {
// A signalling server of another wording: it lists one producer, "cam", and
// refuses the first session request with an error in words of its own (as
// servers other than ours do), then answers nothing. Protocol only: no
// media, no WebRTC.
class ScriptedServer {
public:
    explicit ScriptedServer(GMainContext* context) : context_(context)
    {
        server_ = adopt_ref(soup_server_new(nullptr, nullptr));
        soup_server_add_websocket_handler(server_.get(), "/", nullptr, nullptr, &ScriptedServer::on_connection, this,
                                          nullptr);
        GErrorPtr error;
        fail_unless(soup_server_listen_local(server_.get(), 0, SOUP_SERVER_LISTEN_IPV4_ONLY, GErrorOut(error)),
                    "cannot listen: %s", error ? error->message : "?");
        GSList* uris = soup_server_get_uris(server_.get());
        port_ = uris ? static_cast<unsigned>(g_uri_get_port(static_cast<GUri*>(uris->data))) : 0;
        g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
    }
    ~ScriptedServer()
    {
        for (auto& ws : connections_) {
            g_signal_handlers_disconnect_by_data(ws.get(), this);
            if (soup_websocket_connection_get_state(ws.get()) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_close(ws.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
        }
        soup_server_disconnect(server_.get());
    }
    ScriptedServer(const ScriptedServer&) = delete;
    ScriptedServer& operator=(const ScriptedServer&) = delete;

    unsigned port() const { return port_; }
    int session_requests() const { return session_requests_; }
    bool wait_requests(int n) { return signalbin::test::wait_until(context_, [&] { return session_requests_ >= n; }); }

private:
    static void send(SoupWebsocketConnection* ws, const std::string& json)
    {
        soup_websocket_connection_send_text(ws, json.c_str());
    }
    static void on_connection(SoupServer*, SoupServerMessage*, const char*, SoupWebsocketConnection* ws,
                              gpointer data)
    {
        auto* self = static_cast<ScriptedServer*>(data);
        self->connections_.push_back(take_ref(ws));
        g_signal_connect(ws, "message", G_CALLBACK(&ScriptedServer::on_message), self);
        send(ws, R"({"type":"welcome","peerId":"C1"})");
    }
    static void on_message(SoupWebsocketConnection* ws, gint, GBytes* bytes, gpointer data)
    {
        auto* self = static_cast<ScriptedServer*>(data);
        gsize size = 0;
        auto* text = static_cast<const char*>(g_bytes_get_data(bytes, &size));
        auto parsed = protocol::parse_client_message({text, size});
        if (!parsed)
            return;
        if (std::holds_alternative<protocol::ListRequest>(parsed.value()))
            send(ws, R"({"type":"list","producers":[{"id":"P1","meta":{"name":"cam"}}]})");
        if (std::holds_alternative<protocol::StartSessionRequest>(parsed.value()) && ++self->session_requests_ == 1)
            send(ws, R"({"type":"error","details":"Peer P1 is not available"})");
    }

    GMainContext* context_;
    GRef<SoupServer> server_;
    std::vector<GRef<SoupWebsocketConnection>> connections_;
    unsigned port_ = 0;
    int session_requests_ = 0;
};
} // namespace

// A refused session request is retried whatever words the server uses (the
// protocol's fact: an error while a startSession waits), not only ours.
GST_START_TEST(test_session_refused_in_other_words)
{
    TestContext context;
    ScriptedServer server(context);
    Pipeline consumer("signalsrc name=src server-url=ws://127.0.0.1:" + std::to_string(server.port()) +
                      " producer-name=cam ! fakesink");
    consumer.play();
    fail_unless(server.wait_requests(2), "signalsrc asked for a session %d times; after the server's error it "
                                         "should ask again",
                server.session_requests());
    consumer.stop();
}
GST_END_TEST;

namespace {
struct BlockedHandler {
    Flag entered;
    Flag released;
    bool timed_out = false;
};

void block_on_consumer(GstElement*, const char*, GstElement*, gpointer data)
{
    auto* b = static_cast<BlockedHandler*>(data);
    b->entered.set();
    b->timed_out = !b->released.wait(20 * GST_SECOND);
}
} // namespace

// Reading stats never waits for signalsink's signalling thread, here held
// in a consumer-added handler.
GST_START_TEST(test_stats_while_busy)
{
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    GRef<GstElement> sink = producer.element("sink");
    BlockedHandler blocked;
    gulong id = g_signal_connect(sink.get(), "consumer-added", G_CALLBACK(block_on_consumer), &blocked);
    SignalConnection handler(sink.get(), id);
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    consumer.play();
    fail_unless(blocked.entered.wait(kTimeout), "consumer-added never fired");
    GstStructure* raw = nullptr;
    guint server = 0;
    g_object_get(sink.get(), "stats", &raw, "server-port", &server, nullptr);
    GUnique<GstStructure> stats(raw);
    blocked.released.set();
    fail_unless(stats != nullptr && server == port, "stats or server-port missing");
    handler.disconnect();
    fail_if(blocked.timed_out, "reading stats waited for the busy signalling thread (20 s)");
    consumer.stop();
    producer.stop();
}
GST_END_TEST;

// ---- media -------------------------------------------------------------------------

namespace {
struct Keyframes {
    std::mutex lock;
    GstClockTime held = GST_CLOCK_TIME_NONE; // the buffer the block held, from before the gap
    std::vector<bool> delta; // per buffer into the payloader, after the overflow
    std::atomic<int> overruns {0};
    std::atomic<int> asked {0}; // force-key-unit events reaching the encoder's tee
};
} // namespace

// When a consumer's queue overflows and drops frames, the frames after the
// gap are held back until a key frame (asked for), so its decoder never
// gets a picture it cannot decode.
GST_START_TEST(test_keyframe_after_queue_overflow)
{
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});

    GRef<GstElement> sink = producer.element("sink");
    GRef<GstElement> queue = adopt_ref(gst_bin_get_by_name(GST_BIN(sink.get()), "consumer-1-video_0-queue"));
    GRef<GstElement> pay = adopt_ref(gst_bin_get_by_name(GST_BIN(sink.get()), "consumer-1-video_0-pay"));
    GRef<GstElement> tee = adopt_ref(gst_bin_get_by_name(GST_BIN(sink.get()), "video_0-h264-tee"));
    fail_unless(queue && pay && tee, "no consumer-1-video_0-queue, -pay or video_0-h264-tee in signalsink: %s",
                join(child_names(sink.get())).c_str());
    Keyframes k;
    gulong overrun = g_signal_connect(queue.get(), "overrun", G_CALLBACK(+[](GstElement*, gpointer data) {
                                          ++static_cast<Keyframes*>(data)->overruns;
                                      }),
                                      &k);
    SignalConnection overrun_handler(queue.get(), overrun);
    GRef<GstPad> pay_sink = adopt_ref(gst_element_get_static_pad(pay.get(), "sink"));
    GRef<GstPad> tee_sink = adopt_ref(gst_element_get_static_pad(tee.get(), "sink"));
    gulong asked = gst_pad_add_probe(
        tee_sink.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
        [](GstPad*, GstPadProbeInfo* info, gpointer data) {
            if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info)))
                ++static_cast<Keyframes*>(data)->asked;
            return GST_PAD_PROBE_OK;
        },
        &k, nullptr);
    // The consumer stops taking frames: its queue fills and overflows.
    gulong block = gst_pad_add_probe(
        pay_sink.get(), static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER),
        [](GstPad*, GstPadProbeInfo* info, gpointer data) {
            auto* keys = static_cast<Keyframes*>(data);
            std::lock_guard<std::mutex> guard(keys->lock);
            keys->held = GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info));
            return GST_PAD_PROBE_OK;
        },
        &k, nullptr);
    fail_unless(wait_until([&] { return k.overruns > 0; }, kTimeout, {&producer, &consumer}),
                "the consumer's queue never overflowed");
    int asked_before = k.asked;
    gulong record = gst_pad_add_probe(
        pay_sink.get(), GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo* info, gpointer data) {
            auto* keys = static_cast<Keyframes*>(data);
            GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
            std::lock_guard<std::mutex> guard(keys->lock);
            if (GST_BUFFER_PTS(buffer) != keys->held)
                keys->delta.push_back(GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT));
            return GST_PAD_PROBE_OK;
        },
        &k, nullptr);
    gst_pad_remove_probe(pay_sink.get(), block);
    fail_unless(wait_until(
                    [&] {
                        std::lock_guard<std::mutex> guard(k.lock);
                        return k.delta.size() >= 10;
                    },
                    kTimeout, {&producer, &consumer}),
                "fewer than 10 frames reached the payloader after the overflow");
    gst_pad_remove_probe(pay_sink.get(), record);
    gst_pad_remove_probe(tee_sink.get(), asked);
    overrun_handler.disconnect();
    {
        std::lock_guard<std::mutex> guard(k.lock);
        fail_if(k.delta[0], "after the overflow a delta frame reached the payloader before any key frame");
    }
    fail_unless(k.asked + asked_before > 0, "no key frame was asked for after the overflow");
    guint64 from = frames.count();
    expect_buffers(frames, from + kFrames, "decoded video after the overflow", {&producer, &consumer});
    consumer.stop();
    producer.stop();
}
GST_END_TEST;

// A high-profile H.264 camera stream is sent as it is and announced as what
// it is, not as constrained baseline.
GST_START_TEST(test_h264_high_profile_input)
{
    Pipeline producer(std::string(kVideoSource) + " ! x264enc tune=zerolatency ! video/x-h264,profile=high ! " +
                      embedded_sink());
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded high-profile video", {&producer, &consumer});
    fail_unless(events.wait_added(1, kTimeout, {&producer}), "consumer-added never fired");
    GRef<GstElement> sink = producer.element("sink");
    GRef<GstElement> webrtc =
        adopt_ref(gst_bin_get_by_name(GST_BIN(sink.get()), events.added()[0].webrtcbin_name.c_str()));
    fail_unless(webrtc != nullptr, "no webrtcbin %s", events.added()[0].webrtcbin_name.c_str());
    GstWebRTCSessionDescription* local = nullptr;
    g_object_get(webrtc.get(), "local-description", &local, nullptr);
    fail_unless(local != nullptr, "the consumer's webrtcbin has no local description");
    GCharPtr text(gst_sdp_message_as_text(local->sdp));
    gst_webrtc_session_description_free(local);
    std::string sdp = text.get();
    fail_unless(sdp.find("profile-level-id=64") != std::string::npos,
                "the offer does not announce the high profile (64xxxx):\n%s", sdp.c_str());
    consumer.stop();
    producer.stop();
}
GST_END_TEST;

static Suite* robustness_suite()
{
    Suite* s = suite_create("robustness");
    auto add = [s](const char* name) { return element_tcase(s, name); };
    TCase* tc = add("lifetimes");
    tcase_add_test(tc, test_release_pad_while_playing);
    tcase_add_test(tc, test_stop_from_consumer_added);
    tcase_add_test(tc, test_session_ended_while_waiting_for_caps);
    tcase_add_test(tc, test_receiver_sessions_leave_nothing);

    tc = add("identity");
    tcase_add_test(tc, test_session_ids_with_a_common_prefix);

    tc = add("errors");
    tcase_add_test(tc, test_session_timeout);
    tcase_add_test(tc, test_max_consumers);
    tcase_add_test(tc, test_refused_answer);
    tcase_add_test(tc, test_session_refused_in_other_words);
    tcase_add_test(tc, test_ice_failure_detected);
    tcase_add_test(tc, test_stats_while_busy);

    tc = add("media");
    tcase_add_test(tc, test_keyframe_after_queue_overflow);
    tcase_add_test(tc, test_h264_high_profile_input);
    return s;
}

GST_CHECK_MAIN(robustness);
