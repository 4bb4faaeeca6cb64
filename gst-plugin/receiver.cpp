#include "receiver.h"

#include "latency-tuner.h"
#include "loss-recovery.h"
#include "rtp-extensions.h"
#include "twcc.h"

#include <algorithm>
#include <cstdlib>

GST_DEBUG_CATEGORY_EXTERN(signalsrc_debug);
#define GST_CAT_DEFAULT signalsrc_debug

namespace signalbin {

namespace {

using WeakReceiver = std::weak_ptr<Receiver>;

// Does the peer of `ghost` want `encoded` as it is? Only if it says so: a
// peer that takes anything (ANY, or nothing linked) gets decoded data.
bool downstream_wants_encoded(GstPad* ghost, const GstCaps* encoded)
{
    GRef<GstCaps> peer = adopt_ref(gst_pad_peer_query_caps(ghost, nullptr));
    if (!peer || gst_caps_is_any(peer.get()) || gst_caps_is_empty(peer.get()))
        return false;
    return gst_caps_can_intersect(peer.get(), encoded);
}

// Per m-line of the producer's offer, the first of its formats (the
// producer's preference) that signalsrc can receive.
std::vector<OfferedMedia> receivable_media(const GstSDPMessage* sdp, const std::vector<Codec>& receivable)
{
    std::vector<OfferedMedia> result;
    for (guint i = 0; i < gst_sdp_message_medias_len(sdp); ++i) {
        const GstSDPMedia* media = gst_sdp_message_get_media(sdp, i);
        OfferedMedia chosen;
        chosen.media = gst_sdp_media_get_media(media) ? gst_sdp_media_get_media(media) : "";
        for (guint f = 0; f < gst_sdp_media_formats_len(media) && !chosen.codec; ++f) {
            int pt = std::atoi(gst_sdp_media_get_format(media, f));
            GRef<GstCaps> caps = adopt_ref(gst_sdp_media_get_caps_from_media(media, pt));
            std::optional<Codec> codec = caps && !gst_caps_is_empty(caps.get())
                                             ? codec_from_rtp_caps(gst_caps_get_structure(caps.get(), 0))
                                             : std::nullopt;
            if (!codec || std::find(receivable.begin(), receivable.end(), *codec) == receivable.end())
                continue;
            std::vector<OfferedMedia> one = offered_media(sdp, {*codec});
            if (i < one.size() && one[i].codec)
                chosen = one[i];
        }
        result.push_back(std::move(chosen));
    }
    return result;
}

} // namespace

Receiver::Receiver(GstElement* element, Settings settings, Pads pads)
    : element_(element), settings_(std::move(settings)), pads_(std::move(pads))
{
    settings_.signalling.role = Signaller::Role::Consumer;
    Signaller::Callbacks callbacks;
    callbacks.on_ready = [this](const std::string& id, bool reconnected) {
        GST_INFO_OBJECT(element_, "connected as %s%s", id.c_str(), reconnected ? " again" : "");
        if (reconnected) {
            producers_.clear();
            GST_ELEMENT_WARNING(element_, RESOURCE, READ,
                                ("Reconnected to the signalling server at %s", signaller_->url().c_str()), (nullptr));
        }
    };
    callbacks.on_fatal = [this](const std::string& message, const std::string& debug) {
        GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_READ, ("%s", message.c_str()), ("%s", debug.c_str()));
    };
    callbacks.on_warning = [this](const std::string& message) {
        GST_ELEMENT_WARNING(element_, RESOURCE, READ, ("%s", message.c_str()), ("reconnecting"));
    };
    callbacks.on_server_error = [this](const std::string& details) {
        GST_WARNING_OBJECT(element_, "signalling server says: %s", details.c_str());
        // The protocol answers startSession with sessionStarted or an error,
        // whatever its wording (servers differ): an error while we wait is
        // the answer.
        if (!producer_id_.empty() && session_id_.empty())
            session_request_failed("the server refused the session: " + details);
    };
    callbacks.on_producer_added = [this](const std::string& id, const protocol::Json& meta) { producer_added(id, meta); };
    callbacks.on_producer_removed = [this](const std::string& id) { producer_removed(id); };
    callbacks.on_session_started = [this](const std::string& session, const std::string& producer) {
        session_started(session, producer);
    };
    callbacks.on_sdp = [this](const std::string& session, const protocol::Sdp& sdp) { remote_sdp(session, sdp); };
    callbacks.on_ice = [this](const std::string& session, const protocol::Ice& ice) { remote_ice(session, ice); };
    callbacks.on_session_ended = [this](const std::string& session, const std::optional<std::string>& error) {
        if (session != session_id_)
            return;
        if (error) {
            GST_ELEMENT_WARNING(element_, STREAM, FAILED,
                                ("The producer ended the session: %s", error->c_str()),
                                ("producer %s, session %s", producer_id_.c_str(), session.c_str()));
            session_lost("the producer ended the session: " + *error, false);
            return;
        }
        session_lost("the producer ended the session", false);
    };
    callbacks.on_send_failed = [this](const std::string& session, const std::string& why) {
        if (session == session_id_)
            session_lost(why, false);
    };
    signaller_ = Signaller::create(settings_.signalling, std::move(callbacks));
}

Receiver::~Receiver()
{
    shutdown();
    signaller_.reset();
}

void Receiver::shutdown()
{
    signaller_->thread().invoke_sync([this] {
        if (ended_ && !webrtc_)
            return;
        ended_ = true;
        retry_.cancel();
        request_timer_.cancel();
        session_timer_.cancel();
        if (!session_id_.empty())
            signaller_->end_session(session_id_);
        session_id_.clear();
        teardown_webrtc();
    });
    signaller_->stop();
    finish_dtls_certificate();
}

void Receiver::start()
{
    weak_self_ = std::make_shared<std::weak_ptr<Receiver>>(weak_from_this());
    prepare_dtls_certificate(); // meanwhile the session is being set up
    signaller_->start();
}

bool Receiver::matches(const std::string& id, const protocol::Json& meta) const
{
    if (signaller_->single_producer())
        return true; // WHEP: the endpoint is the producer
    if (!settings_.producer_id.empty())
        return id == settings_.producer_id;
    if (!settings_.producer_name.empty())
        return meta.string_member("name") == settings_.producer_name;
    return true;
}

void Receiver::producer_added(const std::string& id, const protocol::Json& meta)
{
    producers_[id] = meta;
    try_select();
}

void Receiver::producer_removed(const std::string& id)
{
    producers_.erase(id);
    if (id == producer_id_)
        session_lost("the producer left", false);
}

void Receiver::try_select()
{
    if (ended_ || !producer_id_.empty() || retry_.active())
        return;
    for (const auto& [id, meta] : producers_) {
        if (!matches(id, meta))
            continue;
        producer_id_ = id;
        GST_INFO_OBJECT(element_, "asking producer %s for a session", id.c_str());
        post("signalsrc-producer-found", id, meta.string_member("name").value_or(""));
        signaller_->start_session(id);
        request_timer_ = ScopedSource::timeout(signaller_->thread().context(), kSessionRequestTimeoutMs, [this] {
            if (!producer_id_.empty() && session_id_.empty())
                session_request_failed("no answer to the session request within " +
                                       std::to_string(kSessionRequestTimeoutMs) + " ms");
            return false;
        });
        return;
    }
}

void Receiver::session_request_failed(const std::string& why)
{
    GST_INFO_OBJECT(element_, "session request to %s failed: %s", producer_id_.c_str(), why.c_str());
    request_timer_.cancel();
    producer_id_.clear();
    schedule_retry();
}

void Receiver::schedule_retry()
{
    retry_ms_ = retry_ms_ == 0 ? 250 : std::min(retry_ms_ * 2, 5000u);
    retry_ = ScopedSource::timeout(signaller_->thread().context(), retry_ms_, [this] {
        retry_.cancel(); // try_select() waits while a retry is due
        try_select();
        return false;
    });
}

void Receiver::session_started(const std::string& session_id, const std::string& producer_id)
{
    if (producer_id != producer_id_ || !session_id_.empty()) {
        signaller_->end_session(session_id);
        return;
    }
    request_timer_.cancel();
    session_id_ = session_id;
    remote_set_ = false;
    offered_ = false;
    connected_ = false;
    ice_state_ = "new";
    pending_ice_.clear();
    if (settings_.session_timeout_ms > 0)
        session_timer_ = ScopedSource::timeout(signaller_->thread().context(), settings_.session_timeout_ms, [this] {
            if (connected_ || session_id_.empty())
                return false;
            std::string why = "not connected within " + std::to_string(settings_.session_timeout_ms) + " ms (" +
                              (remote_set_ ? (offered_ ? "offer answered by the endpoint" : "offer answered")
                                           : (offered_ ? "no answer from the endpoint" : "no offer from the producer")) +
                              ", ICE " +
                              ice_state_ + ")";
            GST_ELEMENT_WARNING(element_, RESOURCE, READ, ("Session with producer %s: %s", producer_id_.c_str(),
                                                           why.c_str()),
                                ("session %s; asking the producers again", session_id_.c_str()));
            session_lost(why, true);
            return false;
        });
    post("signalsrc-session-started", producer_id, session_id);

    GstElement* webrtc = make_webrtcbin(settings_.webrtc, "webrtcbin-" + std::to_string(++sessions_));
    if (!webrtc) {
        GST_ELEMENT_ERROR(element_, CORE, MISSING_PLUGIN, ("webrtcbin is not installed"),
                          ("install gstreamer1.0-plugins-bad and gstreamer1.0-nice"));
        return;
    }
    if (!gst_bin_add(GST_BIN(element_), webrtc)) {
        gst_object_unref(gst_object_ref_sink(webrtc));
        session_lost("could not add a webrtcbin to signalsrc", true);
        return;
    }
    {
        std::lock_guard<std::mutex> guard(lock_);
        webrtc_ = webrtc;
        video_count_ = audio_count_ = 0;
    }
    auto connect = [this, webrtc](const char* signal, GCallback callback) {
        auto* weak = new WeakReceiver(weak_from_this());
        gulong id = g_signal_connect_data(
            webrtc, signal, callback, weak, [](gpointer data, GClosure*) { delete static_cast<WeakReceiver*>(data); },
            static_cast<GConnectFlags>(0));
        return SignalConnection(webrtc, id);
    };
    pad_handler_ = connect("pad-added", G_CALLBACK(&Receiver::on_pad_added));
    ice_handler_ = connect("on-ice-candidate", G_CALLBACK(&Receiver::on_ice_candidate));
    state_handler_ = connect("notify::ice-connection-state", G_CALLBACK(&Receiver::on_connection_state));
    gathering_handler_ = connect("notify::ice-gathering-state", G_CALLBACK(&Receiver::on_gathering_state));
    data_channel_handler_ = connect("on-data-channel", G_CALLBACK(&Receiver::on_data_channel));
    gst_element_sync_state_with_parent(webrtc);
    latency_timer_ = ScopedSource::timeout(signaller_->thread().context(), 1000, [this] {
        tune_latency();
        return true;
    });
    if (signaller_->consumer_offers())
        make_offer();
}

// WHEP: we offer to receive what we can decode, video and audio, as a
// browser's WHEP player would; the endpoint answers.
void Receiver::make_offer()
{
    offered_ = true;
    for (bool video : {true, false}) {
        GRef<GstCaps> caps = adopt_ref(gst_caps_new_empty());
        for (Codec c : video ? std::vector<Codec> {Codec::H264, Codec::VP8} : std::vector<Codec> {Codec::Opus})
            if (missing_elements(c, false, true).empty())
                gst_caps_append(caps.get(), gst_caps_copy(rtp_caps(c, codec_info(c).default_payload).get()));
        if (gst_caps_is_empty(caps.get()))
            continue;
        if (video)
            offer_twcc(caps.get());
        announce_extension(caps.get(), kMidExtensionId, kMidUri);
        GstWebRTCRTPTransceiver* raw = nullptr;
        g_signal_emit_by_name(webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps.get(),
                              &raw);
        GRef<GstWebRTCRTPTransceiver> transceiver = adopt_ref(raw);
        if (transceiver)
            enable_loss_recovery(transceiver.get(), video);
    }
    GstElement* webrtc = webrtc_;
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), webrtc](const PromiseResult& result) {
        auto offer = std::make_shared<SessionDescription>(reply_description(result.reply, "offer"));
        std::string error = result.ok() && !*offer ? "no offer in its reply" : result.error;
        auto self = weak.lock();
        if (!self)
            return;
        self->for_session(webrtc, [offer, error](Receiver& r) {
            if (!error.empty()) {
                r.session_lost("webrtcbin could not make an offer: " + error, true);
                return;
            }
            r.set_local_description(offer, protocol::Sdp::Type::Offer);
        });
    }));
    g_signal_emit_by_name(webrtc_, "create-offer", nullptr, promise);
    gst_promise_unref(promise);
}

// WHEP: the endpoint's answer to our offer.
void Receiver::remote_answer(const std::string& sdp)
{
    SessionDescription answer = parse_description(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
    if (!answer) {
        session_lost("the endpoint's answer is not valid SDP", true);
        return;
    }
    GST_DEBUG_OBJECT(element_, "the endpoint's answer:\n%s", sdp.c_str());
    GstElement* webrtc = webrtc_;
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), webrtc](const PromiseResult& result) {
        auto self = weak.lock();
        if (!self)
            return;
        self->for_session(webrtc, [error = result.error](Receiver& r) {
            if (!error.empty()) {
                r.session_lost("webrtcbin rejected the endpoint's answer: " + error, true);
                return;
            }
            r.remote_description_set();
        });
    }));
    g_signal_emit_by_name(webrtc_, "set-remote-description", answer.get(), promise);
    gst_promise_unref(promise);
}

void Receiver::remote_sdp(const std::string& session_id, const protocol::Sdp& sdp)
{
    if (session_id != session_id_ || !webrtc_)
        return;
    if (sdp.type != protocol::Sdp::Type::Offer) {
        if (offered_ && !remote_set_)
            remote_answer(sdp.sdp);
        else
            GST_WARNING_OBJECT(element_, "producer sent an answer to no offer of ours");
        return;
    }
    if (offered_) {
        GST_WARNING_OBJECT(element_, "the producer sent an offer where we offered; ignored");
        return;
    }
    if (remote_set_) {
        GST_WARNING_OBJECT(element_, "producer sent a new offer; renegotiation is not supported");
        return;
    }
    GST_DEBUG_OBJECT(element_, "the producer's offer:\n%s", sdp.sdp.c_str());
    SessionDescription offer = parse_description(GST_WEBRTC_SDP_TYPE_OFFER, sdp.sdp);
    if (!offer) {
        session_lost("the producer's offer is not valid SDP", true);
        return;
    }
    // Receive only what we can depayload and decode, with the producer's
    // payload types: a browser offers codecs (VP9, AV1...) we cannot take.
    std::vector<Codec> receivable;
    for (Codec c : {Codec::H264, Codec::VP8, Codec::Opus}) {
        if (missing_elements(c, false, true).empty())
            receivable.push_back(c);
    }
    auto offered = std::make_shared<std::vector<OfferedMedia>>(receivable_media(offer->sdp, receivable));
    // Transport-wide congestion control: webrtcbin 1.22 answers an
    // a=extmap only if our codec preferences carry it (twcc.h).
    // The mid extension likewise (rtp-extensions.h).
    std::vector<int> twcc_ids, mid_ids;
    for (guint i = 0; i < gst_sdp_message_medias_len(offer->sdp); ++i) {
        const GstSDPMedia* media = gst_sdp_message_get_media(offer->sdp, i);
        twcc_ids.push_back(twcc_extension_id(media));
        mid_ids.push_back(extension_id(media, kMidUri));
    }
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), offered, twcc_ids, mid_ids](const PromiseResult& result) {
        auto self = weak.lock();
        if (!self)
            return;
        self->signaller_->thread().post([weak, offered, twcc_ids, mid_ids, error = result.error] {
            auto self = weak.lock();
            if (!self || !self->webrtc_)
                return;
            if (!error.empty()) {
                self->session_lost("webrtcbin rejected the producer's offer: " + error, true);
                return;
            }
            self->remote_description_set();
            // webrtcbin 1.22 makes no transceivers for a remote offer; at
            // create-answer it gives each offered m-line, in order, the first
            // transceiver whose codecs match, and makes a bare recvonly one
            // (no NACK, no preferences) for an m-line none matches.
            for (size_t mline = 0; mline < offered->size(); ++mline) {
                const OfferedMedia& m = (*offered)[mline];
                if (!m.codec) {
                    GST_ELEMENT_WARNING(self->element_, STREAM, CODEC_NOT_FOUND,
                                        ("The producer offers a stream in no codec signalsrc can receive"),
                                        ("m-line %zu; signalsrc takes H.264 (constrained baseline), VP8 and Opus",
                                         mline));
                    continue;
                }
                GRef<GstCaps> caps = rtp_caps(*m.codec, m.payload, m.h264_profile);
                if (mline < twcc_ids.size() && twcc_ids[mline] > 0)
                    offer_twcc(caps.get(), twcc_ids[mline]);
                if (mline < mid_ids.size() && mid_ids[mline] > 0)
                    announce_extension(caps.get(), mid_ids[mline], kMidUri);
                GstWebRTCRTPTransceiver* raw = nullptr;
                g_signal_emit_by_name(self->webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                                      caps.get(), &raw);
                GRef<GstWebRTCRTPTransceiver> transceiver = adopt_ref(raw);
                if (transceiver)
                    enable_loss_recovery(transceiver.get(), codec_info(*m.codec).video);
            }
            GstPromise* answer = self->promises_.keep(promise_then([weak](const PromiseResult& result) {
                auto owned = std::make_shared<SessionDescription>(reply_description(result.reply, "answer"));
                std::string error = result.ok() && !*owned ? "no answer in its reply" : result.error;
                auto self = weak.lock();
                if (!self)
                    return;
                self->signaller_->thread().post([weak, owned, error] {
                    auto self = weak.lock();
                    if (!self || !self->webrtc_)
                        return;
                    if (!error.empty()) {
                        self->session_lost("webrtcbin could not answer the producer's offer: " + error, true);
                        return;
                    }
                    self->set_local_description(owned, protocol::Sdp::Type::Answer);
                });
            }));
            g_signal_emit_by_name(self->webrtc_, "create-answer", nullptr, answer);
            gst_promise_unref(answer);
        });
    }));
    g_signal_emit_by_name(webrtc_, "set-remote-description", offer.get(), promise);
    gst_promise_unref(promise);
}

template <typename F>
void Receiver::for_session(GstElement* webrtc, F&& fn)
{
    signaller_->thread().post([weak = weak_from_this(), webrtc, fn = std::forward<F>(fn)]() mutable {
        auto self = weak.lock();
        if (self && self->webrtc_ == webrtc)
            fn(*self);
    });
}

// Our answer (or, WHEP, our offer) goes to the peer only once webrtcbin
// has taken it.
void Receiver::set_local_description(const std::shared_ptr<SessionDescription>& description, protocol::Sdp::Type type)
{
    GstElement* webrtc = webrtc_;
    GstPromise* promise =
        promises_.keep(promise_then([weak = weak_from_this(), description, type, webrtc](const PromiseResult& result) {
            auto self = weak.lock();
            if (!self)
                return;
            self->for_session(webrtc, [description, type, error = result.error](Receiver& r) {
                const char* what = type == protocol::Sdp::Type::Offer ? "offer" : "answer";
                if (!error.empty()) {
                    r.session_lost(std::string("webrtcbin did not take its own ") + what + ": " + error, true);
                    return;
                }
                std::string text = description_text(description->get());
                GST_DEBUG_OBJECT(r.element_, "our %s:\n%s", what, text.c_str());
                r.signaller_->send_sdp(r.session_id_, protocol::Sdp {type, std::move(text)});
            });
        }));
    g_signal_emit_by_name(webrtc_, "set-local-description", description->get(), promise);
    gst_promise_unref(promise);
}

// The peer's offer or answer is in: the candidates that came before it
// can go in too.
void Receiver::remote_description_set()
{
    remote_set_ = true;
    add_ice_candidates(webrtc_, pending_ice_);
    pending_ice_.clear();
}

// An empty candidate is the producer's end of candidates (see Consumer).
void Receiver::remote_ice(const std::string& session_id, const protocol::Ice& ice)
{
    if (session_id != session_id_ || !webrtc_)
        return;
    if (!remote_set_) {
        pending_ice_.push_back(ice);
        return;
    }
    add_ice_candidates(webrtc_, {ice});
}

void Receiver::on_ice_candidate(GstElement*, guint mline, char* candidate, gpointer data)
{
    auto self = static_cast<WeakReceiver*>(data)->lock();
    if (!self)
        return;
    std::string c = candidate;
    self->signaller_->thread().invoke([weak = std::weak_ptr<Receiver>(self), mline, c] {
        if (auto self = weak.lock()) {
            if (!self->session_id_.empty())
                self->signaller_->send_ice(self->session_id_, protocol::Ice {c, mline, std::nullopt});
        }
    });
}

void Receiver::on_gathering_state(GObject* webrtc, GParamSpec*, gpointer data)
{
    auto self = static_cast<WeakReceiver*>(data)->lock();
    if (!self)
        return;
    GstWebRTCICEGatheringState state;
    g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
    if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
        return;
    self->for_session(GST_ELEMENT(webrtc), [](Receiver& r) {
        if (!r.session_id_.empty())
            r.signaller_->send_ice(r.session_id_, protocol::Ice {"", 0, std::nullopt}); // end of candidates
    });
}

void Receiver::on_connection_state(GObject* webrtc, GParamSpec*, gpointer data)
{
    auto self = static_cast<WeakReceiver*>(data)->lock();
    if (!self)
        return;
    GstWebRTCICEConnectionState ice;
    g_object_get(webrtc, "ice-connection-state", &ice, nullptr);
    self->for_session(GST_ELEMENT(webrtc), [ice](Receiver& r) {
        r.ice_state_ = ice_state_name(ice);
        if (ice == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED || ice == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED) {
            r.connected_ = true;
            r.session_timer_.cancel();
        } else if (ice == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) {
            r.session_lost("the connection to the producer failed (ICE)", true);
        }
    });
}

void Receiver::session_lost(const std::string& why, bool tell_server)
{
    if (ended_)
        return;
    std::string producer = producer_id_;
    GST_INFO_OBJECT(element_, "session with %s over: %s", producer.c_str(), why.c_str());
    if (tell_server && !session_id_.empty())
        signaller_->end_session(session_id_, why);
    teardown_webrtc();
    request_timer_.cancel();
    session_timer_.cancel();
    session_id_.clear();
    producer_id_.clear();
    if (settings_.eos_on_leave) {
        ended_ = true;
        post("signalsrc-producer-left", producer, "eos");
        pads_.end_of_stream();
        return;
    }
    post("signalsrc-producer-left", producer, "waiting");
    schedule_retry();
}

// Each jitterbuffer of the session's webrtcbin, fitted to the path
// (LatencyTuner). On the signaller thread, once a second.
void Receiver::tune_latency()
{
    if (!webrtc_)
        return;
    GstIterator* it = gst_bin_iterate_recurse(GST_BIN(webrtc_));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
        auto* element = GST_ELEMENT(g_value_get_object(&item));
        GstElementFactory* factory = gst_element_get_factory(element);
        if (factory && g_str_equal(GST_OBJECT_NAME(factory), "rtpjitterbuffer")) {
            auto tuner = tuners_.try_emplace(element, settings_.webrtc.latency_ms).first;
            tune_jitterbuffer(element, tuner->second, GST_OBJECT(element_));
        }
        g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
}

void Receiver::teardown_webrtc()
{
    latency_timer_.cancel();
    tuners_.clear(); // the jitterbuffers go with the webrtcbin
    pad_handler_.disconnect();
    ice_handler_.disconnect();
    state_handler_.disconnect();
    gathering_handler_.disconnect();
    data_channel_handler_.disconnect();
    GstElement* webrtc;
    std::vector<Chain> chains;
    std::shared_ptr<ControlChannel> control;
    std::shared_ptr<MessageChannel> app;
    {
        std::lock_guard<std::mutex> guard(lock_);
        webrtc = std::exchange(webrtc_, nullptr);
        chains.swap(chains_);
        control.swap(control_);
        app.swap(app_);
    }
    control.reset(); // waits for a message in progress
    app.reset();
    if (webrtc) {
        gst_element_set_locked_state(webrtc, TRUE);
        gst_element_set_state(webrtc, GST_STATE_NULL);
        promises_.interrupt_all(); // what it will never answer now
    }
    for (Chain& chain : chains) {
        if (chain.navigation_probe)
            gst_pad_remove_probe(chain.ghost.get(), chain.navigation_probe);
        gst_ghost_pad_set_target(GST_GHOST_PAD(chain.ghost.get()), nullptr);
        for (GstElement* e : chain.elements) {
            gst_element_set_locked_state(e, TRUE);
            gst_element_set_state(e, GST_STATE_NULL);
            gst_bin_remove(GST_BIN(element_), e);
        }
    }
    if (webrtc)
        gst_bin_remove(GST_BIN(element_), webrtc);
}

void Receiver::post(const char* name, const std::string& producer_id, const std::string& detail)
{
    GstStructure* s = gst_structure_new(name, "producer-id", G_TYPE_STRING, producer_id.c_str(), "detail",
                                        G_TYPE_STRING, detail.c_str(), nullptr);
    gst_element_post_message(element_, gst_message_new_element(GST_OBJECT(element_), s));
}

// ---- incoming streams (streaming thread) --------------------------------------------

void Receiver::on_pad_added(GstElement* webrtc, GstPad* pad, gpointer data)
{
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
        return;
    if (auto self = static_cast<WeakReceiver*>(data)->lock())
        self->handle_pad(webrtc, pad);
}

// On webrtcbin's streaming thread, while the session may be ending on the
// signaller's: the chain is put in the bin and in chains_ only if `webrtc`
// is still the session's, under lock_, so teardown_webrtc() either finds it
// whole or never sees it.
void Receiver::handle_pad(GstElement* webrtc, GstPad* pad)
{
    GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
    if (!caps)
        caps = adopt_ref(gst_pad_query_caps(pad, nullptr));
    std::optional<Codec> codec =
        caps && !gst_caps_is_empty(caps.get()) ? codec_from_rtp_caps(gst_caps_get_structure(caps.get(), 0)) : std::nullopt;
    if (!codec) {
        GCharPtr text(caps ? gst_caps_to_string(caps.get()) : g_strdup("none"));
        GST_ELEMENT_WARNING(element_, STREAM, CODEC_NOT_FOUND, ("Received a stream in a codec signalsrc cannot handle"),
                            ("caps: %s", text.get()));
        return;
    }
    const CodecInfo& info = codec_info(*codec);
    GRef<GstCaps> encoded = adopt_ref(gst_caps_from_string(info.encoded_caps));

    // Ours until they are in the bin: an early return frees them.
    std::vector<GRef<GstElement>> elements;
    auto keep = [&elements](GstElement* e) {
        if (e)
            elements.push_back(GRef<GstElement>::ref(e)); // sinks the floating reference
        return e != nullptr;
    };
    bool made = keep(gst_element_factory_make(info.depayloader, nullptr));
    if (made)
        configure_depayloader_for_loss(elements.back().get());
    if (!made || (info.parser && !keep(gst_element_factory_make(info.parser, nullptr)))) {
        GST_ELEMENT_ERROR(element_, CORE, MISSING_PLUGIN,
                          ("Missing %s or %s to receive %s", info.depayloader, info.parser ? info.parser : "",
                           info.name),
                          ("install gstreamer1.0-plugins-good and gstreamer1.0-plugins-bad"));
        return;
    }
    std::string name;
    {
        std::lock_guard<std::mutex> guard(lock_);
        if (webrtc_ != webrtc)
            return; // that session is over
        name = info.video ? "video_" + std::to_string(video_count_++) : "audio_" + std::to_string(audio_count_++);
    }
    GstPad* ghost = pads_.expose(name, encoded.get());
    if (!downstream_wants_encoded(ghost, encoded.get())) {
        if (!keep(make_decoder(*codec))) {
            GST_ELEMENT_ERROR(element_, CORE, MISSING_PLUGIN, ("No %s decoder installed", info.name),
                              ("tried %s; install gstreamer1.0-libav or -plugins-good, or link signalsrc to a "
                               "downstream that takes %s",
                               info.decoders[0], info.encoded_caps));
            return;
        }
        // Decoders give what they like; downstream may want another format.
        keep(gst_element_factory_make(info.video ? "videoconvert" : "audioconvert", nullptr));
    }

    std::lock_guard<std::mutex> guard(lock_);
    if (webrtc_ != webrtc)
        return;
    Chain chain {{}, take_ref(ghost), 0, std::nullopt};
    GstWebRTCRTPTransceiver* transceiver = nullptr;
    g_object_get(pad, "transceiver", &transceiver, nullptr);
    if (transceiver) {
        char* mid = nullptr;
        g_object_get(transceiver, "mid", &mid, nullptr);
        if (mid)
            chain.mid = mid;
        g_free(mid);
        gst_object_unref(transceiver);
    }
    if (info.video)
        chain.navigation_probe = gst_pad_add_probe(
            ghost, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, &Receiver::on_upstream_event,
            new std::weak_ptr<Receiver>(weak_from_this()),
            [](gpointer data) { delete static_cast<std::weak_ptr<Receiver>*>(data); });
    for (const GRef<GstElement>& e : elements) {
        if (!gst_bin_add(GST_BIN(element_), e.get())) {
            GST_ELEMENT_WARNING(element_, CORE, FAILED, ("Could not receive the %s stream", info.name),
                                ("could not add %s", GST_ELEMENT_NAME(e.get())));
            break;
        }
        chain.elements.push_back(e.get());
    }
    chains_.push_back(chain); // teardown_webrtc() removes what got in
    if (chain.elements.size() != elements.size())
        return;
    for (size_t i = 1; i < elements.size(); ++i)
        gst_element_link(elements[i - 1].get(), elements[i].get());
    GRef<GstPad> last_src = adopt_ref(gst_element_get_static_pad(elements.back().get(), "src"));
    gst_ghost_pad_set_target(GST_GHOST_PAD(ghost), last_src.get());
    for (auto it = elements.rbegin(); it != elements.rend(); ++it)
        gst_element_sync_state_with_parent(it->get());
    GRef<GstPad> depay_sink = adopt_ref(gst_element_get_static_pad(elements.front().get(), "sink"));
    if (gst_pad_link(pad, depay_sink.get()) != GST_PAD_LINK_OK)
        GST_ELEMENT_WARNING(element_, CORE, NEGOTIATION, ("Could not link the incoming %s stream", info.name),
                            (nullptr));
    signaller_->thread().post([weak = weak_from_this()] {
        if (auto self = weak.lock())
            self->retry_ms_ = 0;
    });
}

// ---- navigation to the producer ---------------------------------------------------

void Receiver::on_data_channel(GstElement* webrtc, GstWebRTCDataChannel* channel, gpointer data)
{
    auto self = static_cast<WeakReceiver*>(data)->lock();
    if (!self)
        return;
    std::string label = MessageChannel::label_of(channel);
    if (!self->settings_.app_channel.empty() && label == self->settings_.app_channel) {
        Pads& pads = self->pads_;
        auto app = std::make_shared<MessageChannel>(
            take_ref(channel), [&pads](const std::string& text) { if (pads.app_text) pads.app_text(text); },
            [&pads](GBytes* bytes) { if (pads.app_bytes) pads.app_bytes(bytes); });
        std::lock_guard<std::mutex> guard(self->lock_);
        if (self->webrtc_ == webrtc)
            self->app_ = std::move(app);
        return;
    }
    if (label != kControlChannelLabel)
        return;
    auto made = std::make_shared<ControlChannel>(take_ref(channel));
    std::lock_guard<std::mutex> guard(self->lock_);
    if (self->webrtc_ != webrtc)
        return; // that session is over
    GST_INFO_OBJECT(self->element_, "the producer opened a control channel: navigation goes to it");
    self->control_ = std::move(made);
}

bool Receiver::send_app_text(const std::string& text)
{
    std::shared_ptr<MessageChannel> app;
    {
        std::lock_guard<std::mutex> guard(lock_);
        app = app_;
    }
    return app && app->send_text(text);
}

bool Receiver::send_app_bytes(GBytes* bytes)
{
    std::shared_ptr<MessageChannel> app;
    {
        std::lock_guard<std::mutex> guard(lock_);
        app = app_;
    }
    return app && app->send_bytes(bytes);
}

// On the thread of whoever sent the event (a video sink's window, an app).
GstPadProbeReturn Receiver::on_upstream_event(GstPad* ghost, GstPadProbeInfo* info, gpointer data)
{
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_NAVIGATION)
        return GST_PAD_PROBE_OK;
    auto self = static_cast<std::weak_ptr<Receiver>*>(data)->lock();
    if (!self)
        return GST_PAD_PROBE_OK;
    std::shared_ptr<ControlChannel> control;
    std::optional<std::string> mid;
    {
        std::lock_guard<std::mutex> guard(self->lock_);
        control = self->control_;
        for (const Chain& chain : self->chains_) {
            if (chain.ghost.get() == ghost)
                mid = chain.mid;
        }
    }
    if (!control || !control->send_navigation(event, mid))
        return GST_PAD_PROBE_OK; // on upstream, as without a channel
    return GST_PAD_PROBE_DROP;
}

} // namespace signalbin
