// A `control` data channel (control-message.h has what it carries).
//
// signalsink's side: each request becomes an event sent upstream from the
// sink pads of the streams it is for (navigation: the video streams, its
// coordinates scaled from the consumer's tier to the input; custom
// upstream: every stream; a request naming a mid: that stream only), and
// is answered, with an error when no stream took it.
// signalsrc's side: send(navigation event) and the producer's answers.
//
// webrtcbin calls back on its SCTP threads (message-channel.h); the targets
// are behind a lock of their own.
#pragma once

#include "control-message.h"
#include "glib-ptr.h"
#include "gst-ptr.h"
#include "message-channel.h"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace signalbin {

inline constexpr const char* kControlChannelLabel = "control";

class ControlChannel {
public:
    // Where a producer's control requests go.
    struct Target {
        std::string name;               // the stream, "video_0"
        GRef<GstPad> pad;               // its sink pad inside signalsink: events go upstream from it
        bool video = false;
        std::optional<std::string> mid; // once negotiated
        unsigned divisor = 1;           // the consumer's tier: its picture is the input's / divisor
    };
    struct Counts {
        guint64 requests = 0; // received, valid or not
        guint64 refused = 0;  // answered with an error
        guint64 sent = 0;     // our requests (signalsrc)
    };

    // Opens a `control` channel on `webrtcbin` (before negotiation, so
    // that it is in the offer or answer); none if webrtcbin would not.
    static GRef<GstWebRTCDataChannel> open(GstElement* webrtcbin)
    {
        return MessageChannel::open(webrtcbin, kControlChannelLabel);
    }

    // `on_response` (optional) hears the peer's responses to our requests.
    explicit ControlChannel(GRef<GstWebRTCDataChannel> channel,
                            std::function<void(const ControlResponse&)> on_response = {});
    ~ControlChannel();
    ControlChannel(const ControlChannel&) = delete;
    ControlChannel& operator=(const ControlChannel&) = delete;

    void set_targets(std::vector<Target> targets);
    // Sends a navigation event as a request; false if it is not one or the
    // channel is not open.
    bool send_navigation(GstEvent* event, const std::optional<std::string>& mid);
    Counts counts() const;

private:
    struct State {
        std::mutex lock;
        std::vector<Target> targets;
        std::function<void(const ControlResponse&)> on_response;
        Counts counts;
        guint64 next_id = 0;
    };
    void handle(const std::string& text);
    std::optional<std::string> deliver(const ControlRequest& request);

    // Declared first, destroyed last: the channel's callbacks use it.
    std::shared_ptr<State> state_;
    std::unique_ptr<MessageChannel> channel_;
};

} // namespace signalbin
