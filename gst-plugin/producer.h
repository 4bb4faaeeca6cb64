// signalsink's life between READY->PAUSED and PAUSED->READY: registered as a
// producer, it gives every consumer that asks a Consumer (a webrtcbin fed from
// the streams' shared encoders) and takes it down when the session ends, the
// connection fails or the peer disconnects.
//
// The element calls start() and stop() from its state changes. Other copies
// of the shared pointer (taken by streaming threads or signal handlers) only
// keep the object alive: its destructor never waits for anything.
#pragma once

#include "app-channels.h"
#include "consumer.h"
#include "signaller.h"
#include "sink-stream.h"

#include <gst/gst.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace signalbin {

class Producer : public std::enable_shared_from_this<Producer> {
public:
    struct Settings {
        Signaller::Options signalling;
        WebRtcConfig webrtc;
        unsigned max_consumers = 0;      // 0: no limit
        unsigned session_timeout_ms = 0; // 0: no limit
        bool congestion_control = true;
        bool control_channel = false; // enable-control-data-channel
        std::string app_channel;      // app-data-channel
        std::shared_ptr<AppChannels> apps;
        CongestionController::Settings congestion;
        unsigned max_kbps = 0;
    };
    struct Events {
        std::function<void(const std::string& peer_id, GstElement* webrtcbin)> consumer_added;
        std::function<void(const std::string& peer_id, GstElement* webrtcbin)> consumer_removed;
    };

    Producer(GstElement* element, Settings settings, std::vector<std::shared_ptr<SinkStream>> streams, Events events);
    ~Producer(); // stop() if the element has not

    void start();
    // Ends every session, takes every consumer down and disconnects, all
    // before it returns; for a sink whose elements are READY (no data
    // flows). Safe to call twice, and from a consumer-added handler.
    void stop();
    // True inside one of the producer's callbacks (consumer-added, say):
    // destroying it there would leave its thread running on its own.
    bool on_own_thread() const;
    // Lets go of a stopped producer: at once, or, on the signaller's thread
    // (perhaps inside one of its callbacks), once the current work returns.
    static void release(std::shared_ptr<Producer> producer);
    // A stream got its caps: requests waiting for it can go ahead.
    void stream_ready();
    // A stream's pad was released while running: new consumers go without it.
    void stream_released(const std::shared_ptr<SinkStream>& stream);
    // One GstStructure field per consumer, as of the last second; see
    // docs/elements.md. Never waits for the signaller's thread.
    GstStructure* stats() const;
    // An element of the consumer with this serial (Consumer::serial_of)
    // failed: that consumer goes, the others stay.
    void consumer_failed(unsigned serial, const std::string& why);
    unsigned server_port() const { return signaller_->server_port(); }

private:
    template <typename F>
    void on_thread(F&& fn); // fn(*this) on the signaller thread, if still alive and running
    void session_requested(const std::string& session_id, const std::string& peer_id,
                           const std::optional<std::string>& offer);
    void session_ended(const std::string& session_id);
    // `warn`: post a warning on the bus (the consumer failed).
    void remove_consumer(std::string session_id, bool tell_peer, const std::string& why, bool warn);
    bool streams_ready() const;
    void update_stats();

    GstElement* element_;
    Settings settings_;
    Events events_;
    std::shared_ptr<Signaller> signaller_;
    std::atomic<bool> stopped_ {false};
    // On the signaller thread only.
    std::vector<std::shared_ptr<SinkStream>> streams_;
    std::map<std::string, std::shared_ptr<Consumer>> consumers_;
    unsigned next_serial_ = 1;
    struct Request {
        std::string session_id;
        std::string peer_id;
        std::optional<std::string> offer;
    };
    std::vector<Request> waiting_;
    ScopedSource stats_timer_;
    // Written on the signaller thread, read by the stats property.
    mutable std::mutex stats_lock_;
    GUnique<GstStructure> stats_;
};

} // namespace signalbin
