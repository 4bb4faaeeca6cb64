// Baseline B: two plain webrtcbins negotiating directly in this process, as
// gst-examples' webrtc-sendrecv and gst-plugins-bad's webrtcbin tests do:
// the sender encodes with x264enc tune=zerolatency and payloads with
// rtph264pay; the receiver keeps webrtcbin's defaults (latency 200 ms) and
// plugs decodebin on pad-added. Offer and answer, and ICE candidates, go
// from one webrtcbin to the other with no server in between. Both use
// loopback for ICE.
#pragma once

#include "bench-util.h"

#include <mutex>
#include <string>

namespace signalbin::bench {

class BaselinePair {
public:
    BaselinePair() = default;
    ~BaselinePair();
    BaselinePair(const BaselinePair&) = delete;
    BaselinePair& operator=(const BaselinePair&) = delete;

    // The sender's launch line around `source` (raw video, e.g. "videotestsrc
    // is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1").
    static std::string sender_description(const std::string& source);

    // Builds the sender and sets it to PLAYING (it waits for negotiation).
    void start_sender(const std::string& source);
    // Builds the receiver: webrtcbin plus `tail`, a launch fragment with an
    // element named "out", and one named "in" where decodebin's video goes
    // (without one, it goes to "out").
    void build_receiver(const std::string& tail);
    // Sets the receiver to PLAYING and returns what set_state said.
    GstStateChangeReturn play_receiver();
    // Creates the offer on the sender and exchanges everything.
    void negotiate();
    // Stops both pipelines.
    void stop();

    Pipeline* sender() const { return sender_.get(); }
    Pipeline* receiver() const { return receiver_.get(); }
    // An error from negotiation (a promise that failed), or "".
    std::string error() const;

    struct Shared;

private:
    std::unique_ptr<Pipeline> sender_, receiver_;
    GRef<GstElement> send_webrtc_, recv_webrtc_;
    std::shared_ptr<Shared> shared_;
    SignalConnection send_ice_, recv_ice_, recv_pad_;
};

} // namespace signalbin::bench
