// signalsink's life between READY->PAUSED and PAUSED->READY: registered as a
// producer, it gives every consumer that asks a Consumer (a webrtcbin fed from
// the streams' shared encoders) and takes it down when the session ends, the
// connection fails or the peer disconnects.
#pragma once

#include "consumer.h"
#include "signaller.h"
#include "sink-stream.h"

#include <gst/gst.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace signalbin {

class Producer {
public:
    struct Settings {
        Signaller::Options signalling;
        WebRtcConfig webrtc;
        unsigned max_consumers = 0; // 0: no limit
    };
    struct Events {
        std::function<void(const std::string& peer_id, GstElement* webrtcbin)> consumer_added;
        std::function<void(const std::string& peer_id, GstElement* webrtcbin)> consumer_removed;
    };

    Producer(GstElement* element, Settings settings, std::vector<SinkStream*> streams, Events events);
    ~Producer(); // ends every session and disconnects

    void start();
    // A stream got its caps: requests waiting for it can go ahead.
    void stream_ready();
    // One GstStructure field per consumer; see docs/elements.md.
    GstStructure* stats();
    size_t consumer_count();
    // An element of the consumer whose session id starts with `prefix`
    // failed: that consumer goes, the others stay.
    void consumer_failed(const std::string& prefix, const std::string& why);
    unsigned server_port() const { return signaller_->server_port(); }

private:
    void session_requested(const std::string& session_id, const std::string& peer_id,
                           const std::optional<std::string>& offer);
    void remove_consumer(std::string session_id, bool tell_peer, const std::string& why);
    bool streams_ready() const;

    GstElement* element_;
    Settings settings_;
    std::vector<SinkStream*> streams_;
    Events events_;
    std::unique_ptr<Signaller> signaller_;
    // On the signaller thread only.
    std::map<std::string, std::shared_ptr<Consumer>> consumers_;
    struct Request {
        std::string session_id;
        std::string peer_id;
        std::optional<std::string> offer;
    };
    std::vector<Request> waiting_;
    ScopedSource stats_timer_;
    int tearing_down_ = 0;
};

} // namespace signalbin
