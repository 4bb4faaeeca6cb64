// A data channel's messages, for whoever owns the channel: text and bytes
// in (on webrtcbin's SCTP threads), text and bytes out (from any thread).
// The destructor waits for a callback in progress, and none comes after it,
// so the owner may go at any time.
#pragma once

#include "glib-ptr.h"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace signalbin {

class MessageChannel {
public:
    using OnText = std::function<void(const std::string& text)>;
    using OnBytes = std::function<void(GBytes* bytes)>;

    // `on_bytes` none: bytes are taken as text (UTF-8 JSON from a peer that
    // sends it binary).
    MessageChannel(GRef<GstWebRTCDataChannel> channel, OnText on_text, OnBytes on_bytes = {});
    ~MessageChannel();
    MessageChannel(const MessageChannel&) = delete;
    MessageChannel& operator=(const MessageChannel&) = delete;

    // False when the channel is not open (yet, or any more) or webrtcbin refused.
    bool send_text(const std::string& text);
    bool send_bytes(GBytes* bytes);
    GstWebRTCDataChannel* channel() const { return shared_->channel.get(); }
    std::string label() const;

    // Opens a reliable, ordered channel called `label` on `webrtcbin`; none
    // if webrtcbin would not.
    static GRef<GstWebRTCDataChannel> open(GstElement* webrtcbin, const std::string& label);
    static std::string label_of(GstWebRTCDataChannel* channel);

private:
    struct Shared {
        std::recursive_mutex lock; // recursive: the last owner may let go inside a callback
        bool closed = false;
        GRef<GstWebRTCDataChannel> channel;
        OnText on_text;
        OnBytes on_bytes;
    };
    static void on_string(GstWebRTCDataChannel*, const char* text, gpointer data);
    static void on_data(GstWebRTCDataChannel*, GBytes* bytes, gpointer data);
    bool is_open() const;

    std::shared_ptr<Shared> shared_;
    SignalConnection string_handler_, data_handler_;
};

} // namespace signalbin
