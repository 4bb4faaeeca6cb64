// Element tests: signalsink and signalsrc pipelines in this process, talking
// through the real signalling server (signalsink's embedded one, or one the
// test runs) and real webrtcbins over loopback. Nothing is mocked. Every wait
// is on an event (a buffer, a signal, a bus message) with a generous deadline;
// only signalsink's stats, which have no event, are polled.
#include "pipeline-helpers.h"

#include <gst/check/gstcheck.h>
#include <gst/rtp/rtp.h>
#include <gst/video/navigation.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

using namespace signalbin;
using namespace signalbin::test;

namespace {

constexpr guint8 kMidId = 4; // the mid extension's id in signalsink's offers (rtp-extensions.h)

// Checks, when the test is over, that its pipelines closed every socket:
// within a few seconds, as libnice's agents and GIO's network monitor let
// theirs go on their own threads once the last reference is dropped.
class SocketCheck {
public:
    SocketCheck() : before_(open_socket_count()) {}
    ~SocketCheck()
    {
        wait_until([this] { return open_socket_count() <= before_; }, 10 * GST_SECOND);
        int after = open_socket_count();
        fail_unless(after <= before_, "%d sockets were open before the test and %d after it:\n%s", before_, after,
                    describe_sockets().c_str());
    }
    SocketCheck(const SocketCheck&) = delete;
    SocketCheck& operator=(const SocketCheck&) = delete;

private:
    int before_;
};

void expect_media(const BufferCounter& counter, const char* media_type)
{
    std::string got = counter.media_type();
    fail_unless(got == media_type, "expected %s buffers, got %s", media_type, got.empty() ? "none" : got.c_str());
}

std::string stats_text(GstElement* sink)
{
    GstStructure* raw = nullptr;
    g_object_get(sink, "stats", &raw, nullptr);
    GUnique<GstStructure> stats(raw);
    GCharPtr text(stats ? gst_structure_to_string(stats.get()) : g_strdup("(null)"));
    return text.get();
}

// signalsink's stats come to hold exactly one consumer-<peer> field per
// peer, each with bytes sent.
void expect_stats(Pipeline& producer, const std::vector<std::string>& peers, std::initializer_list<Pipeline*> watch)
{
    GRef<GstElement> sink = producer.element("sink");
    bool ok = wait_until(
        [&] {
            GstStructure* raw = nullptr;
            g_object_get(sink.get(), "stats", &raw, nullptr);
            GUnique<GstStructure> stats(raw);
            if (!stats || static_cast<size_t>(gst_structure_n_fields(stats.get())) != peers.size())
                return false;
            for (const std::string& peer : peers) {
                const GValue* value = gst_structure_get_value(stats.get(), ("consumer-" + peer).c_str());
                if (!value || !GST_VALUE_HOLDS_STRUCTURE(value))
                    return false;
                const GstStructure* one = gst_value_get_structure(value);
                guint64 bytes = 0;
                if (!gst_structure_get_uint64(one, "bytes-sent", &bytes) || bytes == 0)
                    return false;
                if (g_strcmp0(gst_structure_get_string(one, "peer-id"), peer.c_str()) != 0)
                    return false;
            }
            return true;
        },
        kTimeout, watch);
    fail_unless(ok, "signalsink stats never showed bytes sent to exactly [%s]: %s", join(peers).c_str(),
                stats_text(sink.get()).c_str());
}

std::vector<std::string> peer_ids(const std::vector<ConsumerEvents::Event>& events)
{
    std::vector<std::string> ids;
    for (const auto& e : events)
        ids.push_back(e.peer_id);
    return ids;
}

size_t count_prefixed(const std::vector<std::string>& names, const std::string& prefix)
{
    return static_cast<size_t>(
        std::count_if(names.begin(), names.end(), [&](const std::string& n) { return n.rfind(prefix, 0) == 0; }));
}

} // namespace

// ---- streams -----------------------------------------------------------------------

GST_START_TEST(test_video)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    unsigned port = server_port(producer);

    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();

    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});
    expect_media(frames, "video/x-raw");
    fail_unless(events.wait_added(1, kTimeout, {&producer, &consumer}), "consumer-added never fired");
    std::vector<ConsumerEvents::Event> added = events.added();
    fail_unless_equals_int(added.size(), 1);
    fail_unless(!added[0].peer_id.empty(), "consumer-added without a peer id");
    fail_unless(added[0].webrtcbin_name.rfind("consumer-", 0) == 0, "consumer-added gave webrtcbin %s",
                added[0].webrtcbin_name.c_str());
    expect_stats(producer, peer_ids(added), {&producer, &consumer});
    // Both sides gathered candidates, on loopback only (stop() checks every one).
    for (Pipeline* p : {&producer, &consumer}) {
        std::vector<std::string> candidates = p->candidates();
        fail_unless(!candidates.empty(), "\"%s\" gathered no ICE candidate", p->description().c_str());
    }

    consumer.stop();
    producer.stop();
}
GST_END_TEST;

GST_START_TEST(test_audio)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kAudioSource) + " ! " + embedded_sink());
    producer.play();
    unsigned port = server_port(producer);

    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter samples;
    samples.attach(consumer.element("out").get());
    consumer.play();

    expect_buffers(samples, kFrames, "decoded audio", {&producer, &consumer});
    expect_media(samples, "audio/x-raw");
    fail_unless(consumer.element("src")->numsrcpads == 1, "signalsrc has %u pads for one audio stream",
                consumer.element("src")->numsrcpads);

    consumer.stop();
    producer.stop();
}
GST_END_TEST;

GST_START_TEST(test_video_and_audio)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink() + " " + kAudioSource + " ! sink.");
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    unsigned port = server_port(producer);

    Pipeline consumer(consumer_src(port) +
                      " src.video_0 ! fakesink name=vout sync=false src.audio_0 ! fakesink name=aout sync=false");
    BufferCounter frames, samples;
    frames.attach(consumer.element("vout").get());
    samples.attach(consumer.element("aout").get());
    consumer.play();

    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});
    expect_buffers(samples, kFrames, "decoded audio", {&producer, &consumer});
    expect_media(frames, "video/x-raw");
    expect_media(samples, "audio/x-raw");
    fail_unless(events.wait_added(1, kTimeout, {&producer, &consumer}), "consumer-added never fired");
    expect_stats(producer, peer_ids(events.added()), {&producer, &consumer});

    consumer.stop();
    producer.stop();
}
GST_END_TEST;

GST_START_TEST(test_h264_input)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) +
                      " ! x264enc tune=zerolatency ! video/x-h264,profile=constrained-baseline ! " + embedded_sink());
    producer.play();
    unsigned port = server_port(producer);

    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();

    expect_buffers(frames, kFrames, "decoded video from H.264 input", {&producer, &consumer});
    expect_media(frames, "video/x-raw");
    std::vector<std::string> encoders = elements_with_klass(producer.element("sink").get(), {"Encoder", "Video"});
    fail_unless(encoders.empty(), "signalsink re-encodes H.264 input with %s", join(encoders).c_str());
    std::vector<std::string> depays = elements_of_factory(consumer.element("src").get(), "rtph264depay");
    fail_unless_equals_int(depays.size(), 1);

    consumer.stop();
    producer.stop();
}
GST_END_TEST;

// List properties take what a user types: one entry, comma-separated
// entries, or GStreamer's array syntax; an application's GstValueArray too.
GST_START_TEST(test_list_properties)
{
    GError* error = nullptr;
    GstElement* parsed = gst_parse_launch("signalsink name=sink ice-local-addresses=127.0.0.1 video-codecs=vp8,h264 "
                                          "turn-servers=\"<\\\"turn://u:p,q@h:3478\\\", turn://v:w@i:3478>\" "
                                          "signalsrc name=src ice-local-addresses=127.0.0.1,10.0.0.2",
                                          &error);
    fail_unless(parsed != nullptr && error == nullptr, "gst-launch syntax refused: %s", error ? error->message : "");
    GRef<GstElement> pipeline = adopt_ref(GST_ELEMENT(gst_object_ref_sink(parsed)));
    GRef<GstElement> sink = adopt_ref(gst_bin_get_by_name(GST_BIN(parsed), "sink"));
    GRef<GstElement> src = adopt_ref(gst_bin_get_by_name(GST_BIN(parsed), "src"));
    auto get = [](GstElement* e, const char* name) {
        gchar* text = nullptr;
        g_object_get(e, name, &text, nullptr);
        std::string out = text ? text : "";
        g_free(text);
        return out;
    };
    auto expect = [&](GstElement* e, const char* name, const std::string& want) {
        std::string got = get(e, name);
        fail_unless(got == want, "%s: \"%s\", expected \"%s\"", name, got.c_str(), want.c_str());
    };
    expect(sink.get(), "ice-local-addresses", "127.0.0.1");
    expect(sink.get(), "video-codecs", "vp8,h264");
    expect(sink.get(), "turn-servers", "<\"turn://u:p,q@h:3478\", \"turn://v:w@i:3478\">");
    expect(sink.get(), "audio-codecs", "opus");
    expect(src.get(), "ice-local-addresses", "127.0.0.1,10.0.0.2");
    gst_util_set_object_arg(G_OBJECT(sink.get()), "ice-local-addresses", "< 10.0.0.3 , \"10.0.0.4\" >");
    expect(sink.get(), "ice-local-addresses", "10.0.0.3,10.0.0.4");

    // An application's GstValueArray, as before lists were strings.
    GValue array = G_VALUE_INIT;
    gst_value_array_init(&array, 2);
    for (const char* address : {"10.0.0.5", "10.0.0.6"}) {
        GValue item = G_VALUE_INIT;
        g_value_init(&item, G_TYPE_STRING);
        g_value_set_string(&item, address);
        gst_value_array_append_and_take_value(&array, &item);
    }
    g_object_set_property(G_OBJECT(src.get()), "ice-local-addresses", &array);
    g_value_unset(&array);
    expect(src.get(), "ice-local-addresses", "10.0.0.5,10.0.0.6");
}
GST_END_TEST;

GST_START_TEST(test_vp8_preferred)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    gst_util_set_object_arg(G_OBJECT(producer.element("sink").get()), "video-codecs", "vp8,h264");
    producer.play();
    unsigned port = server_port(producer);

    // One consumer decodes; one takes the VP8 as it is.
    Pipeline decoded(consumer_src(port) + " ! fakesink name=out sync=false");
    Pipeline encoded(consumer_src(port) + " ! video/x-vp8 ! fakesink name=out sync=false");
    BufferCounter frames, vp8;
    frames.attach(decoded.element("out").get());
    vp8.attach(encoded.element("out").get());
    decoded.play();
    encoded.play();

    expect_buffers(frames, kFrames, "decoded video", {&producer, &decoded, &encoded});
    expect_buffers(vp8, kFrames, "encoded VP8", {&producer, &decoded, &encoded});
    expect_media(frames, "video/x-raw");
    expect_media(vp8, "video/x-vp8");

    GRef<GstElement> sink = producer.element("sink");
    std::vector<std::string> vp8enc = elements_of_factory(sink.get(), "vp8enc");
    std::vector<std::string> encoders = elements_with_klass(sink.get(), {"Encoder", "Video"});
    fail_unless(vp8enc.size() == 1 && encoders.size() == 1,
                "expected one video encoder, a vp8enc, in signalsink; found %s", join(encoders).c_str());
    for (Pipeline* consumer : {&decoded, &encoded}) {
        GRef<GstElement> src = consumer->element("src");
        std::vector<std::string> vp8depay = elements_of_factory(src.get(), "rtpvp8depay");
        std::vector<std::string> h264depay = elements_of_factory(src.get(), "rtph264depay");
        fail_unless(vp8depay.size() == 1 && h264depay.empty(), "\"%s\" depayloads with [%s] and [%s]",
                    consumer->description().c_str(), join(vp8depay).c_str(), join(h264depay).c_str());
    }

    decoded.stop();
    encoded.stop();
    producer.stop();
}
GST_END_TEST;

// ---- consumers ---------------------------------------------------------------------

GST_START_TEST(test_three_consumers_one_encoder)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    unsigned port = server_port(producer);

    std::vector<std::unique_ptr<Pipeline>> consumers;
    std::vector<std::unique_ptr<BufferCounter>> frames;
    for (int i = 0; i < 3; ++i) {
        consumers.push_back(std::make_unique<Pipeline>(consumer_src(port) + " ! fakesink name=out sync=false"));
        frames.push_back(std::make_unique<BufferCounter>());
        frames.back()->attach(consumers.back()->element("out").get());
    }
    for (auto& c : consumers)
        c->play();
    for (size_t i = 0; i < frames.size(); ++i) {
        expect_buffers(*frames[i], kFrames, ("consumer " + std::to_string(i)).c_str(),
                       {&producer, consumers[0].get(), consumers[1].get(), consumers[2].get()});
        expect_media(*frames[i], "video/x-raw");
    }

    GRef<GstElement> sink = producer.element("sink");
    std::vector<std::string> encoders = elements_with_klass(sink.get(), {"Encoder", "Video"});
    fail_unless(encoders.size() == 1, "expected one video encoder in signalsink for three consumers; found %s",
                join(encoders).c_str());
    fail_unless_equals_int(elements_of_factory(sink.get(), "webrtcbin").size(), 3);
    fail_unless(events.wait_added(3, kTimeout, {&producer}), "consumer-added fired %zu times, not 3",
                events.added().size());
    std::vector<std::string> peers = peer_ids(events.added());
    fail_unless_equals_int(std::set<std::string>(peers.begin(), peers.end()).size(), 3);
    expect_stats(producer, peers, {&producer});

    consumers.clear();
    producer.stop();
}
GST_END_TEST;

GST_START_TEST(test_consumer_leaves)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    unsigned port = server_port(producer);

    Pipeline staying1(consumer_src(port) + " ! fakesink name=out sync=false");
    Pipeline staying2(consumer_src(port) + " ! fakesink name=out sync=false");
    Pipeline leaving(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames1, frames2, frames_leaving;
    frames1.attach(staying1.element("out").get());
    frames2.attach(staying2.element("out").get());
    frames_leaving.attach(leaving.element("out").get());
    staying1.play();
    staying2.play();
    leaving.play();
    expect_buffers(frames1, kFrames, "consumer 1", {&producer, &staying1, &staying2, &leaving});
    expect_buffers(frames2, kFrames, "consumer 2", {&producer, &staying1, &staying2, &leaving});
    expect_buffers(frames_leaving, kFrames, "consumer 3", {&producer, &staying1, &staying2, &leaving});
    fail_unless(events.wait_added(3, kTimeout, {&producer}), "consumer-added fired %zu times, not 3",
                events.added().size());
    GRef<GstElement> sink = producer.element("sink");
    fail_unless_equals_int(elements_of_factory(sink.get(), "webrtcbin").size(), 3);
    std::vector<std::string> payloaders = elements_with_klass(sink.get(), {"Payloader"}, false);
    fail_unless(payloaders.size() == 3, "expected a payloader per consumer, found %s", join(payloaders).c_str());

    gint64 left_at = g_get_monotonic_time();
    leaving.stop();
    fail_unless(events.wait_removed(1, kTimeout, {&producer, &staying1, &staying2}),
                "consumer-removed did not fire after a consumer left");
    ConsumerEvents::Event gone = events.removed()[0];
    std::vector<std::string> added_peers = peer_ids(events.added());
    fail_unless(std::find(added_peers.begin(), added_peers.end(), gone.peer_id) != added_peers.end(),
                "consumer-removed names %s, which was never added", gone.peer_id.c_str());
    fail_unless(gone.webrtcbin_name.rfind("consumer-", 0) == 0, "consumer-removed gave webrtcbin %s",
                gone.webrtcbin_name.c_str());

    // The others go on, without a hiccup, for two more seconds.
    guint64 from1 = frames1.count(), from2 = frames2.count();
    expect_buffers(frames1, from1 + 60, "consumer 1 after the leave", {&producer, &staying1, &staying2});
    expect_buffers(frames2, from2 + 60, "consumer 2 after the leave", {&producer, &staying1, &staying2});
    gint64 gap1 = frames1.max_gap_after(left_at), gap2 = frames2.max_gap_after(left_at);
    fail_unless(gap1 < G_USEC_PER_SEC && gap2 < G_USEC_PER_SEC,
                "the staying consumers had gaps of %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT " ms after the leave",
                gap1 / 1000, gap2 / 1000);

    // Everything of the consumer that left is out of the bin.
    std::vector<std::string> children = child_names(sink.get());
    fail_unless(count_prefixed(children, gone.webrtcbin_name) == 0, "still in signalsink after %s left: %s",
                gone.webrtcbin_name.c_str(), join(children).c_str());
    fail_unless_equals_int(elements_of_factory(sink.get(), "webrtcbin").size(), 2);
    payloaders = elements_with_klass(sink.get(), {"Payloader"}, false);
    fail_unless(payloaders.size() == 2, "expected the payloaders of the two remaining consumers, found %s",
                join(payloaders).c_str());
    std::vector<std::string> staying;
    for (const std::string& peer : added_peers) {
        if (peer != gone.peer_id)
            staying.push_back(peer);
    }
    expect_stats(producer, staying, {&producer, &staying1, &staying2});

    staying1.stop();
    staying2.stop();
    producer.stop();
}
GST_END_TEST;

GST_START_TEST(test_no_consumers)
{
    SocketCheck sockets;
    Pipeline producer("videotestsrc name=src is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! " +
                      embedded_sink());
    BufferCounter upstream;
    upstream.attach(producer.element("src").get(), "src");
    producer.play();
    expect_buffers(upstream, 1, "videotestsrc", {&producer});

    // Five seconds with nobody watching is the test itself.
    guint64 start = upstream.count();
    GRef<GstMessage> error = producer.wait_message(GST_MESSAGE_ERROR, 5 * GST_SECOND);
    fail_if(error != nullptr, "%s", error ? message_text(error.get()).c_str() : "");
    guint64 end = upstream.count();
    fail_unless(end - start >= 100, "only %" G_GUINT64_FORMAT " frames went into signalsink in 5 s with no consumer",
                end - start);
    GstState state = GST_STATE_VOID_PENDING;
    gst_element_get_state(producer.get(), &state, nullptr, 0);
    fail_unless(state == GST_STATE_PLAYING, "the producer is %s", gst_element_state_get_name(state));
    std::string stats = stats_text(producer.element("sink").get());
    fail_unless_equals_string(stats.c_str(), "application/x-signalsink-stats;");

    producer.stop();
}
GST_END_TEST;

// ---- signalling --------------------------------------------------------------------

GST_START_TEST(test_wrong_server_url)
{
    SocketCheck sockets;
    const char* url = "ws://127.0.0.1:1";
    const GstClockTime connect_timeout = 2 * GST_SECOND;
    for (const char* launch : {"videotestsrc is-live=true ! signalsink name=el server-url=ws://127.0.0.1:1 "
                               "connect-timeout=2000",
                               "signalsrc name=el server-url=ws://127.0.0.1:1 connect-timeout=2000 ! fakesink"}) {
        Pipeline pipeline(launch);
        GRef<GstElement> element = pipeline.element("el");
        gint64 started = g_get_monotonic_time();
        gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
        GRef<GstMessage> error = pipeline.wait_message(GST_MESSAGE_ERROR, connect_timeout + 10 * GST_SECOND);
        gint64 took_ms = (g_get_monotonic_time() - started) / 1000;
        fail_unless(error != nullptr, "\"%s\": no error within %" G_GINT64_FORMAT " ms", launch, took_ms);
        std::string text = message_text(error.get());
        fail_unless(GST_MESSAGE_SRC(error.get()) == GST_OBJECT(element.get()), "the error came from %s: %s",
                    GST_MESSAGE_SRC_NAME(error.get()), text.c_str());
        fail_unless(text.find(url) != std::string::npos, "the error does not name %s: %s", url, text.c_str());
        pipeline.stop();
    }
}
GST_END_TEST;

GST_START_TEST(test_server_restart)
{
    SocketCheck sockets;
    TestServer server;
    server.start();
    unsigned port = server.port();
    Pipeline producer(std::string(kVideoSource) + " ! signalsink name=sink server-url=" + server.url() +
                      " meta=\"meta,name=cam\"");
    ConsumerEvents events(producer.element("sink").get());
    GRef<GstElement> sink = producer.element("sink");
    producer.play();

    Pipeline before(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames_before;
    frames_before.attach(before.element("out").get());
    before.play();
    expect_buffers(frames_before, kFrames, "consumer before the restart", {&producer, &before});

    server.stop();
    GRef<GstMessage> lost = producer.wait_message(GST_MESSAGE_WARNING, kTimeout, sink.get());
    fail_unless(lost != nullptr, "signalsink posted no warning when the server went away");
    server.start(port);
    GRef<GstMessage> again;
    std::string seen;
    while ((again = producer.wait_message(GST_MESSAGE_WARNING, kTimeout, sink.get()))) {
        std::string text = message_text(again.get());
        if (text.find("Reconnected") != std::string::npos)
            break;
        seen += text + "\n";
    }
    fail_unless(again != nullptr, "signalsink did not say it registered again; its warnings:\n%s%s",
                message_text(lost.get()).c_str(), seen.c_str());

    Pipeline after(consumer_src(port) + " ! fakesink name=out sync=false");
    BufferCounter frames_after;
    frames_after.attach(after.element("out").get());
    after.play();
    expect_buffers(frames_after, kFrames, "consumer after the restart", {&producer, &before, &after});
    expect_media(frames_after, "video/x-raw");
    fail_unless(events.wait_added(2, kTimeout, {&producer}), "consumer-added fired %zu times, not 2",
                events.added().size());

    after.stop();
    before.stop();
    producer.stop();
    server.stop();
}
GST_END_TEST;

GST_START_TEST(test_eos_on_leave)
{
    SocketCheck sockets;
    TestServer server;
    server.start();
    Pipeline producer(std::string(kVideoSource) + " ! signalsink name=sink server-url=" + server.url() +
                      " meta=\"meta,name=cam\"");
    producer.play();
    Pipeline consumer(consumer_src(server.port(), "eos-on-leave=true") + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});

    producer.stop();
    GRef<GstMessage> eos = consumer.wait_message(GST_MESSAGE_EOS, kTimeout);
    fail_unless(eos != nullptr, "signalsrc eos-on-leave=true gave no EOS when the producer stopped");
    eos.reset(); // it holds the pipeline

    consumer.stop();
    server.stop();
}
GST_END_TEST;

GST_START_TEST(test_eos_on_leave_embedded_server)
{
    // The producer that leaves also hosts the server.
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port, "eos-on-leave=true") + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});

    producer.stop();
    GRef<GstMessage> eos = consumer.wait_message(GST_MESSAGE_EOS, kTimeout);
    fail_unless(eos != nullptr, "signalsrc eos-on-leave=true gave no EOS when the producer (and server) stopped");
    eos.reset(); // it holds the pipeline

    consumer.stop();
}
GST_END_TEST;

// ---- control channel ---------------------------------------------------------------

namespace {

// The navigation events that reach a pad from downstream.
class NavigationWatch {
public:
    explicit NavigationWatch(GstPad* pad) : pad_(take_ref(pad))
    {
        probe_ = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, &NavigationWatch::on_event, this, nullptr);
    }
    ~NavigationWatch() { gst_pad_remove_probe(pad_.get(), probe_); }
    NavigationWatch(const NavigationWatch&) = delete;
    NavigationWatch& operator=(const NavigationWatch&) = delete;

    std::vector<GRef<GstEvent>> events() const
    {
        std::lock_guard<std::mutex> guard(lock_);
        return events_;
    }

private:
    static GstPadProbeReturn on_event(GstPad*, GstPadProbeInfo* info, gpointer data)
    {
        GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
        if (GST_EVENT_TYPE(event) == GST_EVENT_NAVIGATION) {
            auto* self = static_cast<NavigationWatch*>(data);
            std::lock_guard<std::mutex> guard(self->lock_);
            self->events_.push_back(take_ref(event));
        }
        return GST_PAD_PROBE_OK;
    }

    GRef<GstPad> pad_;
    gulong probe_ = 0;
    mutable std::mutex lock_;
    std::vector<GRef<GstEvent>> events_;
};

} // namespace

// signalsink (with `sink_extra`) fed by a source whose src pad is watched for
// navigation, and signalsrc receiving it into fakesink "out", 30 frames in.
struct NavigationPair {
    explicit NavigationPair(const std::string& sink_extra)
        : producer(std::string("videotestsrc is-live=true name=camera ! "
                               "video/x-raw,width=320,height=240,framerate=30/1 ! ") +
                   embedded_sink(sink_extra)),
          camera(adopt_ref(gst_element_get_static_pad(producer.element("camera").get(), "src"))),
          watch(camera.get())
    {
        producer.play();
        consumer = std::make_unique<Pipeline>(consumer_src(server_port(producer)) + " ! fakesink name=out sync=false");
        frames.attach(consumer->element("out").get());
        consumer->play();
        expect_buffers(frames, kFrames, "decoded video", {&producer, consumer.get()});
        out = adopt_ref(gst_element_get_static_pad(consumer->element("out").get(), "sink"));
    }
    ~NavigationPair()
    {
        consumer->stop();
        producer.stop();
    }
    // A navigation event from downstream of signalsrc, as a video sink's window sends it.
    void point(double x, double y, GstNavigationModifierType state)
    {
        gst_pad_push_event(out.get(), gst_navigation_event_new_mouse_move(x, y, state));
    }

    SocketCheck sockets;
    Pipeline producer;
    GRef<GstPad> camera;
    NavigationWatch watch;
    std::unique_ptr<Pipeline> consumer;
    BufferCounter frames;
    GRef<GstPad> out;
};

// A pointer moved over signalsrc's output (as a video sink's window sends
// it) reaches the element upstream of signalsink, through the control
// channel signalsink opened, with its coordinates and modifiers.
GST_START_TEST(test_navigation_reaches_producer)
{
    NavigationPair pair("enable-control-data-channel=true");
    // Sent until one arrives: the channel opens after the media flows.
    auto shift = GST_NAVIGATION_MODIFIER_SHIFT_MASK;
    bool arrived = wait_until(
        [&] {
            pair.point(100, 50, shift);
            return !pair.watch.events().empty();
        },
        kTimeout, {&pair.producer, pair.consumer.get()});
    fail_unless(arrived, "no navigation event reached the producer's source");
    GRef<GstEvent> first = pair.watch.events().front();
    GstEvent* event = first.get();
    fail_unless_equals_int(gst_navigation_event_get_type(event), GST_NAVIGATION_EVENT_MOUSE_MOVE);
    double x = 0, y = 0;
    GstNavigationModifierType state = GST_NAVIGATION_MODIFIER_NONE;
    fail_unless(gst_navigation_event_parse_mouse_move_event(event, &x, &y), "not a mouse move");
    fail_unless(gst_navigation_event_parse_modifier_state(event, &state), "no modifier state");
    fail_unless(x == 100 && y == 50, "the pointer arrived at %f,%f", x, y);
    fail_unless_equals_int(state, shift);
}
GST_END_TEST;

// Without the property no channel is opened, and navigation stays local.
GST_START_TEST(test_no_control_channel_by_default)
{
    NavigationPair pair("");
    for (int i = 0; i < 10; ++i)
        pair.point(1, 1, GST_NAVIGATION_MODIFIER_NONE);
    // Another 30 frames: time for an event that was sent to arrive.
    expect_buffers(pair.frames, 2 * kFrames, "decoded video", {&pair.producer, pair.consumer.get()});
    fail_unless_equals_int(pair.watch.events().size(), 0);
}
GST_END_TEST;

namespace {

// What arrived on an element's app-message and app-data signals.
struct AppInbox {
    std::mutex lock;
    std::vector<std::string> texts;   // "peer: text" on signalsink, "text" on signalsrc
    std::vector<std::string> data;    // the bytes, as a string
    std::vector<std::string> labels;  // data channels a webrtcbin was offered (on-data-channel)

    bool has_text(const std::string& t)
    {
        std::lock_guard<std::mutex> guard(lock);
        return std::find(texts.begin(), texts.end(), t) != texts.end();
    }
    bool has_data(const std::string& d)
    {
        std::lock_guard<std::mutex> guard(lock);
        return std::find(data.begin(), data.end(), d) != data.end();
    }
    bool has_label(const std::string& l)
    {
        std::lock_guard<std::mutex> guard(lock);
        return std::find(labels.begin(), labels.end(), l) != labels.end();
    }
};

std::string bytes_text(GBytes* bytes)
{
    gsize size = 0;
    const char* p = static_cast<const char*>(g_bytes_get_data(bytes, &size));
    return std::string(p ? p : "", size);
}

} // namespace

// The application's channel: text and binary messages both ways between
// signalsink (per consumer) and signalsrc.
GST_START_TEST(test_app_messages_both_ways)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink("app-data-channel=app"));
    GRef<GstElement> sink = producer.element("sink");
    AppInbox at_sink, at_src;
    g_signal_connect(sink.get(), "app-message", G_CALLBACK(+[](GstElement*, const char* peer, const char* text, gpointer d) {
                         auto* inbox = static_cast<AppInbox*>(d);
                         std::lock_guard<std::mutex> guard(inbox->lock);
                         inbox->texts.push_back(std::string(peer) + ": " + text);
                     }),
                     &at_sink);
    g_signal_connect(sink.get(), "app-data", G_CALLBACK(+[](GstElement*, const char*, GBytes* bytes, gpointer d) {
                         auto* inbox = static_cast<AppInbox*>(d);
                         std::lock_guard<std::mutex> guard(inbox->lock);
                         inbox->data.push_back(bytes_text(bytes));
                     }),
                     &at_sink);
    producer.play();
    unsigned port = server_port(producer);

    Pipeline consumer(consumer_src(port, "app-data-channel=app") + " ! fakesink name=out sync=false");
    GRef<GstElement> src = consumer.element("src");
    g_signal_connect(src.get(), "app-message", G_CALLBACK(+[](GstElement*, const char* text, gpointer d) {
                         auto* inbox = static_cast<AppInbox*>(d);
                         std::lock_guard<std::mutex> guard(inbox->lock);
                         inbox->texts.push_back(text);
                     }),
                     &at_src);
    g_signal_connect(src.get(), "app-data", G_CALLBACK(+[](GstElement*, GBytes* bytes, gpointer d) {
                         auto* inbox = static_cast<AppInbox*>(d);
                         std::lock_guard<std::mutex> guard(inbox->lock);
                         inbox->data.push_back(bytes_text(bytes));
                     }),
                     &at_src);
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded video", {&producer, &consumer});

    // Sent until the channel is open and it goes out.
    auto send_until = [&](GstElement* element, const char* signal, auto... args) {
        return wait_until(
            [&] {
                gboolean sent = FALSE;
                g_signal_emit_by_name(element, signal, args..., &sent);
                return sent == TRUE;
            },
            kTimeout, {&producer, &consumer});
    };
    fail_unless(send_until(src.get(), "send-app-message", "hello from signalsrc"), "signalsrc could not send");
    fail_unless(send_until(sink.get(), "send-app-message", static_cast<const char*>(nullptr), "hello from signalsink"),
                "signalsink could not send");
    GRef<GBytes> up = adopt_ref(g_bytes_new_static("\x01\x02" "up", 4));
    GRef<GBytes> down = adopt_ref(g_bytes_new_static("\x03\x04" "down", 6));
    fail_unless(send_until(src.get(), "send-app-data", up.get()), "signalsrc could not send bytes");
    fail_unless(send_until(sink.get(), "send-app-data", static_cast<const char*>(nullptr), down.get()),
                "signalsink could not send bytes");
    std::string peer;
    fail_unless(wait_until(
                    [&] {
                        std::lock_guard<std::mutex> guard(at_sink.lock);
                        for (const std::string& t : at_sink.texts) {
                            size_t colon = t.find(": hello from signalsrc");
                            if (colon != std::string::npos)
                                peer = t.substr(0, colon);
                        }
                        return !peer.empty();
                    },
                    kTimeout, {&producer, &consumer}),
                "signalsink never heard signalsrc");
    fail_unless(wait_until([&] { return at_src.has_text("hello from signalsink"); }, kTimeout, {&producer, &consumer}),
                "signalsrc never heard signalsink");
    fail_unless(wait_until([&] { return at_sink.has_data("\x01\x02" "up"); }, kTimeout, {&producer, &consumer}),
                "signalsink never got the bytes");
    fail_unless(wait_until([&] { return at_src.has_data("\x03\x04" "down"); }, kTimeout, {&producer, &consumer}),
                "signalsrc never got the bytes");
    // To that consumer by its peer id, and to nobody by another.
    fail_unless(send_until(sink.get(), "send-app-message", peer.c_str(), "just for you"), "not sent to %s", peer.c_str());
    fail_unless(wait_until([&] { return at_src.has_text("just for you"); }, kTimeout, {&producer, &consumer}),
                "signalsrc never heard the message for its peer id");
    gboolean sent = TRUE;
    g_signal_emit_by_name(sink.get(), "send-app-message", "nobody", "lost", &sent);
    fail_unless(!sent, "sent to a peer id nobody has");

    consumer.stop();
    producer.stop();
}
GST_END_TEST;

// consumer-added comes before negotiation: a data channel its handler opens
// is in the offer (nothing else here makes an SCTP m-line) and reaches the
// consumer.
GST_START_TEST(test_consumer_added_before_negotiation)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink());
    GRef<GstElement> sink = producer.element("sink");
    g_signal_connect(sink.get(), "consumer-added", G_CALLBACK(+[](GstElement*, const char*, GstElement* webrtc, gpointer) {
                         // A handler that takes its time (not a wait for anything): had
                         // negotiation started before it, the offer would be made meanwhile,
                         // without the channel.
                         g_usleep(300 * 1000);
                         GObject* channel = nullptr;
                         g_signal_emit_by_name(webrtc, "create-data-channel", "opened-in-consumer-added", nullptr,
                                               &channel);
                         if (channel)
                             g_object_unref(channel);
                     }),
                     nullptr);
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port) + " ! fakesink name=out sync=false");
    GRef<GstElement> src = consumer.element("src");
    AppInbox at_src;
    g_signal_connect(src.get(), "deep-element-added", G_CALLBACK(+[](GstBin*, GstBin*, GstElement* e, gpointer d) {
                         GstElementFactory* f = gst_element_get_factory(e);
                         if (!f || g_strcmp0(GST_OBJECT_NAME(f), "webrtcbin") != 0)
                             return;
                         g_signal_connect(e, "on-data-channel", G_CALLBACK(+[](GstElement*, GObject* c, gpointer d) {
                                              auto* inbox = static_cast<AppInbox*>(d);
                                              char* label = nullptr;
                                              g_object_get(c, "label", &label, nullptr);
                                              std::lock_guard<std::mutex> guard(inbox->lock);
                                              inbox->labels.push_back(label ? label : "");
                                              g_free(label);
                                          }),
                                          d);
                     }),
                     &at_src);
    consumer.play();
    fail_unless(wait_until([&] { return at_src.has_label("opened-in-consumer-added"); }, kTimeout,
                           {&producer, &consumer}),
                "the channel opened in consumer-added never reached the consumer");
    consumer.stop();
    producer.stop();
}
GST_END_TEST;

// Every packet names its m-line (RFC 8843 mid header extension, as offered
// and answered), so that stacks that route bundled RTP by MID find it.
GST_START_TEST(test_mid_in_every_packet)
{
    SocketCheck sockets;
    Pipeline producer(std::string(kVideoSource) + " ! " + embedded_sink() + " " + kAudioSource + " ! sink.");
    producer.play();
    unsigned port = server_port(producer);
    Pipeline consumer(consumer_src(port) + " src. ! fakesink name=out sync=false  src. ! fakesink sync=false");
    struct Seen {
        std::mutex lock;
        std::map<std::string, std::set<std::string>> mids; // depayloader -> mids ("" none)
    } seen;
    g_signal_connect(consumer.element("src").get(), "deep-element-added",
                     G_CALLBACK(+[](GstBin*, GstBin*, GstElement* e, gpointer d) {
                         GstElementFactory* f = gst_element_get_factory(e);
                         if (!f || !g_str_has_suffix(GST_OBJECT_NAME(f), "depay"))
                             return;
                         GRef<GstPad> pad = adopt_ref(gst_element_get_static_pad(e, "sink"));
                         gst_pad_add_probe(
                             pad.get(), GST_PAD_PROBE_TYPE_BUFFER,
                             [](GstPad* pad, GstPadProbeInfo* info, gpointer d) {
                                 auto* seen = static_cast<Seen*>(d);
                                 GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
                                 if (!gst_rtp_buffer_map(GST_PAD_PROBE_INFO_BUFFER(info), GST_MAP_READ, &rtp))
                                     return GST_PAD_PROBE_OK;
                                 gpointer data = nullptr;
                                 guint size = 0;
                                 std::string mid;
                                 if (gst_rtp_buffer_get_extension_onebyte_header(&rtp, kMidId, 0, &data, &size))
                                     mid.assign(static_cast<const char*>(data), size);
                                 gst_rtp_buffer_unmap(&rtp);
                                 GRef<GstElement> depay = adopt_ref(gst_pad_get_parent_element(pad));
                                 std::lock_guard<std::mutex> guard(seen->lock);
                                 seen->mids[GST_OBJECT_NAME(gst_element_get_factory(depay.get()))].insert(mid);
                                 return GST_PAD_PROBE_OK;
                             },
                             d, nullptr);
                     }),
                     &seen);
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded stream", {&producer, &consumer});
    // Stopped first: with the lock held, a probe waiting for it would keep
    // its streaming thread, and so stop(), waiting for ever.
    consumer.stop();
    std::lock_guard<std::mutex> guard(seen.lock);
    fail_unless_equals_int(seen.mids.size(), 2);
    for (const auto& [depay, mids] : seen.mids) {
        fail_unless_equals_int(mids.size(), 1);
        const std::string& mid = *mids.begin();
        fail_unless(mid == (depay == "rtpopusdepay" ? "audio1" : "video0"), "%s packets carry mid \"%s\"",
                    depay.c_str(), mid.c_str());
    }
    producer.stop();
}
GST_END_TEST;

// signalsink publishing by WHIP (whip-endpoint) to signalbin-server's
// /whip/<name>, and signalsrc watching it there: the same frames as over our
// protocol; stopping signalsink DELETEs the session, so the producer goes.
GST_START_TEST(test_whip_publish)
{
    TestServer server;
    server.start();
    std::string endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/whip/cam";
    Pipeline producer(std::string(kVideoSource) + " ! signalsink name=sink whip-endpoint=" + endpoint);
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    Pipeline consumer(consumer_src(server.port(), "eos-on-leave=true") + " ! fakesink name=out sync=false");
    BufferCounter frames;
    frames.attach(consumer.element("out").get());
    consumer.play();
    expect_buffers(frames, kFrames, "decoded video published by WHIP", {&producer, &consumer});
    expect_media(frames, "video/x-raw");
    fail_unless(events.wait_added(1, kTimeout, {&producer, &consumer}), "consumer-added never fired");
    fail_unless(events.added()[0].peer_id == "whip", "the WHIP consumer's peer id is %s",
                events.added()[0].peer_id.c_str());
    producer.stop();
    // DELETE ended the session: signalsrc hears the producer leave (EOS).
    GRef<GstMessage> eos = consumer.wait_message(GST_MESSAGE_EOS, kTimeout);
    fail_unless(eos != nullptr, "signalsrc did not see the WHIP producer go");
    eos.reset(); // it holds the pipeline
    consumer.stop();
}
GST_END_TEST;

// What goes wrong with a WHIP endpoint is an element error naming it.
GST_START_TEST(test_whip_errors)
{
    TestServer server;
    server.start();
    std::string base = "http://127.0.0.1:" + std::to_string(server.port());
    struct Case {
        std::string endpoint;
        const char* says;
    };
    // A name a connected producer has: 409.
    Pipeline taken(std::string(kVideoSource) + " ! signalsink name=sink server-url=" + server.url() +
                   " meta=\"meta,name=cam\"");
    taken.play();
    const Case cases[] = {
        {base + "/whip/cam", "HTTP 409"},
        {base + "/whip/", "HTTP 404"},
        {"http://127.0.0.1:1/whip/cam", "Could not publish to the WHIP endpoint http://127.0.0.1:1/whip/cam"},
        {"ftp://127.0.0.1/whip", "must be an http:// or https:// URL"},
    };
    for (const Case& c : cases) {
        Pipeline pipeline(std::string(kVideoSource) + " ! signalsink name=el whip-endpoint=" + c.endpoint);
        GRef<GstElement> element = pipeline.element("el");
        gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
        GRef<GstMessage> error = pipeline.wait_message(GST_MESSAGE_ERROR, kTimeout);
        fail_unless(error != nullptr, "%s: no error", c.endpoint.c_str());
        std::string text = message_text(error.get());
        fail_unless(GST_MESSAGE_SRC(error.get()) == GST_OBJECT(element.get()), "the error came from %s",
                    GST_MESSAGE_SRC_NAME(error.get()));
        fail_unless(text.find(c.says) != std::string::npos, "%s: the error says %s", c.endpoint.c_str(),
                    text.c_str());
        pipeline.stop();
    }
    taken.stop();
}
GST_END_TEST;

// signalsrc playing by WHEP (whep-endpoint) from signalbin-server's
// /whep/<producer>: it offers, signalsink answers as to any consumer; both
// kinds of media decoded; stopping signalsrc DELETEs the session, so the
// producer's consumer goes.
GST_START_TEST(test_whep_play)
{
    TestServer server;
    server.start();
    Pipeline producer(std::string(kVideoSource) + " ! signalsink name=sink server-url=" + server.url() +
                      " meta=\"meta,name=cam\" " + kAudioSource + " ! sink.");
    ConsumerEvents events(producer.element("sink").get());
    producer.play();
    std::string endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/whep/cam";
    Pipeline consumer("signalsrc name=src whep-endpoint=" + endpoint +
                      " src. ! video/x-raw ! fakesink name=video sync=false src. ! audio/x-raw ! fakesink name=audio "
                      "sync=false");
    BufferCounter frames, samples;
    frames.attach(consumer.element("video").get());
    samples.attach(consumer.element("audio").get());
    consumer.play();
    expect_buffers(frames, kFrames, "video played by WHEP", {&producer, &consumer});
    expect_buffers(samples, 10, "audio played by WHEP", {&producer, &consumer});
    fail_unless(events.wait_added(1, kTimeout, {&producer, &consumer}), "consumer-added never fired");
    fail_unless(events.added()[0].peer_id.rfind("whep-", 0) == 0, "the WHEP player's peer id is %s",
                events.added()[0].peer_id.c_str());
    consumer.stop();
    fail_unless(events.wait_removed(1, kTimeout, {&producer}), "the WHEP consumer did not go after DELETE");
    producer.stop();
}
GST_END_TEST;

// What goes wrong with a WHEP endpoint is an element error naming it.
GST_START_TEST(test_whep_errors)
{
    TestServer server;
    server.start();
    std::string base = "http://127.0.0.1:" + std::to_string(server.port());
    const std::pair<std::string, const char*> cases[] = {
        {base + "/whep/nobody", "HTTP 404"},
        {"http://127.0.0.1:1/whep/cam", "Could not play from the WHEP endpoint http://127.0.0.1:1/whep/cam"},
        {"ws://127.0.0.1/whep/cam", "must be an http:// or https:// URL"},
    };
    for (const auto& [endpoint, says] : cases) {
        Pipeline pipeline("signalsrc name=el whep-endpoint=" + endpoint + " ! fakesink");
        GRef<GstElement> element = pipeline.element("el");
        gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
        GRef<GstMessage> error = pipeline.wait_message(GST_MESSAGE_ERROR, kTimeout);
        fail_unless(error != nullptr, "%s: no error", endpoint.c_str());
        std::string text = message_text(error.get());
        fail_unless(GST_MESSAGE_SRC(error.get()) == GST_OBJECT(element.get()), "the error came from %s",
                    GST_MESSAGE_SRC_NAME(error.get()));
        fail_unless(text.find(says) != std::string::npos, "%s: the error says %s", endpoint.c_str(), text.c_str());
        pipeline.stop();
    }
}
GST_END_TEST;

static Suite* elements_suite()
{
    Suite* s = suite_create("elements");
    auto add = [s](const char* name) { return element_tcase(s, name); };

    TCase* tc = add("streams");
    tcase_add_test(tc, test_video);
    tcase_add_test(tc, test_audio);
    tcase_add_test(tc, test_video_and_audio);
    tcase_add_test(tc, test_h264_input);
    tcase_add_test(tc, test_list_properties);
    tcase_add_test(tc, test_vp8_preferred);
    tcase_add_test(tc, test_mid_in_every_packet);

    tc = add("consumers");
    tcase_add_test(tc, test_three_consumers_one_encoder);
    tcase_add_test(tc, test_consumer_leaves);
    tcase_add_test(tc, test_no_consumers);

    tc = add("signalling");
    tcase_add_test(tc, test_wrong_server_url);
    tcase_add_test(tc, test_server_restart);
    tcase_add_test(tc, test_eos_on_leave);
    tcase_add_test(tc, test_eos_on_leave_embedded_server);

    tc = add("control");
    tcase_add_test(tc, test_navigation_reaches_producer);
    tcase_add_test(tc, test_no_control_channel_by_default);
    tcase_add_test(tc, test_app_messages_both_ways);
    tcase_add_test(tc, test_consumer_added_before_negotiation);

    tc = add("whip");
    tcase_add_test(tc, test_whip_publish);
    tcase_add_test(tc, test_whip_errors);
    tcase_add_test(tc, test_whep_play);
    tcase_add_test(tc, test_whep_errors);
    return s;
}

GST_CHECK_MAIN(elements);
