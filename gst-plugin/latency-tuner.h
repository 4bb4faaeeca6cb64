// signalsrc's jitterbuffer latency, fitted to the path: a retransmission is
// only worth asking for if it can arrive before the jitterbuffer gives the
// packet up, so the latency must cover a round trip. Once a second, from a
// jitterbuffer's own figures:
//
// - packets that arrived after they were declared lost (num-late: the
//   retransmissions that came too late) raise the latency by half, and
//   20 ms;
// - the measured round trip of retransmissions (rtx-rtt) sets a floor of
//   1.5 round trips and 20 ms;
// - after 10 s with nothing late, the latency comes back down towards that
//   floor, never below the `latency` property (the user's choice) and never
//   above `kMaxLatencyMs`.
#pragma once

#include <gst/gst.h>

#include <cstdint>

namespace signalbin {

class LatencyTuner {
public:
    static constexpr unsigned kMaxLatencyMs = 500;

    explicit LatencyTuner(unsigned configured_ms) : configured_ms_(configured_ms), current_ms_(configured_ms) {}

    // One second's figures: the jitterbuffer's cumulative num-late, and its
    // rtx-rtt in ms (0: not measured yet). Returns the latency to use.
    unsigned update(uint64_t late_total, unsigned rtx_rtt_ms);
    unsigned current_ms() const { return current_ms_; }

private:
    unsigned configured_ms_;
    unsigned current_ms_;
    uint64_t last_late_ = 0;
    unsigned quiet_seconds_ = 0;
};

// Applies a tuner to a jitterbuffer (rtpjitterbuffer) once: reads its stats
// and sets its latency if it changed. `log_object` names it in the debug log.
void tune_jitterbuffer(GstElement* jitterbuffer, LatencyTuner& tuner, GstObject* log_object);

} // namespace signalbin
