// One status line from signalsink's `stats` property.
#pragma once

#include <gst/gst.h>

#include <string>

namespace signalbin::launcher {

// "2 consumers: 3f2a1b0c connected 2.1 Mbit/s rtt 1 ms; 9c01d2e4 connecting"
std::string status_line(const char* sink_name, const GstStructure* stats);

} // namespace signalbin::launcher
