// latency: end-to-end latency of every frame, in one process and one clock.
// The sender numbers each raw I420 frame right after videotestsrc (frame-id.h)
// and notes the time; the receiver reads the number back from each decoded
// I420 frame:
//   decoded   = arrival at a fakesink sync=false right after the decoder;
//   displayed = handoff of a fakesink sync=true on a parallel branch: when a
//               video sink would show it, i.e. after the pipeline latency
//               (jitterbuffer latency + the sink's processing deadline).
//   A: videotestsrc ! signalsink  ->  signalsrc ! videoconvert ! I420 ! fakesink
//   B: the baseline pair of baseline.h, decodebin ! videoconvert ! I420 ! fakesink
// Repeats alternate which side goes first; each side builds its own sender
// and receiver, waits for frames, lets `--settle-s` pass (start-up bursts),
// then records for `--seconds`.
#include "baseline.h"
#include "commands.h"
#include "frame-id.h"
#include "local-server.h"

#include <iostream>

namespace signalbin::bench {

namespace {

// Decoded frames go two ways: to a sink that does not wait ("decoded": when
// the frame leaves the decoder) and, through a queue, to one that waits for
// the clock like a video sink ("displayed").
// `deadline`: the displaying sink's processing-deadline (ms), or "" for
// basesink's default (20 ms), as a real video sink would have.
std::string tail(const std::string& deadline)
{
    std::string d = deadline.empty() ? "" : " processing-deadline=" + std::to_string(std::stoll(deadline) * GST_MSECOND);
    return "videoconvert name=in ! video/x-raw,format=I420 ! tee name=t "
           "t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! fakesink name=out sync=true "
           "signal-handoffs=true" +
           d + " t. ! fakesink name=decoded sync=false";
}

struct Knobs {
    std::string src_latency;   // signalsrc latency (ms), "" for its default
    std::string sink_deadline; // see tail()
};

struct Run {
    std::string error;
    FrameLatency::Samples samples;
    uint64_t stamped = 0;           // frames numbered while recording
    double receiver_latency_ms = -1; // the receiving pipeline's latency query
};

double pipeline_latency_ms(GstElement* pipeline)
{
    GstQuery* query = gst_query_new_latency();
    double ms = -1;
    if (gst_element_query(pipeline, query)) {
        gboolean live = FALSE;
        GstClockTime min = 0, max = 0;
        gst_query_parse_latency(query, &live, &min, &max);
        ms = static_cast<double>(min) / GST_MSECOND;
    }
    gst_query_unref(query);
    return ms;
}

// Waits for frames, settles, records. Fills `run`.
void measure(Run& run, FrameStamper& stamper, FrameLatency& latency, Pipeline& receiver,
             const std::vector<Pipeline*>& watch, gint64 settle_us, gint64 record_us,
             const std::function<std::string()>& extra_error = {})
{
    if (!wait_until([&] { return latency.frames() > 0 || (extra_error && !extra_error().empty()); },
                    20 * G_USEC_PER_SEC, watch, 10) ||
        latency.frames() == 0) {
        run.error = extra_error && !extra_error().empty() ? extra_error() : "no frame within 20 s";
        return;
    }
    sleep_checking(settle_us, watch);
    run.receiver_latency_ms = pipeline_latency_ms(receiver.get());
    uint64_t stamped_before = stamper.stamped();
    latency.start_recording();
    sleep_checking(record_us, watch);
    latency.stop_recording();
    run.stamped = stamper.stamped() - stamped_before;
    run.samples = latency.samples();
}

Run run_signalbin(LocalServer& server, const VideoFormat& format, const Knobs& knobs, gint64 settle_us,
                  gint64 record_us)
{
    Run run;
    FrameStamper stamper;
    FrameLatency latency(stamper);
    Pipeline producer(format.source("src") + " ! signalsink name=sink server-url=" + server.url() +
                          " meta=\"meta,name=latency\" " + loopback_ice(),
                      "producer");
    GRef<GstElement> src = producer.element("src");
    GRef<GstPad> src_pad = adopt_ref(gst_element_get_static_pad(src.get(), "src"));
    stamper.attach(src_pad.get());
    producer.play();
    std::string latency_option = knobs.src_latency.empty() ? "" : " latency=" + knobs.src_latency;
    Pipeline consumer("signalsrc producer-name=latency server-url=" + server.url() + " " + loopback_ice() +
                          latency_option + " ! " + tail(knobs.sink_deadline),
                      "consumer");
    latency.attach(consumer.element("decoded").get(), consumer.element("out").get());
    consumer.play();
    try {
        measure(run, stamper, latency, consumer, {&producer, &consumer}, settle_us, record_us);
    } catch (const BenchError& e) {
        run.error = e.what();
    }
    consumer.stop();
    producer.stop();
    return run;
}

Run run_baseline(const VideoFormat& format, const Knobs& knobs, gint64 settle_us, gint64 record_us)
{
    Run run;
    FrameStamper stamper;
    FrameLatency latency(stamper);
    BaselinePair pair;
    pair.start_sender(format.source("src"));
    GRef<GstElement> src = pair.sender()->element("src");
    GRef<GstPad> src_pad = adopt_ref(gst_element_get_static_pad(src.get(), "src"));
    stamper.attach(src_pad.get());
    pair.build_receiver(tail(knobs.sink_deadline));
    latency.attach(pair.receiver()->element("decoded").get(), pair.receiver()->element("out").get());
    pair.play_receiver();
    pair.negotiate();
    try {
        measure(run, stamper, latency, *pair.receiver(), {pair.sender(), pair.receiver()}, settle_us, record_us,
                [&] { return pair.error(); });
    } catch (const BenchError& e) {
        run.error = e.what();
    }
    pair.stop();
    return run;
}

Json run_json(const Run& run)
{
    Json j = Json::object();
    if (!run.error.empty())
        j.set("error", run.error);
    Summary displayed = summarize(run.samples.displayed_ms);
    Summary decoded = summarize(run.samples.decoded_ms);
    j.set("displayed_ms", to_json(displayed))
        .set("decoded_ms", to_json(decoded))
        .set("frames_stamped", run.stamped)
        .set("frames_displayed", run.samples.displayed_ms.size())
        .set("unreadable", run.samples.unreadable)
        .set("unknown_id", run.samples.unknown)
        .set("receiver_pipeline_latency_ms", run.receiver_latency_ms);
    return j;
}

// Over repeats: min/median/max of each run's median and p99.
Json side_json(const std::vector<Run>& runs)
{
    std::vector<double> disp_med, disp_p99, dec_med, dec_p99;
    Json all = Json::array();
    for (const Run& run : runs) {
        all.push(run_json(run));
        Summary d = summarize(run.samples.displayed_ms);
        Summary c = summarize(run.samples.decoded_ms);
        if (d.n > 0) {
            disp_med.push_back(d.median);
            disp_p99.push_back(d.p99);
        }
        if (c.n > 0) {
            dec_med.push_back(c.median);
            dec_p99.push_back(c.p99);
        }
    }
    Json j = Json::object();
    j.set("runs", all)
        .set("displayed_median_ms", min_median_max(disp_med))
        .set("displayed_p99_ms", min_median_max(disp_p99))
        .set("decoded_median_ms", min_median_max(dec_med))
        .set("decoded_p99_ms", min_median_max(dec_p99));
    return j;
}

} // namespace

Json latency(const Args& args)
{
    args.only({"seconds", "repeats", "settle-s", "only", "src-latency", "sink-deadline"});
    VideoFormat format = video_format(args);
    format.i420 = true;
    double seconds = args.number("seconds", 10);
    long repeats = args.integer("repeats", 3);
    double settle = args.number("settle-s", 2);
    std::string only = args.string("only", "");
    Knobs knobs;
    if (args.has("src-latency"))
        knobs.src_latency = std::to_string(args.integer("src-latency", 20));
    if (args.has("sink-deadline"))
        knobs.sink_deadline = std::to_string(args.integer("sink-deadline", 20));
    if (seconds <= 0 || seconds > 600 || repeats < 1 || repeats > 100 || settle < 0 || settle > 60)
        throw BenchError("--seconds must be in (0, 600], --repeats in 1..100, --settle-s in [0, 60]");
    auto record_us = static_cast<gint64>(seconds * G_USEC_PER_SEC);
    auto settle_us = static_cast<gint64>(settle * G_USEC_PER_SEC);

    LocalServer server;
    std::vector<Run> a, b;
    std::vector<double> ratio_displayed, ratio_decoded;
    for (long r = 0; r < repeats; ++r) {
        bool a_first = r % 2 == 0;
        Run ra, rb;
        for (int step = 0; step < 2; ++step) {
            bool do_a = (step == 0) == a_first;
            if (do_a && only != "baseline")
                ra = run_signalbin(server, format, knobs, settle_us, record_us);
            else if (!do_a && only != "signalbin")
                rb = run_baseline(format, knobs, settle_us, record_us);
        }
        Summary da = summarize(ra.samples.displayed_ms), db = summarize(rb.samples.displayed_ms);
        Summary ca = summarize(ra.samples.decoded_ms), cb = summarize(rb.samples.decoded_ms);
        std::cerr << "latency " << r + 1 << "/" << repeats << ": signalbin displayed median " << da.median << " p99 "
                  << da.p99 << " (decoded " << ca.median << "/" << ca.p99 << "), baseline displayed median "
                  << db.median << " p99 " << db.p99 << " (decoded " << cb.median << "/" << cb.p99 << ")"
                  << (ra.error.empty() ? "" : " [A: " + ra.error + "]")
                  << (rb.error.empty() ? "" : " [B: " + rb.error + "]") << std::endl;
        if (only != "baseline")
            a.push_back(ra);
        if (only != "signalbin")
            b.push_back(rb);
        if (da.n && db.n && da.median > 0)
            ratio_displayed.push_back(db.median / da.median);
        if (ca.n && cb.n && ca.median > 0)
            ratio_decoded.push_back(cb.median / ca.median);
    }
    Json j = Json::object();
    j.set("command", "latency")
        .set("width", format.width)
        .set("height", format.height)
        .set("fps", format.fps)
        .set("seconds", seconds)
        .set("repeats", repeats)
        .set("signalsrc_latency_ms", knobs.src_latency.empty() ? Json("default (20)") : Json(knobs.src_latency))
        .set("sink_processing_deadline_ms",
             knobs.sink_deadline.empty() ? Json("default (20)") : Json(knobs.sink_deadline))
        .set("signalbin", side_json(a))
        .set("baseline", side_json(b))
        .set("ratio_baseline_over_signalbin_displayed_median", min_median_max(ratio_displayed))
        .set("ratio_baseline_over_signalbin_decoded_median", min_median_max(ratio_decoded));
    return j;
}

} // namespace signalbin::bench
