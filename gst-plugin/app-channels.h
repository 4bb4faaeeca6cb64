// signalsink's data channels for the application (app-data-channel): one
// per consumer, by session, with the element's app-message and app-data
// signals for what arrives and send-app-message and send-app-data for what
// goes. Shared by the element (which sends from any thread) and its
// consumers (which add and remove channels on the signalling thread).
#pragma once

#include "message-channel.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace signalbin {

class AppChannels {
public:
    // Called on webrtcbin's SCTP threads.
    struct Events {
        std::function<void(const std::string& peer_id, const std::string& text)> text;
        std::function<void(const std::string& peer_id, GBytes* bytes)> bytes;
    };
    explicit AppChannels(Events events) : events_(std::move(events)) {}

    void add(const std::string& session_id, const std::string& peer_id, GRef<GstWebRTCDataChannel> channel);
    void remove_session(const std::string& session_id);
    // To `peer_id`'s channels, or every consumer's when it is empty; the
    // number of channels it went out on.
    unsigned send_text(const std::string& peer_id, const std::string& text);
    unsigned send_bytes(const std::string& peer_id, GBytes* bytes);

private:
    struct Entry {
        std::string session_id;
        std::string peer_id;
        std::shared_ptr<MessageChannel> channel;
    };
    std::vector<std::shared_ptr<MessageChannel>> targets(const std::string& peer_id);

    Events events_;
    std::mutex lock_;
    std::vector<Entry> entries_;
};

} // namespace signalbin
