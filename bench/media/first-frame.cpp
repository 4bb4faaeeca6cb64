// first-frame: time from a receiving pipeline reaching PLAYING to its first
// decoded video buffer, against a sender that is already running.
//   A: signalsrc producer-name=bench ! fakesink, against signalsink (720p30
//      videotestsrc) registered with the project's server in this process.
//   B: webrtcbin (defaults) -> decodebin -> fakesink, against a webrtcbin
//      sender (x264enc tune=zerolatency), offer/answer/ICE exchanged directly.
// Each repeat runs A and B, alternating which goes first. Each side starts
// its own sender afresh and lets it run `--warmup-ms` before the receiver
// starts, so during every measurement exactly one encoder runs.
#include "baseline.h"
#include "commands.h"
#include "local-server.h"

#include <iostream>

namespace signalbin::bench {

namespace {

struct Attempt {
    double ms = -1; // < 0: failed
    std::string error;
    std::string state_change; // what set_state(PLAYING) said for the receiver
};

const char* state_change_name(GstStateChangeReturn r)
{
    return gst_element_state_change_return_get_name(r);
}

// Waits until an x264enc inside `bin` has produced a buffer.
bool wait_encoder_output(GstElement* bin, gint64 timeout_us, const std::vector<Pipeline*>& watch,
                         BufferCount& counter)
{
    std::vector<GRef<GstElement>> encoders;
    if (!wait_until(
            [&] {
                encoders = elements_of_factory(bin, "x264enc");
                return !encoders.empty();
            },
            timeout_us, watch, 10))
        return false;
    GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(encoders[0].get(), "src"));
    counter.attach(src.get());
    return wait_until([&] { return counter.count() > 0; }, timeout_us, watch, 10);
}

Attempt run_signalbin(LocalServer& server, const VideoFormat& format, gint64 warmup_us, gint64 timeout_us)
{
    Attempt a;
    Pipeline producer(format.source() + " ! signalsink name=sink server-url=" + server.url() +
                          " meta=\"meta,name=bench\" " + loopback_ice(),
                      "producer");
    gint64 started = now_us();
    producer.play();
    BufferCount encoded;
    if (!wait_encoder_output(producer.get(), timeout_us, {&producer}, encoded))
        throw BenchError("signalsink's encoder produced nothing");
    if (!wait_until([&] { return server.peer_count() >= 1; }, timeout_us, {&producer}, 10))
        throw BenchError("signalsink did not connect to the server");
    sleep_checking(std::max<gint64>(0, started + warmup_us - now_us()), {&producer});

    Pipeline consumer("signalsrc name=src producer-name=bench server-url=" + server.url() + " " + loopback_ice() +
                          " ! fakesink name=out",
                      "consumer");
    GRef<GstElement> out = consumer.element("out");
    GRef<GstPad> pad = adopt_ref(gst_element_get_static_pad(out.get(), "sink"));
    FirstBuffer first;
    first.attach(pad.get(), "video/x-raw");
    GST_CAT_INFO(bench_debug, "A: consumer to PLAYING");
    GstStateChangeReturn ret = consumer.play();
    gint64 t0 = now_us();
    GST_CAT_INFO(bench_debug, "A: t0");
    a.state_change = state_change_name(ret);
    try {
        if (wait_until([&] { return first.time_us() != 0; }, timeout_us, {&producer, &consumer}, 2))
            a.ms = static_cast<double>(first.time_us() - t0) / 1000.0;
        else
            a.error = "no decoded frame within the timeout";
        GST_CAT_INFO(bench_debug, "A: first frame after %.1f ms", a.ms);
    } catch (const BenchError& e) {
        a.error = e.what();
    }
    consumer.stop();
    producer.stop();
    return a;
}

Attempt run_baseline(const VideoFormat& format, gint64 warmup_us, gint64 timeout_us)
{
    Attempt a;
    BaselinePair pair;
    gint64 started = now_us();
    pair.start_sender(format.source());
    BufferCount encoded;
    if (!wait_encoder_output(pair.sender()->get(), timeout_us, {pair.sender()}, encoded))
        throw BenchError("the baseline sender's encoder produced nothing");
    sleep_checking(std::max<gint64>(0, started + warmup_us - now_us()), {pair.sender()});

    pair.build_receiver("fakesink name=out");
    GRef<GstElement> out = pair.receiver()->element("out");
    GRef<GstPad> pad = adopt_ref(gst_element_get_static_pad(out.get(), "sink"));
    FirstBuffer first;
    first.attach(pad.get(), "video/x-raw");
    GST_CAT_INFO(bench_debug, "B: receiver to PLAYING");
    GstStateChangeReturn ret = pair.play_receiver();
    gint64 t0 = now_us();
    GST_CAT_INFO(bench_debug, "B: t0");
    a.state_change = state_change_name(ret);
    pair.negotiate();
    try {
        if (wait_until([&] { return first.time_us() != 0 || !pair.error().empty(); }, timeout_us,
                       {pair.sender(), pair.receiver()}, 2) &&
            first.time_us() != 0)
            a.ms = static_cast<double>(first.time_us() - t0) / 1000.0;
        else
            a.error = pair.error().empty() ? "no decoded frame within the timeout" : pair.error();
        GST_CAT_INFO(bench_debug, "B: first frame after %.1f ms", a.ms);
    } catch (const BenchError& e) {
        a.error = e.what();
    }
    pair.stop();
    return a;
}

Json side_json(const std::vector<Attempt>& attempts)
{
    std::vector<double> ms;
    Json all = Json::array();
    Json errors = Json::array();
    Json states = Json::array();
    for (const Attempt& a : attempts) {
        all.push(a.ms >= 0 ? Json(a.ms) : Json());
        states.push(a.state_change);
        if (a.ms >= 0)
            ms.push_back(a.ms);
        else
            errors.push(a.error);
    }
    Json j = Json::object();
    j.set("ms", all).set("summary", to_json(summarize(ms))).set("failures", errors).set("set_state", states);
    return j;
}

} // namespace

Json first_frame(const Args& args)
{
    args.only({"repeats", "warmup-ms", "timeout-s", "only"});
    VideoFormat format = video_format(args);
    long repeats = args.integer("repeats", 20);
    gint64 warmup_us = args.integer("warmup-ms", 500) * 1000;
    gint64 timeout_us = args.integer("timeout-s", 20) * G_USEC_PER_SEC;
    std::string only = args.string("only", "");
    if (repeats < 1 || repeats > 1000)
        throw BenchError("--repeats must be 1..1000");

    LocalServer server;
    // One round kept apart: the first session of a process loads plugins,
    // makes the process's DTLS certificate and warms caches ("cold").
    Attempt cold_a, cold_b;
    if (only != "baseline")
        cold_a = run_signalbin(server, format, warmup_us, timeout_us);
    if (only != "signalbin")
        cold_b = run_baseline(format, warmup_us, timeout_us);
    std::vector<Attempt> a, b;
    std::vector<double> ratios;
    for (long r = 0; r < repeats; ++r) {
        bool a_first = r % 2 == 0;
        Attempt ra, rb;
        for (int step = 0; step < 2; ++step) {
            bool do_a = (step == 0) == a_first;
            if (do_a && only != "baseline")
                ra = run_signalbin(server, format, warmup_us, timeout_us);
            else if (!do_a && only != "signalbin")
                rb = run_baseline(format, warmup_us, timeout_us);
        }
        std::cerr << "first-frame " << r + 1 << "/" << repeats << ": signalbin " << ra.ms << " ms, baseline " << rb.ms
                  << " ms" << (ra.error.empty() ? "" : " [A: " + ra.error + "]")
                  << (rb.error.empty() ? "" : " [B: " + rb.error + "]") << std::endl;
        if (only != "baseline")
            a.push_back(ra);
        if (only != "signalbin")
            b.push_back(rb);
        if (ra.ms > 0 && rb.ms > 0)
            ratios.push_back(rb.ms / ra.ms);
    }

    Json j = Json::object();
    j.set("command", "first-frame")
        .set("width", format.width)
        .set("height", format.height)
        .set("fps", format.fps)
        .set("repeats", repeats)
        .set("warmup_ms", static_cast<long>(warmup_us / 1000))
        .set("signalbin", side_json(a))
        .set("baseline", side_json(b))
        .set("ratio_baseline_over_signalbin", min_median_max(ratios))
        .set("cold_first_session_ms", Json::object()
                                          .set("signalbin", cold_a.ms >= 0 ? Json(cold_a.ms) : Json())
                                          .set("baseline", cold_b.ms >= 0 ? Json(cold_b.ms) : Json()));
    return j;
}

} // namespace signalbin::bench
