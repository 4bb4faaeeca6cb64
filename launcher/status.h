// One status line from signalsink's `stats` property.
#pragma once

#include <gst/gst.h>

#include <string>

namespace signalbin::launcher {

// "2 consumers: 3f2a1b0c connected 2.1 Mbit/s rtt 1 ms est 2.4 Mbit/s tier 0;
//  9c01d2e4 connected 612 kbit/s rtt 48 ms est 780 kbit/s tier 2 loss 1.2 % nack 14 pli 2"
// (estimate and tier with congestion control; loss, NACKs and key-frame
// requests once there are any)
std::string status_line(const char* sink_name, const GstStructure* stats);

} // namespace signalbin::launcher
