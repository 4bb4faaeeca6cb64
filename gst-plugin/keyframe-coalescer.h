// Key-frame requests to one shared encoder, coalesced. Every consumer can
// ask for a key frame (its viewer's PLI or FIR, a join, an overflowing
// queue); all of them reach the one encoder that serves everybody, and
// every key frame costs all of them ten times a delta frame's bits. So at
// most one forced key frame per `min_interval`: a request in between is
// kept pending and served when the interval is over (or by a key frame the
// encoder makes anyway). Nobody waits longer than the interval, and one
// lossy consumer cannot flood the others.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <memory>
#include <mutex>

namespace signalbin {

class KeyframeCoalescer {
public:
    static constexpr int64_t kDefaultMinIntervalUs = 500 * 1000;

    explicit KeyframeCoalescer(int64_t min_interval_us = kDefaultMinIntervalUs) : min_interval_us_(min_interval_us) {}

    // A request at `now_us`: true if it goes to the encoder now, false if it
    // is coalesced (pending, or already pending).
    bool request(int64_t now_us);
    // A frame leaving the encoder at `now_us`: true if a pending request is
    // due, and is to be sent now (it counts as forwarded).
    bool frame(int64_t now_us, bool keyframe);

    struct Counts {
        uint64_t requests = 0;  // asked for
        uint64_t forwarded = 0; // sent to the encoder
    };
    Counts counts() const;

private:
    mutable std::mutex lock_;
    int64_t min_interval_us_;
    int64_t last_forwarded_us_ = INT64_MIN / 2;
    bool pending_ = false;
    Counts counts_;
};

// Coalesces the key-frame requests that travel upstream through `pad` (the
// sink pad of a shared encoder's tee: every consumer's requests cross it)
// and watches the frames going down it. The coalescer lives as long as the
// pad's probes.
//
// Requests that reach the encoder leave with all-headers=FALSE, whoever
// made them (an RTCP FIR makes rtpsession ask for all headers): with
// all-headers, h264parse 1.22 pushes SPS and PPS as a buffer of their own
// ahead of the key frame, which rtph264pay sends as a marked packet with
// the key frame's timestamp, and Chromium takes it for a frame, fails to
// decode the rest and sends a PLI: a key frame every half second. The
// payloaders' config-interval=-1 puts SPS and PPS in every key frame
// anyway.
std::shared_ptr<KeyframeCoalescer> coalesce_keyframe_requests(GstPad* pad, GstObject* log_object);

// A key-frame request to push upstream (all-headers=FALSE, see above).
GstEvent* new_keyframe_request();

} // namespace signalbin
