#include "webrtc-utils.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace signalbin {

namespace {

// libnice sends one connectivity check per Ta (its stun-pacing-timer, 20 ms
// by default), and with regular nomination a session needs about three
// ticks before media flows: ~60 ms even on a LAN, most of the time to the
// first frame. RFC 8445 allows a Ta down to 5 ms.
constexpr guint kIceCheckPacingMs = 5;

void pace_ice_checks(GstObject* ice)
{
    if (!g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent"))
        return;
    GObject* agent = nullptr;
    g_object_get(ice, "agent", &agent, nullptr);
    GRef<GObject> owned = adopt_ref(agent);
    if (owned && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "stun-pacing-timer"))
        g_object_set(agent, "stun-pacing-timer", kIceCheckPacingMs, nullptr);
}

} // namespace

GstElement* make_webrtcbin(const WebRtcConfig& config, const std::string& name)
{
    GstElement* webrtc = gst_element_factory_make("webrtcbin", name.c_str());
    if (!webrtc)
        return nullptr;
    gst_util_set_object_arg(G_OBJECT(webrtc), "bundle-policy", "max-bundle");
    g_object_set(webrtc, "latency", config.latency_ms, nullptr);
    if (!config.stun_server.empty())
        g_object_set(webrtc, "stun-server", config.stun_server.c_str(), nullptr);
    for (const std::string& turn : config.turn_servers) {
        gboolean added = FALSE;
        g_signal_emit_by_name(webrtc, "add-turn-server", turn.c_str(), &added);
        if (!added)
            GST_WARNING_OBJECT(webrtc, "TURN server %s was not accepted", turn.c_str());
    }
    GstObject* agent = nullptr;
    g_object_get(webrtc, "ice-agent", &agent, nullptr);
    if (agent) {
        pace_ice_checks(agent);
        for (const std::string& address : config.local_addresses) {
            gboolean added = FALSE;
            g_signal_emit_by_name(agent, "add-local-ip-address", address.c_str(), &added);
            if (!added)
                GST_WARNING_OBJECT(webrtc, "ICE agent refused local address %s", address.c_str());
        }
        gst_object_unref(agent);
    }
    return webrtc;
}

namespace {
std::mutex dtls_lock;
GThread* dtls_thread = nullptr; // running, or finished and not yet joined
bool dtls_started = false;
} // namespace

void prepare_dtls_certificate()
{
    std::lock_guard<std::mutex> guard(dtls_lock);
    if (dtls_started)
        return;
    dtls_started = true;
    // dtlsdec makes (or takes) the process-wide certificate when created.
    dtls_thread = g_thread_try_new(
        "signalbin-dtls",
        [](gpointer) -> gpointer {
            if (GstElement* dec = gst_element_factory_make("dtlsdec", nullptr))
                gst_object_unref(gst_object_ref_sink(dec));
            return nullptr;
        },
        nullptr, nullptr);
}

void finish_dtls_certificate()
{
    std::lock_guard<std::mutex> guard(dtls_lock);
    if (dtls_thread)
        g_thread_join(dtls_thread);
    dtls_thread = nullptr;
}

GstPromise* PromiseKeeper::keep(GstPromise* promise)
{
    std::lock_guard<std::mutex> guard(lock_);
    // Only ours left: webrtcbin has answered it (and dropped its own).
    kept_.erase(std::remove_if(kept_.begin(), kept_.end(),
                               [](GstPromise* p) {
                                   if (GST_MINI_OBJECT_REFCOUNT_VALUE(p) > 1)
                                       return false;
                                   gst_promise_unref(p);
                                   return true;
                               }),
                kept_.end());
    kept_.push_back(gst_promise_ref(promise));
    return promise;
}

void PromiseKeeper::interrupt_all()
{
    std::vector<GstPromise*> all;
    {
        std::lock_guard<std::mutex> guard(lock_);
        all.swap(kept_);
    }
    for (GstPromise* p : all) {
        // A no-op for one already answered.
        gst_promise_interrupt(p);
        gst_promise_unref(p);
    }
}

GstPromise* promise_then(std::function<void(const PromiseResult& result)> fn)
{
    auto* heap = new std::function<void(const PromiseResult&)>(std::move(fn));
    return gst_promise_new_with_change_func(
        [](GstPromise* promise, gpointer data) {
            auto* f = static_cast<std::function<void(const PromiseResult&)>*>(data);
            PromiseResult result;
            switch (gst_promise_wait(promise)) {
            case GST_PROMISE_RESULT_REPLIED: {
                result.reply = gst_promise_get_reply(promise);
                GError* error = nullptr;
                if (result.reply && gst_structure_has_field(result.reply, "error") &&
                    gst_structure_get(result.reply, "error", G_TYPE_ERROR, &error, nullptr)) {
                    result.error = error && error->message && *error->message ? error->message : "unknown error";
                    g_clear_error(&error);
                }
                break;
            }
            case GST_PROMISE_RESULT_INTERRUPTED:
                result.error = "interrupted";
                break;
            case GST_PROMISE_RESULT_EXPIRED:
                result.error = "expired";
                break;
            case GST_PROMISE_RESULT_PENDING:
                result.error = "no reply";
                break;
            }
            (*f)(result);
        },
        heap, [](gpointer data) { delete static_cast<std::function<void(const PromiseResult&)>*>(data); });
}

SessionDescription reply_description(const GstStructure* reply, const char* field)
{
    GstWebRTCSessionDescription* description = nullptr;
    if (reply)
        gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, nullptr);
    return SessionDescription(description);
}

SessionDescription parse_description(GstWebRTCSDPType type, const std::string& sdp)
{
    GstSDPMessage* message = nullptr;
    if (gst_sdp_message_new_from_text(sdp.c_str(), &message) != GST_SDP_OK || !message)
        return nullptr;
    if (gst_sdp_message_medias_len(message) == 0 && sdp.find("v=0") == std::string::npos) {
        gst_sdp_message_free(message);
        return nullptr;
    }
    return SessionDescription(gst_webrtc_session_description_new(type, message));
}

std::string description_text(const GstWebRTCSessionDescription* description)
{
    GCharPtr text(gst_sdp_message_as_text(description->sdp));
    return text ? text.get() : "";
}

std::vector<OfferedMedia> offered_media(const GstSDPMessage* sdp, const std::vector<Codec>& preferred,
                                        const std::string& send_h264_profile)
{
    std::vector<OfferedMedia> result;
    for (guint i = 0; i < gst_sdp_message_medias_len(sdp); ++i)
        result.push_back(offered_codec(gst_sdp_message_get_media(sdp, i), preferred, send_h264_profile));
    return result;
}

void add_ice_candidates(GstElement* webrtcbin, const std::vector<protocol::Ice>& candidates)
{
    for (const protocol::Ice& ice : candidates) {
        const char* candidate = ice.candidate.empty() ? nullptr : ice.candidate.c_str();
        g_signal_emit_by_name(webrtcbin, "add-ice-candidate", ice.sdp_mline_index, candidate);
    }
}

const char* connection_state_name(GstWebRTCPeerConnectionState state)
{
    switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
        return "new";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
        return "connecting";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
        return "connected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
        return "disconnected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
        return "failed";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
        return "closed";
    }
    return "unknown";
}

const char* ice_state_name(GstWebRTCICEConnectionState state)
{
    switch (state) {
    case GST_WEBRTC_ICE_CONNECTION_STATE_NEW:
        return "new";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CHECKING:
        return "checking";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED:
        return "connected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED:
        return "completed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_FAILED:
        return "failed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED:
        return "disconnected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CLOSED:
        return "closed";
    }
    return "unknown";
}

SendStats summarize_send_stats(const GstStructure* reply)
{
    SendStats stats;
    if (!reply)
        return stats;
    gst_structure_foreach(
        reply,
        [](GQuark, const GValue* value, gpointer data) -> gboolean {
            auto* out = static_cast<SendStats*>(data);
            if (!GST_VALUE_HOLDS_STRUCTURE(value))
                return TRUE;
            const GstStructure* s = gst_value_get_structure(value);
            GstWebRTCStatsType type;
            if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr))
                return TRUE;
            if (type == GST_WEBRTC_STATS_OUTBOUND_RTP) {
                guint64 bytes = 0, packets = 0;
                guint count = 0;
                if (gst_structure_get_uint64(s, "bytes-sent", &bytes))
                    out->bytes_sent += bytes;
                if (gst_structure_get_uint64(s, "packets-sent", &packets))
                    out->packets_sent += packets;
                if (gst_structure_get_uint(s, "nack-count", &count))
                    out->nack_count += count;
                if (gst_structure_get_uint(s, "pli-count", &count))
                    out->pli_count += count;
                if (gst_structure_get_uint(s, "fir-count", &count))
                    out->fir_count += count;
            } else if (type == GST_WEBRTC_STATS_REMOTE_INBOUND_RTP) {
                double rtt = -1, fraction = 0;
                gint64 lost = 0;
                if (gst_structure_get_double(s, "round-trip-time", &rtt) && rtt >= 0)
                    out->round_trip_time = std::max(out->round_trip_time, rtt);
                if (gst_structure_get_int64(s, "packets-lost", &lost))
                    out->packets_lost += lost;
                if (gst_structure_get_double(s, "fraction-lost", &fraction))
                    out->fraction_lost = std::max(out->fraction_lost, fraction);
            }
            return TRUE;
        },
        &stats);
    return stats;
}

} // namespace signalbin
