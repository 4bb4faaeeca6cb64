// The subcommands of signalbin-bench-media. Each prints one JSON object on
// stdout (produce prints a "ready" line first) and throws BenchError on
// failure.
#pragma once

#include "bench-util.h"

#include <map>
#include <string>

namespace signalbin::bench {

// --name value options, as given on the command line.
class Args {
public:
    // Throws BenchError on a malformed line.
    Args(int argc, char** argv, int first);
    std::string string(const std::string& name, const std::string& fallback) const;
    long integer(const std::string& name, long fallback) const;
    double number(const std::string& name, double fallback) const;
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    // Throws BenchError naming the options not in `known`.
    void only(std::initializer_list<const char*> known) const;

private:
    std::map<std::string, std::string> values_;
};

// Raw video of the size asked for ("videotestsrc ... ! video/x-raw,...").
struct VideoFormat {
    int width = 1280;
    int height = 720;
    int fps = 30;
    int motion = 0; // videotestsrc horizontal-speed: 0 = still bars (cheap to encode)
    bool i420 = false;
    std::string source(const char* name = nullptr) const;
};
VideoFormat video_format(const Args& args);

// Launch-line options shared by every signalsink and signalsrc here.
std::string loopback_ice();

Json first_frame(const Args& args);
Json latency(const Args& args);
// These two print their own lines (produce: "ready", then the result).
void produce(const Args& args);
void consume(const Args& args);
// Two ends over a network path (network.cpp); they print lines until stopped.
void net_send(const Args& args);
void net_receive(const Args& args);

} // namespace signalbin::bench
