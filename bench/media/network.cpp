// net-send and net-receive: the two ends of a session over a real network
// path (bench/net/, tests/network-test.py run them in two network
// namespaces). Each frame carries the sender's clock in four bands of the
// picture; the receiver counts a frame as clean when all four read back
// equal and newer than the last clean one: under loss a decoder keeps
// putting out concealed, damaged frames, which a frame count would miss.
//
//   net-send --address A --port P [--seconds S] [--motion PX] [--bitrate KBPS]
//            [--congestion-control true|false]
//       videotestsrc (moving SMPTE bars) ! stamp ! signalsink with its
//       server on ws://A:P; prints {"ready": ...}, then every second one
//       line of each consumer's stats.
//   net-receive --server-url URL [--seconds S]
//       signalsrc ! videoconvert ! I420 ! fakesink; one line per decoded
//       frame: {"t": seconds, "clean": bool, "latency_ms": ms or -1}.
//
// Both end on SIGINT or SIGTERM (or after --seconds) and exit 0.
#include "commands.h"
#include "frame-id.h"

#include <glib-unix.h>
#include <gst/video/video.h>

#include <array>
#include <cstdio>
#include <mutex>

namespace signalbin::bench {

namespace {

constexpr int kBands = 4;

// The grids' tops: spread down the picture, on 32-row boundaries.
std::array<int, kBands> band_tops(int height)
{
    std::array<int, kBands> tops {};
    for (int k = 0; k < kBands; ++k)
        tops[k] = (k * (height - kFrameIdHeight) / (kBands - 1)) / 32 * 32;
    return tops;
}

// The sender's clock in milliseconds, as the stamp carries it. Both ends
// read the same CLOCK_MONOTONIC: they run on one machine.
uint32_t stamp_now()
{
    return static_cast<uint32_t>(now_us() / 1000) % kFrameIdModulo;
}

std::mutex output_lock;

void print_line(const Json& line)
{
    std::lock_guard<std::mutex> guard(output_lock);
    std::fputs((line.dump() + "\n").c_str(), stdout);
    std::fflush(stdout);
}

// Runs `loop` until SIGINT, SIGTERM or `seconds` (0: no limit).
void run_until_stopped(GMainLoop* loop, long seconds)
{
    // Each source stays until removed below, the one that fired too.
    auto quit = [](gpointer data) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop*>(data));
        return G_SOURCE_CONTINUE;
    };
    guint sigint = g_unix_signal_add(SIGINT, quit, loop);
    guint sigterm = g_unix_signal_add(SIGTERM, quit, loop);
    guint timer = seconds > 0 ? g_timeout_add_seconds(static_cast<guint>(seconds), quit, loop) : 0;
    g_main_loop_run(loop);
    for (guint id : {sigint, sigterm, timer}) {
        if (id)
            g_source_remove(id);
    }
}

GstPadProbeReturn stamp_frame(GstPad* pad, GstPadProbeInfo* info, gpointer)
{
    GstVideoFrame frame;
    if (!map_probe_frame(pad, info, &frame, GST_MAP_WRITE))
        return GST_PAD_PROBE_OK;
    uint32_t stamp = stamp_now();
    for (int top : band_tops(GST_VIDEO_FRAME_HEIGHT(&frame)))
        write_frame_id(&frame, stamp, top);
    gst_video_frame_unmap(&frame);
    return GST_PAD_PROBE_OK;
}

struct Reader {
    bool have_clean = false;
    uint32_t last_clean = 0;
};

GstPadProbeReturn read_frame(GstPad* pad, GstPadProbeInfo* info, gpointer data)
{
    auto* reader = static_cast<Reader*>(data);
    gint64 now = now_us();
    GstVideoFrame frame;
    if (!map_probe_frame(pad, info, &frame, GST_MAP_READ))
        return GST_PAD_PROBE_OK;
    std::optional<uint32_t> stamp;
    bool agree = true;
    for (int top : band_tops(GST_VIDEO_FRAME_HEIGHT(&frame))) {
        std::optional<uint32_t> id = read_frame_id(&frame, top);
        if (!id || (stamp && *id != *stamp))
            agree = false;
        if (!stamp)
            stamp = id;
    }
    gst_video_frame_unmap(&frame);
    // Newer than the last clean frame: by less than half the stamp's range.
    bool newer = !reader->have_clean ||
                 ((stamp.value_or(0) - reader->last_clean) % kFrameIdModulo - 1) < kFrameIdModulo / 2 - 1;
    bool clean = agree && stamp && newer;
    double latency_ms = -1;
    if (clean) {
        reader->have_clean = true;
        reader->last_clean = *stamp;
        latency_ms = static_cast<double>((static_cast<uint32_t>(now / 1000) - *stamp) % kFrameIdModulo);
    }
    Json line = Json::object();
    line.set("t", static_cast<double>(now) / G_USEC_PER_SEC).set("clean", clean).set("latency_ms", latency_ms);
    print_line(line);
    return GST_PAD_PROBE_OK;
}

// signalsink's stats: one object per consumer, numbers and strings kept.
Json structure_json(const GstStructure* s)
{
    Json out = Json::object();
    for (int i = 0; s && i < gst_structure_n_fields(s); ++i) {
        const char* name = gst_structure_nth_field_name(s, i);
        const GValue* v = gst_structure_get_value(s, name);
        if (GST_VALUE_HOLDS_STRUCTURE(v))
            out.set(name, structure_json(gst_value_get_structure(v)));
        else if (G_VALUE_HOLDS_STRING(v))
            out.set(name, g_value_get_string(v) ? g_value_get_string(v) : "");
        else if (G_VALUE_HOLDS_UINT(v))
            out.set(name, g_value_get_uint(v));
        else if (G_VALUE_HOLDS_INT(v))
            out.set(name, g_value_get_int(v));
        else if (G_VALUE_HOLDS_UINT64(v))
            out.set(name, static_cast<unsigned long long>(g_value_get_uint64(v)));
        else if (G_VALUE_HOLDS_INT64(v))
            out.set(name, static_cast<long long>(g_value_get_int64(v)));
        else if (G_VALUE_HOLDS_DOUBLE(v))
            out.set(name, g_value_get_double(v));
        else if (G_VALUE_HOLDS_BOOLEAN(v))
            out.set(name, static_cast<bool>(g_value_get_boolean(v)));
    }
    return out;
}

// A pipeline watched from the main loop: an error on its bus ends the loop.
struct Watched {
    Pipeline* pipeline;
    GMainLoop* loop;
    GstElement* sink = nullptr; // net-send: prints its stats
    std::string error;
};

gboolean on_tick(gpointer data)
{
    auto* w = static_cast<Watched*>(data);
    try {
        w->pipeline->check();
    } catch (const BenchError& e) {
        w->error = e.what();
        g_main_loop_quit(w->loop);
        return G_SOURCE_CONTINUE; // removed by its owner
    }
    if (w->sink) {
        GstStructure* stats = nullptr;
        g_object_get(w->sink, "stats", &stats, nullptr);
        GUnique<GstStructure> owned(stats);
        Json line = Json::object();
        line.set("t", static_cast<double>(now_us()) / G_USEC_PER_SEC).set("stats", structure_json(stats));
        print_line(line);
    }
    return G_SOURCE_CONTINUE;
}

} // namespace

void net_send(const Args& args)
{
    args.only({"address", "port", "seconds", "bitrate", "congestion-control"});
    VideoFormat format = video_format(args);
    format.i420 = true;
    if (!args.has("motion"))
        format.motion = 4; // moving bars: a real encoder load, and damage that shows
    if (format.height < kBands * kFrameIdHeight)
        throw BenchError("--height must be at least " + std::to_string(kBands * kFrameIdHeight) +
                         " for the four stamps");
    std::string address = args.string("address", "127.0.0.1");
    long port = args.integer("port", 8443);
    std::string url = "ws://" + address + ":" + std::to_string(port);
    std::string description = format.source("src") + " ! identity name=stamp silent=true ! signalsink name=sink "
                              "run-server=true server-url=" + url + " meta=\"meta,name=net\" video-bitrate=" +
                              std::to_string(args.integer("bitrate", 2048)) +
                              " congestion-control=" + args.string("congestion-control", "true");
    if (address == "127.0.0.1")
        description += " " + loopback_ice();
    Pipeline pipeline(description, "net-send");
    GRef<GstElement> stamp = pipeline.element("stamp");
    GRef<GstPad> stamp_src = adopt_ref(gst_element_get_static_pad(stamp.get(), "src"));
    gst_pad_add_probe(stamp_src.get(), GST_PAD_PROBE_TYPE_BUFFER, stamp_frame, nullptr, nullptr);
    GRef<GstElement> sink = pipeline.element("sink");
    pipeline.play();

    Json ready = Json::object();
    ready.set("ready", true).set("server_url", url).set("pipeline", description);
    print_line(ready);

    GRef<GMainLoop> loop = adopt_ref(g_main_loop_new(nullptr, FALSE));
    Watched watched {&pipeline, loop.get(), sink.get(), {}};
    guint tick = g_timeout_add(1000, on_tick, &watched);
    run_until_stopped(loop.get(), args.integer("seconds", 0));
    g_source_remove(tick);
    if (!watched.error.empty())
        throw BenchError(watched.error);
    pipeline.stop();
}

void net_receive(const Args& args)
{
    args.only({"server-url", "seconds"});
    std::string url = args.string("server-url", "");
    if (url.empty())
        throw BenchError("--server-url is required");
    std::string description = "signalsrc name=src server-url=" + url + " producer-name=net";
    if (url.find("127.0.0.1") != std::string::npos)
        description += " " + loopback_ice();
    // Back to the sent size, as a viewer's window would show a lower tier,
    // so the stamps read back at their places.
    VideoFormat format = video_format(args);
    description += " ! videoconvert ! videoscale ! video/x-raw,format=I420,width=" + std::to_string(format.width) +
                   ",height=" + std::to_string(format.height) + " ! fakesink name=out sync=false async=false";
    Pipeline pipeline(description, "net-receive");
    GRef<GstElement> out = pipeline.element("out");
    GRef<GstPad> pad = adopt_ref(gst_element_get_static_pad(out.get(), "sink"));
    Reader reader;
    gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, read_frame, &reader, nullptr);
    pipeline.play();
    GRef<GMainLoop> loop = adopt_ref(g_main_loop_new(nullptr, FALSE));
    Watched watched {&pipeline, loop.get(), nullptr, {}};
    guint tick = g_timeout_add(500, on_tick, &watched);
    run_until_stopped(loop.get(), args.integer("seconds", 0));
    g_source_remove(tick);
    pipeline.stop();
    if (!watched.error.empty())
        throw BenchError(watched.error);
}

} // namespace signalbin::bench
