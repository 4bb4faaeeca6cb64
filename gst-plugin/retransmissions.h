// One consumer's retransmissions (RTX, RFC 4588): counted as they leave
// webrtcbin's retransmitter (rtprtxsend; rtpsession's own stats forget an
// RTX stream that has been quiet for a while), and bounded. Retransmitting
// into a congested link only adds to the congestion that lost the packets:
// over each second, requests beyond a quarter of the media bytes sent in
// the second before (at least 16 kB) are refused, as libwebrtc caps its
// retransmission rate. While the congestion controller sees the path
// queueing our packets, every request is refused: the losses then are the
// queue's, and resending only makes it longer. A refused packet is lost for
// good; the receiver's key-frame request repairs the picture.
#pragma once

#include "gst-ptr.h"

#include <gst/gst.h>

#include <cstdint>
#include <memory>

namespace signalbin {

class RetransmissionBudget {
public:
    static constexpr uint64_t kMinBytesPerSecond = 16 * 1024;

    // A packet leaving the retransmitter at `now_us`: media or RTX.
    void sent(int64_t now_us, uint64_t bytes, bool rtx);
    // A retransmission request at `now_us`: true to serve it.
    bool allow(int64_t now_us);
    // The path is queueing (congestion-controller.h): refuse every request.
    void set_congested(bool congested) { congested_ = congested; }

private:
    void roll(int64_t now_us);
    int64_t window_start_us_ = 0;
    uint64_t media_bytes_ = 0;       // this window
    uint64_t rtx_bytes_ = 0;         // this window
    uint64_t last_media_bytes_ = 0;  // the window before
    bool congested_ = false;
};

struct RetransmissionStats {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t refused = 0; // requests beyond the budget
};

class Retransmissions {
public:
    Retransmissions();
    ~Retransmissions();
    Retransmissions(const Retransmissions&) = delete;
    Retransmissions& operator=(const Retransmissions&) = delete;

    // Finds webrtcbin's retransmitter the first time it exists (webrtcbin
    // makes it once RTX is negotiated) and starts counting and bounding;
    // returns the totals so far. On the signaller thread.
    RetransmissionStats poll(GstElement* webrtcbin);
    // From any thread (RetransmissionBudget::set_congested).
    void set_congested(bool congested);

    struct State;

private:
    std::shared_ptr<State> state_;
    GRef<GstElement> rtxsend_; // webrtcbin's, once found
};

} // namespace signalbin
