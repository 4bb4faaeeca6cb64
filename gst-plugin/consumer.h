// One consumer of signalsink: its webrtcbin, the negotiation with the peer
// (we offer, or we answer the peer's offer), and one branch per stream from
// that stream's codec tee:
//
//   tee(codec) ! queue leaky=downstream ! [key-frame gate] payloader ! webrtcbin
//
// Owned by Producer, driven on the signaller's thread. webrtcbin's callbacks
// come back through weak references, so a consumer can go at any time.
//
// Its elements are named "consumer-<serial>..." (the serial is unique in the
// sink, unlike a prefix of a session id) and carry the serial as qdata, by
// which signalsink routes an element's error to its consumer.
#pragma once

#include "app-channels.h"
#include "congestion-controller.h"
#include "control-channel.h"
#include "ladder.h"
#include "signaller.h"
#include "retransmissions.h"
#include "sink-stream.h"
#include "tier-switch.h"
#include "webrtc-utils.h"

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace signalbin {

class Consumer : public std::enable_shared_from_this<Consumer> {
public:
    struct Context {
        GstBin* bin = nullptr; // the signalsink
        std::shared_ptr<Signaller> signaller;
        WebRtcConfig webrtc;
        std::vector<std::shared_ptr<SinkStream>> streams;
        // Not connected (negotiated, ICE and DTLS up) by then: failed. 0: no limit.
        unsigned session_timeout_ms = 0;
        // A bandwidth estimate from transport-wide feedback (twcc.h), or none.
        bool congestion_control = true;
        CongestionController::Settings congestion;
        bool control_channel = false; // a `control` data channel (control-channel.h)
        std::string app_channel;      // the label of the application's data channel; "": none
        std::shared_ptr<AppChannels> apps;
        unsigned max_kbps = 0; // a lone consumer's top-tier encoder, at most (0: the top rung)
        // Called on the signaller thread when the connection failed or
        // negotiation could not complete.
        std::function<void(const std::string& session_id, const std::string& why)> on_failed;
    };

    struct Stats {
        std::string peer_id;
        std::string session_id;
        std::string connection_state = "new";
        std::string ice_connection_state = "new";
        guint64 bytes_sent = 0;
        guint64 packets_sent = 0;
        double round_trip_time = -1;
        guint64 bitrate = 0; // bits a second, over the last poll
        // Loss and its recovery, from the peer's RTCP and our retransmitter.
        guint nack_count = 0;
        guint pli_count = 0;
        guint fir_count = 0;
        gint64 packets_lost = 0;
        double fraction_lost = 0;
        guint64 retransmitted_packets = 0;
        guint64 retransmitted_bytes = 0;
        guint64 retransmissions_refused = 0; // beyond the budget (Retransmissions)
        guint keyframe_requests = 0; // from the peer (PLI or FIR), before coalescing
        // Congestion control (0 until the first feedback, or when it is off).
        guint64 estimated_bitrate = 0; // bits a second
        double queue_delay = 0;        // s, the path's queueing delay
        int tier = -1;                 // of its video (ladder.h); -1: no tiers
    };

    Consumer(Context context, unsigned serial, std::string session_id, std::string peer_id);
    ~Consumer();

    unsigned serial() const { return serial_; }
    const std::string& session_id() const { return session_id_; }
    const std::string& peer_id() const { return peer_id_; }
    GstElement* webrtcbin() const { return webrtc_; }

    // Adds the webrtcbin; false (with `error`) if it cannot. Then
    // negotiate() offers, or answers `offer`: in between the application
    // may configure the webrtcbin (consumer-added), open data channels.
    bool prepare(std::string& error);
    void negotiate(const std::optional<std::string>& offer);
    void remote_sdp(const protocol::Sdp& sdp);
    void remote_ice(const protocol::Ice& ice);
    // Unlinks every branch when idle, then removes all elements; `done` runs
    // on the signaller thread afterwards. What that needs (the consumer, the
    // sink, the signaller) is held until then.
    void teardown(std::function<void()> done);
    // The same at once, on the signaller thread, for a sink whose elements
    // have stopped (READY): no streaming thread is inside a branch, so
    // nothing is left running when this returns.
    void teardown_stopped();

    Stats stats() const;
    void poll_stats();

    // The serial of the consumer that `object` (or the nearest of its
    // parents below `bin`) belongs to; 0 if none.
    static unsigned serial_of(GstObject* object, GstObject* bin);

    struct Gate;

private:
    void stop_handlers();
    void remove_elements();
    struct Branch {
        std::shared_ptr<SinkStream> stream;
        unsigned mline = 0;
        Codec codec = Codec::H264;
        int payload = 96;
        GstElement* funnel = nullptr;
        std::unique_ptr<TierSwitch> tiers; // the tee(s) it takes frames from
        gint64 moving_since_us = 0;         // a move to another tier started
        GstElement* queue = nullptr;
        GstElement* payloader = nullptr;
        GRef<GstPad> webrtc_pad;
        SignalConnection overrun;
    };
    struct Plan {
        std::shared_ptr<SinkStream> stream;
        unsigned mline;
        Codec codec;
        int payload;
        std::string h264_profile; // the negotiated profile-level-id (H.264)
    };
    // The SSRC this consumer sends `stream` with: in the SDP (a=ssrc, with
    // cname and msid, so that stacks routing by SSRC find it) and on the
    // payloader; the same for the consumer's whole life.
    guint ssrc_of(const SinkStream& stream) const;
    GRef<GstCaps> with_ssrc(GRef<GstCaps> caps, const SinkStream& stream) const;

    template <typename F>
    void on_thread(F&& fn); // runs fn(self) on the signaller thread if still alive
    void fail(const std::string& why);
    std::string name(const std::string& suffix = "") const;
    bool add(GstElement* element);
    bool add_sendonly_transceiver(GRef<GstCaps> caps, const SinkStream& stream);
    void offer();
    void answer(const std::string& offer_sdp);
    void create_answer();
    void set_local_description(SessionDescription description);
    // Records what goes where; each branch is linked once webrtcbin has
    // made the send pad of its m-line (it does when negotiation applies).
    void link_branches(const std::vector<Plan>& plan);
    void link_ready_branches();
    bool link_branch(const Plan& plan, GstPad* webrtc_pad);
    void request_keyframes();
    int extension_id_of(unsigned mline, const char* uri) const;
    static std::string mid_of(GstPad* webrtc_pad);
    void on_feedback(const std::vector<PacketFeedback>& packets);
    // Follows the estimate: each video branch to its tier, a lone
    // consumer's encoder to its bitrate. On the signaller thread.
    void adapt();
    void finish_move(unsigned mline, unsigned from, unsigned to);
    void cancel_move(Branch& b);
    // The `control` channel (enable-control-data-channel): ours, in the
    // offer or answer, and any the peer opens with that label.
    void open_control_channel();
    void open_channels(); // control and application, as configured
    void update_control_targets();
    static void on_data_channel(GstElement*, GstWebRTCDataChannel* channel, gpointer data);
    void flush_pending_ice();
    void send_local_ice(const protocol::Ice& ice);
    std::string state_summary() const;

    static void on_pad_added(GstElement*, GstPad* pad, gpointer data);
    static void on_ice_candidate(GstElement*, guint mline, char* candidate, gpointer data);
    static void on_connection_state(GObject*, GParamSpec*, gpointer data);
    static void on_gathering_state(GObject*, GParamSpec*, gpointer data);

    Context context_;
    unsigned serial_;
    std::string session_id_;
    std::string peer_id_;
    GstElement* webrtc_ = nullptr; // owned by the bin while added
    PromiseKeeper promises_;       // every promise given to webrtc_
    std::vector<Branch> branches_;
    std::vector<guint> ssrcs_; // by index in context_.streams
    std::vector<Plan> plan_;                     // not linked yet
    std::map<unsigned, GRef<GstPad>> send_pads_; // by m-line, from webrtcbin
    std::vector<protocol::Ice> pending_ice_; // the peer's, until its SDP is applied
    bool remote_set_ = false;
    bool offered_ = false;
    // Read by webrtcbin's threads, written on the signaller's.
    std::atomic<bool> tearing_down_ {false};
    bool connected_once_ = false;
    ScopedSource session_timer_;
    SignalConnection pad_handler_, ice_handler_, state_handler_, ice_state_handler_, gathering_handler_,
        data_channel_handler_;
    std::vector<std::unique_ptr<ControlChannel>> controls_; // on the signaller thread

    bool congestion_control_ = true;
    bool watching_feedback_ = false;

    mutable std::mutex stats_lock_; // guards congestion_ too
    Stats stats_;
    CongestionController congestion_;
    std::optional<TierChooser> chooser_; // with the first video stream that has tiers
    unsigned video_tiers_ = 0;           // video branches with tiers, sharing the estimate
    gint64 last_adapt_us_ = 0;
    unsigned adapted_tier_ = 0;
    gint64 last_poll_us_ = 0;
    guint64 last_bytes_ = 0;
    Retransmissions retransmissions_; // polled on the signaller thread
    // Counted on webrtcbin's threads, by probes that may outlive the consumer.
    std::shared_ptr<std::atomic<guint>> keyframe_requests_ = std::make_shared<std::atomic<guint>>(0);
};

} // namespace signalbin
