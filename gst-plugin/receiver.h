// signalsrc's life between READY->PAUSED and PAUSED->READY: it picks a
// producer (by id, by meta name, or the first to appear), asks it for a
// session, answers its offer with a webrtcbin, and turns each incoming stream
// into depayloaded (and, unless downstream wants it encoded, decoded) data
// on one of the element's pads. When the producer goes, it waits for another
// that matches, or ends the stream.
#pragma once

#include "codecs.h"
#include "control-channel.h"
#include "latency-tuner.h"
#include "signaller.h"
#include "webrtc-utils.h"

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace signalbin {

class Receiver : public std::enable_shared_from_this<Receiver> {
public:
    struct Settings {
        Signaller::Options signalling;
        WebRtcConfig webrtc;
        std::string producer_id;
        std::string producer_name;
        bool eos_on_leave = false;
        // A session not connected (offer answered, ICE and DTLS up) by then is
        // ended and the producers tried again. 0: no limit.
        unsigned session_timeout_ms = 0;
        std::string app_channel; // the label of the producer's channel for the application; "": none
    };
    // What the element provides: its output pads.
    struct Pads {
        // Returns the ghost pad `name` (created and added, or reused) whose
        // target the receiver then sets. Called on a streaming thread.
        std::function<GstPad*(const std::string& name, const GstCaps* caps)> expose;
        // Producer gone and eos-on-leave: send EOS on every pad.
        std::function<void()> end_of_stream;
        // A message on the application's channel (on an SCTP thread).
        std::function<void(const std::string& text)> app_text;
        std::function<void(GBytes* bytes)> app_bytes;
    };

    Receiver(GstElement* element, Settings settings, Pads pads);
    ~Receiver();

    void start();
    // Ends the session and removes every element it added; afterwards no
    // callback touches the element. The destructor calls it too, but the
    // element calls it itself, as a callback may hold the last reference.
    void shutdown();
    // On the application's channel, from any thread; false when it is not open.
    bool send_app_text(const std::string& text);
    bool send_app_bytes(GBytes* bytes);

private:
    struct Chain {
        std::vector<GstElement*> elements;
        GRef<GstPad> ghost;
        gulong navigation_probe = 0; // on the ghost: navigation from downstream
        std::optional<std::string> mid;
    };

    bool matches(const std::string& id, const protocol::Json& meta) const;
    void producer_added(const std::string& id, const protocol::Json& meta);
    void producer_removed(const std::string& id);
    void session_started(const std::string& session_id, const std::string& producer_id);
    void remote_sdp(const std::string& session_id, const protocol::Sdp& sdp);
    // WHEP (Signaller::consumer_offers): we offer, the endpoint answers.
    void make_offer();
    void remote_answer(const std::string& sdp);
    void remote_ice(const std::string& session_id, const protocol::Ice& ice);
    // The producer left, the session ended or the connection failed.
    void session_lost(const std::string& why, bool tell_server);
    // Our startSession got an error or no answer: choose again, later.
    void session_request_failed(const std::string& why);
    void schedule_retry();
    // Our answer (WHEP: our offer) into webrtcbin, then to the peer.
    void set_local_description(const std::shared_ptr<SessionDescription>& description, protocol::Sdp::Type type);
    void remote_description_set();
    // Runs `fn` later on the signaller thread if this receiver still exists
    // and `webrtc` is still its session's webrtcbin (a later session's
    // replaces it): for what webrtcbin's threads report.
    template <typename F>
    void for_session(GstElement* webrtc, F&& fn);
    void try_select();
    void teardown_webrtc();
    void post(const char* name, const std::string& producer_id, const std::string& detail);

    static void on_pad_added(GstElement* webrtc, GstPad* pad, gpointer data);
    void handle_pad(GstElement* webrtc, GstPad* pad);
    static void on_ice_candidate(GstElement*, guint mline, char* candidate, gpointer data);
    static void on_connection_state(GObject* webrtc, GParamSpec*, gpointer data);
    static void on_gathering_state(GObject* webrtc, GParamSpec*, gpointer data);
    // The producer's `control` channel, if it opens one (signalsink with
    // enable-control-data-channel, webrtcsink likewise): navigation events
    // from downstream go to it.
    static void on_data_channel(GstElement* webrtc, GstWebRTCDataChannel* channel, gpointer data);
    static GstPadProbeReturn on_upstream_event(GstPad* pad, GstPadProbeInfo* info, gpointer data);

    GstElement* element_;
    Settings settings_;
    Pads pads_;
    std::shared_ptr<Signaller> signaller_;

    // On the signaller thread.
    std::map<std::string, protocol::Json> producers_;
    std::string producer_id_;  // chosen, session asked or running
    std::string session_id_;
    unsigned sessions_ = 0;    // names each session's webrtcbin
    bool ended_ = false;       // EOS sent or shut down; nothing more to do
    std::vector<protocol::Ice> pending_ice_;
    bool remote_set_ = false;
    bool offered_ = false; // this session's offer is ours (WHEP)
    bool connected_ = false; // this session's ICE connected
    std::string ice_state_ = "new";
    ScopedSource session_timer_;
    // A session that keeps failing is not retried in a tight loop.
    ScopedSource retry_;
    unsigned retry_ms_ = 0;
    // A session request the server never answers is given up after this.
    static constexpr unsigned kSessionRequestTimeoutMs = 10000;
    ScopedSource request_timer_;
    // Jitterbuffer latency, fitted to the path once a second.
    ScopedSource latency_timer_;
    std::map<GstElement*, LatencyTuner> tuners_; // by jitterbuffer, this session's
    void tune_latency();

    // Shared with streaming threads.
    std::mutex lock_;
    GstElement* webrtc_ = nullptr; // owned by the bin
    PromiseKeeper promises_;       // every promise given to webrtc_
    std::vector<Chain> chains_;
    std::shared_ptr<ControlChannel> control_;
    std::shared_ptr<MessageChannel> app_;
    unsigned video_count_ = 0;
    unsigned audio_count_ = 0;
    std::shared_ptr<std::weak_ptr<Receiver>> weak_self_;
    SignalConnection pad_handler_, ice_handler_, state_handler_, gathering_handler_, data_channel_handler_;
};

} // namespace signalbin
