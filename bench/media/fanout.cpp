// Fan-out cost: the producer's own CPU and memory with N consumers.
//   produce --design shared: one signalsink, one encoder for everyone (ours);
//   produce --design per-consumer: N pipelines, each videotestsrc ! signalsink
//     max-consumers=1: one encoder per consumer (what webrtcsink does).
// produce runs the signalling server in-process (idle once sessions are up),
// prints {"event": "ready", "url": ..., "names": [...]} once its encoders
// run, then waits for N consumers to stream (signalsink's stats: connected and
// bytes-sent rising), lets one second pass, and samples getrusage and VmRSS
// every second for --seconds (and how many encoders run). consume runs N
// signalsrc that ask for H.264 (no decoding), in another process, until
// SIGTERM/SIGINT or --max-seconds. --address puts the server (and so the
// sessions) on another address of this host than 127.0.0.1, for
// bench/net/spread.py's network namespaces; --congestion-control false
// keeps every consumer on the one top tier.
#include "commands.h"
#include "local-server.h"

#include <glib-unix.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>

namespace signalbin::bench {

namespace {

struct ConsumerStat {
    std::string connection_state;
    std::string ice_connection_state;
    guint64 bytes_sent = 0;
    int tier = -1; // its quality tier (congestion control), -1 if none
};

// Every consumer of every signalsink, by peer id.
std::map<std::string, ConsumerStat> consumer_stats(const std::vector<GRef<GstElement>>& sinks)
{
    std::map<std::string, ConsumerStat> all;
    for (const GRef<GstElement>& sink : sinks) {
        GstStructure* raw = nullptr;
        g_object_get(sink.get(), "stats", &raw, nullptr);
        GUnique<GstStructure> stats(raw);
        if (!stats)
            continue;
        for (int i = 0; i < gst_structure_n_fields(stats.get()); ++i) {
            const char* field = gst_structure_nth_field_name(stats.get(), i);
            const GValue* v = gst_structure_get_value(stats.get(), field);
            if (!v || !GST_VALUE_HOLDS_STRUCTURE(v))
                continue;
            const GstStructure* c = gst_value_get_structure(v);
            ConsumerStat s;
            if (const char* state = gst_structure_get_string(c, "connection-state"))
                s.connection_state = state;
            if (const char* ice = gst_structure_get_string(c, "ice-connection-state"))
                s.ice_connection_state = ice;
            gst_structure_get_uint64(c, "bytes-sent", &s.bytes_sent);
            gst_structure_get_int(c, "tier", &s.tier);
            all[field] = s;
        }
    }
    return all;
}

struct Sample {
    double cpu_s_per_s;
    double rss_mb;
};

} // namespace

void produce(const Args& args)
{
    args.only({"consumers", "design", "seconds", "idle-seconds", "join-timeout-s", "address", "congestion-control"});
    VideoFormat format = video_format(args);
    long n = args.integer("consumers", 1);
    std::string design = args.string("design", "shared");
    double seconds = args.number("seconds", 8);
    double idle_seconds = args.number("idle-seconds", 1);
    double join_timeout = args.number("join-timeout-s", 120);
    if (n < 1 || n > 256)
        throw BenchError("--consumers must be 1..256");
    if (design != "shared" && design != "per-consumer")
        throw BenchError("--design is shared or per-consumer");
    if (seconds <= 0 || seconds > 600 || idle_seconds < 0 || idle_seconds > 60 || join_timeout <= 0 ||
        join_timeout > 900)
        throw BenchError("--seconds in (0, 600], --idle-seconds in [0, 60], --join-timeout-s in (0, 900]");
    bool shared = design == "shared";

    std::string address = args.string("address", "127.0.0.1");
    LocalServer server(address);
    std::string ice = address == "127.0.0.1" ? loopback_ice() : std::string();
    ice += " congestion-control=" + args.string("congestion-control", "true");
    std::vector<std::unique_ptr<Pipeline>> pipelines;
    std::vector<std::string> names;
    size_t producers = shared ? 1 : static_cast<size_t>(n);
    for (size_t i = 0; i < producers; ++i) {
        std::string name = shared ? "shared" : "p" + std::to_string(i);
        names.push_back(name);
        pipelines.push_back(std::make_unique<Pipeline>(
            format.source() + " ! signalsink name=sink server-url=" + server.url() + " meta=\"meta,name=" + name +
                "\" " + (shared ? std::string("max-consumers=0 ") : std::string("max-consumers=1 ")) + ice,
            "producer-" + name));
    }
    std::vector<Pipeline*> watch;
    std::vector<GRef<GstElement>> sinks;
    for (auto& p : pipelines) {
        watch.push_back(p.get());
        sinks.push_back(p->element("sink"));
    }
    for (auto& p : pipelines)
        p->play();

    // Every producer's encoder runs, with a counter on its output.
    std::vector<std::unique_ptr<BufferCount>> encoded;
    for (auto& p : pipelines) {
        std::vector<GRef<GstElement>> encoders;
        if (!wait_until(
                [&] {
                    encoders = elements_of_factory(p->get(), "x264enc");
                    return !encoders.empty();
                },
                30 * G_USEC_PER_SEC, watch, 20))
            throw BenchError("an encoder did not start within 30 s");
        GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(encoders[0].get(), "src"));
        encoded.push_back(std::make_unique<BufferCount>());
        encoded.back()->attach(src.get());
    }
    if (!wait_until(
            [&] {
                return std::all_of(encoded.begin(), encoded.end(), [](auto& c) { return c->count() > 0; });
            },
            30 * G_USEC_PER_SEC, watch, 20))
        throw BenchError("an encoder produced nothing within 30 s");
    if (!wait_until([&] { return server.peer_count() >= producers; }, 30 * G_USEC_PER_SEC, watch, 20))
        throw BenchError("the producers did not all connect to the server");

    // Idle: producers and encoders running, nobody watching.
    sleep_checking(G_USEC_PER_SEC, watch);
    double idle_cpu = -1, idle_rss = 0;
    if (idle_seconds > 0) {
        double c0 = process_cpu_seconds();
        gint64 w0 = now_us();
        sleep_checking(static_cast<gint64>(idle_seconds * G_USEC_PER_SEC), watch);
        idle_cpu = (process_cpu_seconds() - c0) / (static_cast<double>(now_us() - w0) / 1e6);
    }
    idle_rss = vm_rss_kb() / 1024.0;

    {
        Json ready = Json::object();
        ready.set("event", "ready").set("url", server.url()).set("names", Json::array_of(names));
        std::cout << ready.dump() << std::endl;
    }

    // Wait for N consumers connected, each with bytes-sent rising.
    gint64 join_start = now_us();
    std::map<std::string, guint64> first_bytes;
    size_t streaming = 0, connected = 0;
    bool all_streaming = wait_until(
        [&] {
            auto stats = consumer_stats(sinks);
            streaming = connected = 0;
            for (const auto& [peer, s] : stats) {
                if (s.connection_state != "connected")
                    continue;
                ++connected;
                auto it = first_bytes.find(peer);
                if (it == first_bytes.end())
                    first_bytes[peer] = s.bytes_sent;
                else if (s.bytes_sent > it->second)
                    ++streaming;
            }
            return streaming >= static_cast<size_t>(n);
        },
        static_cast<gint64>(join_timeout * G_USEC_PER_SEC), watch, 250);
    double join_s = static_cast<double>(now_us() - join_start) / 1e6;
    // The consumers that are not streaming, and where each one stopped.
    Json not_streaming = Json::array();
    if (!all_streaming) {
        for (const auto& [peer, s] : consumer_stats(sinks)) {
            auto it = first_bytes.find(peer);
            if (s.connection_state == "connected" && it != first_bytes.end() && s.bytes_sent > it->second)
                continue;
            not_streaming.push(peer + ": connection " + s.connection_state + ", ICE " + s.ice_connection_state +
                               ", " + std::to_string(s.bytes_sent) + " bytes sent");
        }
        // With GST_DEBUG_DUMP_DOT_DIR set: each sink's graph (links, blocked
        // pads, queue levels) as it is now, to see where the media stops.
        for (size_t i = 0; i < sinks.size(); ++i)
            GST_DEBUG_BIN_TO_DOT_FILE(GST_BIN(sinks[i].get()), GST_DEBUG_GRAPH_SHOW_ALL,
                                      ("fanout-not-streaming-" + std::to_string(i)).c_str());
    }
    sleep_checking(G_USEC_PER_SEC, watch);

    // The window.
    auto stats_before = consumer_stats(sinks);
    std::vector<guint64> enc_before;
    for (auto& c : encoded)
        enc_before.push_back(c->count());
    std::vector<Sample> samples;
    double cpu_start = process_cpu_seconds();
    gint64 wall_start = now_us();
    double cpu_prev = cpu_start;
    gint64 wall_prev = wall_start;
    long rss_max = 0;
    // Encoders running (quality tiers come and go with congestion control).
    auto encoders_now = [&] {
        size_t count = 0;
        for (auto& p : pipelines)
            count += elements_of_factory(p->get(), "x264enc").size();
        return count;
    };
    size_t encoders_min = encoders_now(), encoders_max = encoders_min;
    auto window_end = wall_start + static_cast<gint64>(seconds * G_USEC_PER_SEC);
    while (now_us() < window_end) {
        sleep_checking(std::min<gint64>(G_USEC_PER_SEC, window_end - now_us()), watch);
        double cpu = process_cpu_seconds();
        gint64 wall = now_us();
        long rss = vm_rss_kb();
        rss_max = std::max(rss_max, rss);
        size_t running = encoders_now();
        encoders_min = std::min(encoders_min, running);
        encoders_max = std::max(encoders_max, running);
        if (wall - wall_prev > 100000)
            samples.push_back(Sample {(cpu - cpu_prev) / (static_cast<double>(wall - wall_prev) / 1e6), rss / 1024.0});
        cpu_prev = cpu;
        wall_prev = wall;
    }
    double window_s = static_cast<double>(now_us() - wall_start) / 1e6;
    double cpu_total = (process_cpu_seconds() - cpu_start) / window_s;
    auto stats_after = consumer_stats(sinks);
    long rss_end = vm_rss_kb();
    long threads = thread_count();

    std::vector<double> fps;
    for (size_t i = 0; i < encoded.size(); ++i)
        fps.push_back(static_cast<double>(encoded[i]->count() - enc_before[i]) / window_s);
    std::vector<double> kbps;
    size_t connected_end = 0;
    std::map<int, int> tiers; // consumers per tier at the end
    Json consumers = Json::object();
    for (const auto& [peer, after] : stats_after) {
        if (after.connection_state == "connected")
            ++connected_end;
        auto before = stats_before.find(peer);
        guint64 b0 = before == stats_before.end() ? 0 : before->second.bytes_sent;
        kbps.push_back(static_cast<double>(after.bytes_sent - std::min(after.bytes_sent, b0)) * 8 / 1000 / window_s);
        ++tiers[after.tier];
        consumers.set(peer, Json::object().set("tier", after.tier).set("kbps", kbps.back()));
    }
    Json tier_counts = Json::object();
    for (const auto& [tier, count] : tiers)
        tier_counts.set(std::to_string(tier), count);
    std::vector<double> cpu_samples, rss_samples;
    for (const Sample& s : samples) {
        cpu_samples.push_back(s.cpu_s_per_s);
        rss_samples.push_back(s.rss_mb);
    }
    Summary fps_summary = summarize(fps);
    int cores = static_cast<int>(g_get_num_processors());
    Json saturation = Json::array();
    if (cpu_total >= 0.9 * cores)
        saturation.push("cpu " + std::to_string(cpu_total) + " s/s of " + std::to_string(cores) + " cores");
    if (fps_summary.n && fps_summary.min < 0.9 * format.fps)
        saturation.push("encoder output down to " + std::to_string(fps_summary.min) + " fps of " +
                        std::to_string(format.fps) + " (frames dropped before encoding)");
    if (!all_streaming)
        saturation.push("only " + std::to_string(streaming) + " of " + std::to_string(n) + " consumers streaming after " +
                        std::to_string(join_timeout) + " s");

    Json j = Json::object();
    j.set("command", "produce")
        .set("design", design)
        .set("consumers", n)
        .set("width", format.width)
        .set("height", format.height)
        .set("fps", format.fps)
        .set("cores", cores)
        .set("all_streaming", all_streaming)
        .set("not_streaming", not_streaming)
        .set("streaming_at_start", streaming)
        .set("connected_at_end", connected_end)
        .set("join_s", join_s)
        .set("window_s", window_s)
        .set("cpu_s_per_s", cpu_total)
        .set("cpu_s_per_s_per_second", to_json(summarize(cpu_samples)))
        .set("idle_cpu_s_per_s", idle_cpu)
        .set("idle_rss_mb", idle_rss)
        .set("rss_mb", rss_end / 1024.0)
        .set("rss_max_mb", rss_max / 1024.0)
        .set("threads", threads)
        .set("encoders", encoded.size())
        .set("encoders_running_min", encoders_min)
        .set("encoders_running_max", encoders_max)
        .set("tiers", tier_counts)
        .set("per_consumer", consumers)
        .set("encoder_fps", to_json(fps_summary))
        .set("consumer_send_kbps", to_json(summarize(kbps)))
        .set("saturated", saturation.dump() != "[]")
        .set("saturation", saturation);
    std::cout << j.dump() << std::endl;

    for (auto& c : encoded)
        c.reset();
    for (auto& p : pipelines)
        p->stop();
}

// ---- consume ------------------------------------------------------------------------

void consume(const Args& args)
{
    args.only({"server-url", "consumers", "names", "max-seconds"});
    std::string url = args.string("server-url", "");
    long n = args.integer("consumers", 1);
    std::string names_arg = args.string("names", "");
    double max_seconds = args.number("max-seconds", 300);
    if (url.empty() || names_arg.empty() || n < 1 || n > 256 || max_seconds <= 0 || max_seconds > 3600)
        throw BenchError("consume needs --server-url, --names and --consumers 1..256 (--max-seconds up to 3600)");
    std::vector<std::string> names;
    {
        std::stringstream ss(names_arg);
        std::string item;
        while (std::getline(ss, item, ','))
            if (!item.empty())
                names.push_back(item);
    }
    if (names.empty())
        throw BenchError("--names is empty");
    std::string ice = url.find("//127.0.0.1:") != std::string::npos ? loopback_ice() : std::string();

    std::string description;
    for (long i = 0; i < n; ++i) {
        const std::string& name = names[static_cast<size_t>(i) % names.size()];
        description += "signalsrc name=src" + std::to_string(i) + " producer-name=" + name + " server-url=" + url + " " +
                       ice + " ! video/x-h264 ! fakesink name=out" + std::to_string(i) +
                       " sync=false async=false ";
    }
    Pipeline pipeline(description, "consumers");
    std::vector<std::unique_ptr<BufferCount>> counts;
    std::vector<std::unique_ptr<FirstBuffer>> firsts;
    for (long i = 0; i < n; ++i) {
        GRef<GstElement> out = pipeline.element(("out" + std::to_string(i)).c_str());
        GRef<GstPad> pad = adopt_ref(gst_element_get_static_pad(out.get(), "sink"));
        counts.push_back(std::make_unique<BufferCount>());
        counts.back()->attach(pad.get());
        firsts.push_back(std::make_unique<FirstBuffer>());
        firsts.back()->attach(pad.get(), "video/x-h264");
    }
    GRef<GMainLoop> loop = adopt_ref(g_main_loop_new(nullptr, FALSE));
    // SIGTERM/SIGINT (the driver is done) or --max-seconds end the run.
    auto on_signal = [&loop](int signum) {
        GRef<GSource> source = adopt_ref(g_unix_signal_source_new(signum));
        g_source_set_callback(
            source.get(),
            [](gpointer data) -> gboolean {
                g_main_loop_quit(static_cast<GMainLoop*>(data));
                return G_SOURCE_CONTINUE;
            },
            loop.get(), nullptr);
        g_source_attach(source.get(), nullptr);
        return source;
    };
    GRef<GSource> term = on_signal(SIGTERM);
    GRef<GSource> intr = on_signal(SIGINT);
    ScopedSource timer = ScopedSource::timeout(nullptr, static_cast<guint>(max_seconds * 1000), [&loop] {
        g_main_loop_quit(loop.get());
        return false;
    });
    // Errors are reported at the end, not fatal: the producer side decides.
    std::vector<std::string> errors;
    GRef<GstBus> bus = adopt_ref(gst_element_get_bus(pipeline.get()));
    ScopedSource poll = ScopedSource::timeout(nullptr, 200, [&bus, &errors] {
        while (GstMessage* raw = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)) {
            GRef<GstMessage> m = adopt_ref(raw);
            GErrorPtr error;
            gst_message_parse_error(m.get(), GErrorOut(error), nullptr);
            if (errors.size() < 20)
                errors.push_back(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m.get()))) + ": " +
                                 (error ? error->message : "?"));
        }
        return true;
    });
    gint64 start = now_us();
    pipeline.play();
    g_main_loop_run(loop.get());
    gint64 end = now_us();
    poll.cancel();
    timer.cancel();
    g_source_destroy(term.get());
    g_source_destroy(intr.get());

    // The result first: tearing 32 sessions down may take a while, and the
    // driver may not wait for it.
    Json frames = Json::array();
    Json first_ms = Json::array();
    size_t receiving = 0;
    for (long i = 0; i < n; ++i) {
        frames.push(counts[static_cast<size_t>(i)]->count());
        gint64 t = firsts[static_cast<size_t>(i)]->time_us();
        first_ms.push(t ? Json(static_cast<double>(t - start) / 1000.0) : Json());
        if (t)
            ++receiving;
    }
    Json j = Json::object();
    j.set("command", "consume")
        .set("consumers", n)
        .set("receiving", receiving)
        .set("seconds", static_cast<double>(end - start) / 1e6)
        .set("frames", frames)
        .set("first_frame_ms", first_ms)
        .set("errors", Json::array_of(errors));
    std::cout << j.dump() << std::endl;
    counts.clear();
    firsts.clear();
    pipeline.stop();
}

} // namespace signalbin::bench
