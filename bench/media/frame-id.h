// A frame number written into the picture, for end-to-end latency across
// an encoder, the network and a decoder: 20 bits and a 4-bit check as a grid
// of black and white 32x32 luma blocks (8 columns, 3 rows) in the top-left
// corner of an I420 frame (at least 256x96). Blocks are macroblock-aligned
// and read back at their centres, so lossy coding does not change them.
#pragma once

#include "gst-ptr.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace signalbin::bench {

constexpr unsigned kFrameIdBits = 20;
constexpr uint32_t kFrameIdModulo = 1u << kFrameIdBits;

// The grid's height: a frame can carry one grid per this many rows.
constexpr int kFrameIdHeight = 96;

// Writes `id` (mod 2^20), the grid's top `top` rows down (a multiple of 32).
// False if the frame is not I420 or too small.
bool write_frame_id(GstVideoFrame* frame, uint32_t id, int top = 0);
// The id in the frame's grid at `top`; nullopt if a block is unclear or the
// check fails.
std::optional<uint32_t> read_frame_id(const GstVideoFrame* frame, int top = 0);

// Maps the buffer a buffer probe on `pad` sees as a video frame of the
// pad's caps; for GST_MAP_WRITE the buffer is made writable first. False
// (nothing mapped) if it cannot be.
bool map_probe_frame(GstPad* pad, GstPadProbeInfo* info, GstVideoFrame* frame, GstMapFlags flags);

// Sender side: numbers every raw frame crossing a pad and remembers when.
class FrameStamper {
public:
    FrameStamper();
    ~FrameStamper();
    FrameStamper(const FrameStamper&) = delete;
    FrameStamper& operator=(const FrameStamper&) = delete;

    void attach(GstPad* pad);
    // When frame `id` crossed the pad (g_get_monotonic_time), if recent.
    std::optional<gint64> capture_time(uint32_t id) const;
    uint64_t stamped() const;

    struct State;

private:
    std::shared_ptr<State> state_;
    GRef<GstPad> pad_;
    gulong probe_ = 0;
};

// Receiver side: reads the id of every decoded frame at a sink's pad
// ("decoded") and at another sink's handoff (when it renders it:
// "displayed"), and keeps now - capture time.
class FrameLatency {
public:
    explicit FrameLatency(const FrameStamper& stamper);
    ~FrameLatency();
    FrameLatency(const FrameLatency&) = delete;
    FrameLatency& operator=(const FrameLatency&) = delete;

    // Probes `decoded`'s sink pad and connects `displayed`'s handoff (a
    // fakesink with signal-handoffs=true).
    void attach(GstElement* decoded, GstElement* displayed);
    // Frames seen at all (recording or not).
    uint64_t frames() const;
    // Clears the samples and starts keeping new ones.
    void start_recording();
    void stop_recording();

    struct Samples {
        std::vector<double> decoded_ms;
        std::vector<double> displayed_ms;
        uint64_t unreadable = 0;     // frames whose id could not be read
        uint64_t unknown = 0;        // ids with no capture time
        uint64_t first_id = 0, last_id = 0; // range of ids displayed while recording
    };
    Samples samples() const;

    struct State;

private:
    std::shared_ptr<State> state_;
    GRef<GstElement> sink_;
    GRef<GstPad> pad_;
    gulong probe_ = 0;
    gulong handoff_ = 0;
};

} // namespace signalbin::bench
