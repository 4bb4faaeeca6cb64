// Helpers around webrtcbin shared by signalsink and signalsrc: creating and
// configuring one, promises as callbacks, SDP conversion, ICE candidates and
// statistics. No element state lives here.
#pragma once

#include "answer-plan.h"
#include "codecs.h"
#include "glib-ptr.h"
#include "protocol.h"

#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace signalbin {

SIGNALBIN_DEFINE_DELETER(GstWebRTCSessionDescription, gst_webrtc_session_description_free)
SIGNALBIN_DEFINE_DELETER(GstSDPMessage, gst_sdp_message_free)

using SessionDescription = GUnique<GstWebRTCSessionDescription>;

struct WebRtcConfig {
    std::string stun_server;               // stun://host:port, or empty
    std::vector<std::string> turn_servers; // turn(s)://user:pass@host:port
    std::vector<std::string> local_addresses; // added to the ICE agent (e.g. 127.0.0.1)
    unsigned latency_ms = 200;             // receiving jitterbuffer
};

// A webrtcbin, max-bundle, configured from `config`. Floating; nullptr if
// webrtcbin is not installed.
GstElement* make_webrtcbin(const WebRtcConfig& config, const std::string& name);

// Starts making the process's DTLS certificate on a thread of its own, once
// per process, so that the first session does not wait for it (GStreamer's
// dtls elements share one generated RSA key; making it takes 150-400 ms).
void prepare_dtls_certificate();
// Waits until that thread is done. Elements call it when they stop: a thread
// still in OpenSSL when the process exits crashes it (OpenSSL frees its
// state in an atexit handler).
void finish_dtls_certificate();

// What a webrtcbin promise came back with: its reply (valid during the
// callback only; nullptr for actions that reply with nothing), or why it
// failed: webrtcbin's GError for a rejected action, or "interrupted" /
// "expired".
struct PromiseResult {
    const GstStructure* reply = nullptr;
    std::string error; // empty: success
    bool ok() const { return error.empty(); }
};

// Calls `fn` with the promise's result from whichever thread webrtcbin
// answers on.
GstPromise* promise_then(std::function<void(const PromiseResult& result)> fn);

// The promises given to one webrtcbin, held until it has answered them.
// webrtcbin 1.22 frees an action it had not run yet when it stops, and with
// it the last reference to its promise, which GStreamer then reports as
// freed while pending (a critical). Holding a reference, and interrupting
// what is left before letting go, ends each promise properly.
class PromiseKeeper {
public:
    PromiseKeeper() = default;
    ~PromiseKeeper() { interrupt_all(); }
    PromiseKeeper(const PromiseKeeper&) = delete;
    PromiseKeeper& operator=(const PromiseKeeper&) = delete;

    // Keeps `promise` (adds a reference) and returns it.
    GstPromise* keep(GstPromise* promise);
    // Interrupts every promise not answered yet and lets go of all.
    void interrupt_all();

private:
    std::mutex lock_;
    std::vector<GstPromise*> kept_;
};

// The session description in a create-offer/create-answer reply (`field`
// "offer" or "answer"), or nullptr.
SessionDescription reply_description(const GstStructure* reply, const char* field);

// SDP text <-> webrtc session description; nullptr if the text is not SDP.
SessionDescription parse_description(GstWebRTCSDPType type, const std::string& sdp);
std::string description_text(const GstWebRTCSessionDescription* description);

// For a remote offer: per m-line, offered_codec (answer-plan.h).
std::vector<OfferedMedia> offered_media(const GstSDPMessage* sdp, const std::vector<Codec>& preferred,
                                        const std::string& send_h264_profile = "");

// Gives webrtcbin the peer's candidates; an empty one is its end of
// candidates (NULL to webrtcbin).
void add_ice_candidates(GstElement* webrtcbin, const std::vector<protocol::Ice>& candidates);

const char* connection_state_name(GstWebRTCPeerConnectionState state);
const char* ice_state_name(GstWebRTCICEConnectionState state);

// Totals from a get-stats reply.
struct SendStats {
    guint64 bytes_sent = 0;
    guint64 packets_sent = 0;
    double round_trip_time = -1; // seconds; -1 if unknown
    // From the peer's RTCP: feedback it sent, and its receiver reports.
    guint nack_count = 0;
    guint pli_count = 0;
    guint fir_count = 0;
    gint64 packets_lost = 0;   // cumulative, as the peer reports it
    double fraction_lost = 0;  // 0..1, over the peer's last report interval
};
SendStats summarize_send_stats(const GstStructure* reply);

} // namespace signalbin
