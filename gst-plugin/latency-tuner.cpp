#include "latency-tuner.h"

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(signalsrc_debug);
#define GST_CAT_DEFAULT signalsrc_debug

namespace signalbin {

namespace {
constexpr unsigned kMarginMs = 20;
constexpr unsigned kQuietSecondsBeforeLowering = 10;
} // namespace

unsigned LatencyTuner::update(uint64_t late_total, unsigned rtx_rtt_ms)
{
    uint64_t late = late_total >= last_late_ ? late_total - last_late_ : 0;
    last_late_ = late_total;
    unsigned floor_ms = std::max(configured_ms_, rtx_rtt_ms > 0 ? rtx_rtt_ms * 3 / 2 + kMarginMs : 0u);
    unsigned target = current_ms_;
    if (late > 0) {
        quiet_seconds_ = 0;
        target = std::max(target + target / 2 + kMarginMs, floor_ms);
    } else if (++quiet_seconds_ >= kQuietSecondsBeforeLowering && current_ms_ > floor_ms) {
        quiet_seconds_ = 0;
        target = floor_ms + (current_ms_ - floor_ms) / 2;
    } else {
        target = std::max(target, floor_ms);
    }
    current_ms_ = std::min(std::max(target, configured_ms_), std::max(configured_ms_, kMaxLatencyMs));
    return current_ms_;
}

void tune_jitterbuffer(GstElement* jitterbuffer, LatencyTuner& tuner, GstObject* log_object)
{
    GstStructure* stats = nullptr;
    g_object_get(jitterbuffer, "stats", &stats, nullptr);
    if (!stats)
        return;
    guint64 late = 0, rtt = 0;
    gst_structure_get_uint64(stats, "num-late", &late);
    gst_structure_get_uint64(stats, "rtx-rtt", &rtt);
    gst_structure_free(stats);
    unsigned before = tuner.current_ms();
    unsigned after = tuner.update(late, static_cast<unsigned>(rtt / GST_MSECOND));
    if (after == before)
        return;
    GST_INFO_OBJECT(log_object, "%s: latency %u -> %u ms (%" G_GUINT64_FORMAT " late packets, retransmission round trip %" G_GUINT64_FORMAT " ms)",
                    GST_ELEMENT_NAME(jitterbuffer), before, after, late, rtt / GST_MSECOND);
    // The jitterbuffer posts a latency message: the pipeline takes the new
    // latency into account.
    g_object_set(jitterbuffer, "latency", after, nullptr);
}

} // namespace signalbin
