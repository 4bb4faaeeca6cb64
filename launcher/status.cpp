#include "status.h"

#include <cstdio>

namespace signalbin::launcher {

namespace {

std::string rate(guint64 bits_per_second)
{
    char text[32];
    if (bits_per_second >= 1000000)
        std::snprintf(text, sizeof text, "%.1f Mbit/s", bits_per_second / 1e6);
    else
        std::snprintf(text, sizeof text, "%.0f kbit/s", bits_per_second / 1e3);
    return text;
}

} // namespace

std::string status_line(const char* sink_name, const GstStructure* stats)
{
    int n = stats ? gst_structure_n_fields(stats) : 0;
    std::string line = std::string(sink_name) + ": ";
    if (n == 0)
        return line + "no consumers yet";
    line += std::to_string(n) + (n == 1 ? " consumer: " : " consumers: ");
    for (int i = 0; i < n; ++i) {
        const GValue* v = gst_structure_get_value(stats, gst_structure_nth_field_name(stats, i));
        if (!GST_VALUE_HOLDS_STRUCTURE(v))
            continue;
        const GstStructure* c = gst_value_get_structure(v);
        const char* peer = gst_structure_get_string(c, "peer-id");
        const char* state = gst_structure_get_string(c, "connection-state");
        guint64 bitrate = 0;
        double rtt = -1;
        gst_structure_get_uint64(c, "bitrate", &bitrate);
        gst_structure_get_double(c, "round-trip-time", &rtt);
        if (i > 0)
            line += "; ";
        line += std::string(peer ? peer : "?").substr(0, 8) + " " + (state ? state : "?") + " " + rate(bitrate);
        if (rtt >= 0) {
            char text[32];
            std::snprintf(text, sizeof text, " rtt %.0f ms", rtt * 1000);
            line += text;
        }
        // Congestion control and loss, once there is something to say.
        guint64 estimate = 0;
        gint tier = -1;
        double lost = 0;
        guint nacks = 0, keyframes = 0;
        gst_structure_get_uint64(c, "estimated-bitrate", &estimate);
        gst_structure_get_int(c, "tier", &tier);
        gst_structure_get_double(c, "fraction-lost", &lost);
        gst_structure_get_uint(c, "nack-count", &nacks);
        gst_structure_get_uint(c, "keyframe-requests", &keyframes);
        if (estimate > 0)
            line += " est " + rate(estimate);
        if (tier >= 0)
            line += " tier " + std::to_string(tier);
        if (lost > 0) {
            char text[32];
            std::snprintf(text, sizeof text, " loss %.1f %%", lost * 100);
            line += text;
        }
        if (nacks > 0 || keyframes > 0)
            line += " nack " + std::to_string(nacks) + " pli " + std::to_string(keyframes);
    }
    return line;
}

} // namespace signalbin::launcher
