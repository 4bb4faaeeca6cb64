// signalbin-bench-media: media benchmarks of signalsink/signalsrc against
// plain webrtcbin (see bench/media/README.md and run.py).
//
//   first-frame [--repeats 20]            time to first decoded frame, A and B interleaved
//   latency [--seconds 10] [--repeats 3]  end-to-end latency per frame, A and B interleaved
//   produce --consumers N --design shared|per-consumer [--seconds 8]
//                                         producer CPU and memory with N consumers
//   consume --server-url URL --consumers N --names a,b,...
//                                         N signalsrc receivers that do not decode
//   net-send / net-receive                the two ends of a session over a network
//                                         path, clean frames counted (network.cpp)
//
// Common options: --width --height --fps (default 1280x720 at 30), --motion PX
// (videotestsrc horizontal-speed: moving bars, costlier to encode; default 0),
// and --plugin-dir DIR to load the signalbin plugin from DIR (else
// GST_PLUGIN_PATH).
#include "commands.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

using namespace signalbin;
using namespace signalbin::bench;

namespace signalbin::bench {

Args::Args(int argc, char** argv, int first)
{
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0)
            throw BenchError("unexpected argument " + arg);
        std::string name = arg.substr(2);
        std::string value;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            value = "true";
        }
        values_[name] = value;
    }
}

std::string Args::string(const std::string& name, const std::string& fallback) const
{
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

long Args::integer(const std::string& name, long fallback) const
{
    auto it = values_.find(name);
    if (it == values_.end())
        return fallback;
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    if (!end || *end)
        throw BenchError("--" + name + " wants an integer, not " + it->second);
    return v;
}

double Args::number(const std::string& name, double fallback) const
{
    auto it = values_.find(name);
    if (it == values_.end())
        return fallback;
    char* end = nullptr;
    double v = std::strtod(it->second.c_str(), &end);
    if (!end || *end)
        throw BenchError("--" + name + " wants a number, not " + it->second);
    return v;
}

void Args::only(std::initializer_list<const char*> known) const
{
    for (const auto& [name, value] : values_) {
        bool ok = name == "plugin-dir" || name == "width" || name == "height" || name == "fps" || name == "motion";
        for (const char* k : known)
            ok = ok || name == k;
        if (!ok)
            throw BenchError("unknown option --" + name);
    }
}

std::string VideoFormat::source(const char* name) const
{
    std::string s = "videotestsrc is-live=true";
    if (motion)
        s += " horizontal-speed=" + std::to_string(motion);
    if (name)
        s += std::string(" name=") + name;
    s += " ! video/x-raw";
    if (i420)
        s += ",format=I420";
    s += ",width=" + std::to_string(width) + ",height=" + std::to_string(height) +
         ",framerate=" + std::to_string(fps) + "/1";
    return s;
}

VideoFormat video_format(const Args& args)
{
    VideoFormat f;
    f.width = static_cast<int>(args.integer("width", 1280));
    f.height = static_cast<int>(args.integer("height", 720));
    f.fps = static_cast<int>(args.integer("fps", 30));
    f.motion = static_cast<int>(args.integer("motion", 0));
    if (f.width < 64 || f.height < 64 || f.fps < 1 || f.fps > 120)
        throw BenchError("unreasonable --width/--height/--fps");
    return f;
}

std::string loopback_ice()
{
    return "ice-local-addresses=127.0.0.1";
}

} // namespace signalbin::bench

namespace {

void usage()
{
    std::fprintf(stderr,
                 "usage: signalbin-bench-media first-frame|latency|produce|consume [--option value]...\n"
                 "  first-frame [--repeats 20] [--warmup-ms 500] [--timeout-s 20]\n"
                 "  latency [--seconds 10] [--repeats 3] [--settle-s 2] [--src-latency MS] [--sink-deadline MS]\n"
                 "  produce --consumers N --design shared|per-consumer [--seconds 8] [--idle-seconds 1] [--join-timeout-s 120]\n"
                 "  consume --server-url URL --consumers N --names a,b,... [--max-seconds 300]\n"
                 "  net-send --address A --port P [--seconds S] [--bitrate KBPS] [--congestion-control true|false]\n"
                 "  net-receive --server-url URL [--seconds S]\n"
                 "  all: [--width 1280] [--height 720] [--fps 30] [--motion PX] [--plugin-dir DIR]\n");
}

void load_plugin(const Args& args)
{
    std::string dir = args.string("plugin-dir", "");
    if (!dir.empty() && !gst_registry_scan_path(gst_registry_get(), dir.c_str()))
        GST_WARNING("nothing new in %s", dir.c_str());
    for (const char* factory : {"signalsink", "signalsrc", "webrtcbin", "x264enc", "videotestsrc"}) {
        GRef<GstElementFactory> f = adopt_ref(gst_element_factory_find(factory));
        if (!f)
            throw BenchError(std::string("element ") + factory +
                             " not found (set GST_PLUGIN_PATH to build/gst-plugin, or pass --plugin-dir)");
    }
}

} // namespace

int main(int argc, char** argv)
{
    gst_init(&argc, &argv);
    GST_DEBUG_CATEGORY_INIT(bench_debug, "bench", 0, "signalbin media benchmarks");
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    std::string command = argv[1];
    try {
        Args args(argc, argv, 2);
        load_plugin(args);
        if (command == "first-frame") {
            std::cout << first_frame(args).dump() << std::endl;
        } else if (command == "latency") {
            std::cout << latency(args).dump() << std::endl;
        } else if (command == "produce") {
            produce(args);
        } else if (command == "consume") {
            consume(args);
        } else if (command == "net-send") {
            net_send(args);
        } else if (command == "net-receive") {
            net_receive(args);
        } else {
            usage();
            return 2;
        }
    } catch (const BenchError& e) {
        Json j = Json::object();
        j.set("command", command).set("error", e.what());
        std::cout << j.dump() << std::endl;
        std::fprintf(stderr, "signalbin-bench-media %s: %s\n", command.c_str(), e.what());
        return 1;
    }
    return 0;
}
