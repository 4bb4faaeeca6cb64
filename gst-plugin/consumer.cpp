#include "consumer.h"

#include "keyframe-coalescer.h"
#include "loss-recovery.h"
#include "rtp-extensions.h"
#include "twcc.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cstdlib>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

namespace {

using WeakConsumer = std::weak_ptr<Consumer>;
using Counter = std::shared_ptr<std::atomic<guint>>;

GQuark serial_quark()
{
    static GQuark quark = g_quark_from_static_string("signalbin-consumer-serial");
    return quark;
}

// A key frame is asked for at most this often per branch, however often its
// queue overflows: the encoder is shared, and one slow consumer must not
// fill everybody's stream with key frames.
constexpr gint64 kKeyframeAskIntervalUs = G_USEC_PER_SEC;

} // namespace

// The key-frame gate of one video branch, after its leaky queue. Closed, it
// drops delta frames until a key frame passes: at the start, and again
// whenever the queue overflowed and dropped frames (the decoder would show
// garbage until the next key frame otherwise). Closing it asks the encoder
// for a key frame.
struct Consumer::Gate {
    std::atomic<bool> closed {true};
    std::atomic<gint64> asked_us {0}; // when a key frame was last asked for
};

namespace {

using GatePtr = std::shared_ptr<Consumer::Gate>;

GstPadProbeReturn gate_probe(GstPad*, GstPadProbeInfo* info, gpointer data)
{
    Consumer::Gate& gate = **static_cast<GatePtr*>(data);
    if (!gate.closed.load(std::memory_order_acquire))
        return GST_PAD_PROBE_OK;
    if (GST_BUFFER_FLAG_IS_SET(GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_FLAG_DELTA_UNIT))
        return GST_PAD_PROBE_DROP;
    gate.closed.store(false, std::memory_order_release);
    return GST_PAD_PROBE_OK;
}

// The queue is full and is about to drop its oldest frame (leaky=downstream).
// Runs on the thread that feeds the queue, the queue's lock not held.
void on_queue_overrun(GstElement* queue, gpointer data)
{
    Consumer::Gate& gate = **static_cast<GatePtr*>(data);
    gate.closed.store(true, std::memory_order_release);
    gint64 now = g_get_monotonic_time();
    gint64 last = gate.asked_us.load();
    if (now - last < kKeyframeAskIntervalUs || !gate.asked_us.compare_exchange_strong(last, now))
        return;
    GST_DEBUG_OBJECT(queue, "overflowed: dropping until a key frame, and asking for one");
    GRef<GstPad> sink = adopt_ref(gst_element_get_static_pad(queue, "sink"));
    gst_pad_push_event(sink.get(), new_keyframe_request());
}

} // namespace

Consumer::Consumer(Context context, unsigned serial, std::string session_id, std::string peer_id)
    : context_(std::move(context)),
      serial_(serial),
      session_id_(std::move(session_id)),
      peer_id_(std::move(peer_id)),
      congestion_control_(context_.congestion_control),
      congestion_(context_.congestion)
{
    stats_.peer_id = peer_id_;
    stats_.session_id = session_id_;
    while (ssrcs_.size() < context_.streams.size()) {
        guint ssrc = g_random_int();
        if (ssrc != 0 && std::find(ssrcs_.begin(), ssrcs_.end(), ssrc) == ssrcs_.end())
            ssrcs_.push_back(ssrc);
    }
}

guint Consumer::ssrc_of(const SinkStream& stream) const
{
    for (size_t i = 0; i < context_.streams.size(); ++i) {
        if (context_.streams[i].get() == &stream)
            return ssrcs_[i];
    }
    return 0;
}

// On the first structure only: webrtcbin writes the a=ssrc lines once per
// structure that has one, and any codec of the m-line is sent with it.
GRef<GstCaps> Consumer::with_ssrc(GRef<GstCaps> caps, const SinkStream& stream) const
{
    GstCaps* writable = gst_caps_make_writable(caps.release());
    if (!gst_caps_is_empty(writable))
        gst_structure_set(gst_caps_get_structure(writable, 0), "ssrc", G_TYPE_UINT, ssrc_of(stream), nullptr);
    return adopt_ref(writable);
}

Consumer::~Consumer() = default;

unsigned Consumer::serial_of(GstObject* object, GstObject* bin)
{
    GRef<GstObject> o = take_ref(object);
    while (o && o.get() != bin) {
        if (gpointer serial = g_object_get_qdata(G_OBJECT(o.get()), serial_quark()))
            return GPOINTER_TO_UINT(serial);
        o = adopt_ref(gst_object_get_parent(o.get()));
    }
    return 0;
}

template <typename F>
void Consumer::on_thread(F&& fn)
{
    context_.signaller->thread().post([weak = weak_from_this(), fn = std::forward<F>(fn)]() mutable {
        if (auto self = weak.lock()) {
            if (!self->tearing_down_)
                fn(*self);
        }
    });
}

std::string Consumer::name(const std::string& suffix) const
{
    return "consumer-" + std::to_string(serial_) + (suffix.empty() ? "" : "-" + suffix);
}

// Adds a new (floating) element of this consumer to the sink.
bool Consumer::add(GstElement* element)
{
    g_object_set_qdata(G_OBJECT(element), serial_quark(), GUINT_TO_POINTER(serial_));
    if (gst_bin_add(context_.bin, element))
        return true;
    GST_ERROR_OBJECT(context_.bin, "consumer %s: could not add %s to the sink", peer_id_.c_str(),
                     GST_ELEMENT_NAME(element));
    gst_object_unref(gst_object_ref_sink(element));
    return false;
}

bool Consumer::prepare(std::string& error)
{
    GstElement* webrtc = make_webrtcbin(context_.webrtc, name());
    if (!webrtc) {
        error = "webrtcbin is not installed (gstreamer1.0-plugins-bad)";
        return false;
    }
    if (!add(webrtc)) {
        error = "could not add " + name() + " to the sink";
        return false;
    }
    webrtc_ = webrtc;
    auto connect = [this](const char* signal, GCallback callback) {
        auto* weak = new WeakConsumer(weak_from_this());
        gulong id = g_signal_connect_data(
            webrtc_, signal, callback, weak, [](gpointer data, GClosure*) { delete static_cast<WeakConsumer*>(data); },
            static_cast<GConnectFlags>(0));
        return SignalConnection(webrtc_, id);
    };
    pad_handler_ = connect("pad-added", G_CALLBACK(&Consumer::on_pad_added));
    ice_handler_ = connect("on-ice-candidate", G_CALLBACK(&Consumer::on_ice_candidate));
    state_handler_ = connect("notify::connection-state", G_CALLBACK(&Consumer::on_connection_state));
    ice_state_handler_ = connect("notify::ice-connection-state", G_CALLBACK(&Consumer::on_connection_state));
    gathering_handler_ = connect("notify::ice-gathering-state", G_CALLBACK(&Consumer::on_gathering_state));
    if (context_.control_channel || !context_.app_channel.empty())
        data_channel_handler_ = connect("on-data-channel", G_CALLBACK(&Consumer::on_data_channel));
    gst_element_sync_state_with_parent(webrtc_);
    if (context_.session_timeout_ms > 0) {
        session_timer_ = ScopedSource::timeout(context_.signaller->thread().context(), context_.session_timeout_ms,
                                               [this] {
                                                   if (!connected_once_)
                                                       fail("not connected within " +
                                                            std::to_string(context_.session_timeout_ms) + " ms (" +
                                                            state_summary() + ")");
                                                   return false;
                                               });
    }
    return true;
}

void Consumer::negotiate(const std::optional<std::string>& offer)
{
    if (tearing_down_)
        return;
    if (offer)
        answer(*offer);
    else
        this->offer();
}

void Consumer::fail(const std::string& why)
{
    if (tearing_down_)
        return;
    GST_WARNING_OBJECT(context_.bin, "consumer %s (session %s): %s", peer_id_.c_str(), session_id_.c_str(),
                       why.c_str());
    if (context_.on_failed)
        context_.on_failed(session_id_, why);
}

std::string Consumer::state_summary() const
{
    std::string negotiation;
    if (offered_)
        negotiation = remote_set_ ? "answer applied" : "no answer from the peer";
    else
        negotiation = remote_set_ ? "offer applied" : "offer not applied";
    std::lock_guard<std::mutex> guard(stats_lock_);
    return "negotiation: " + negotiation + ", ICE " + stats_.ice_connection_state + ", connection " +
           stats_.connection_state;
}

// A sendonly transceiver for `stream` with `caps` as its codec preferences
// (and the stream's SSRC), loss recovery on; false after fail().
bool Consumer::add_sendonly_transceiver(GRef<GstCaps> caps, const SinkStream& stream)
{
    caps = with_ssrc(std::move(caps), stream);
    GstWebRTCRTPTransceiver* raw = nullptr;
    g_signal_emit_by_name(webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, caps.get(), &raw);
    GRef<GstWebRTCRTPTransceiver> transceiver = adopt_ref(raw);
    if (!transceiver) {
        fail("could not add a transceiver for " + stream.name());
        return false;
    }
    enable_loss_recovery(transceiver.get(), stream.video());
    return true;
}

// ---- we offer -----------------------------------------------------------------

void Consumer::offer()
{
    offered_ = true;
    for (const std::shared_ptr<SinkStream>& stream : context_.streams) {
        GRef<GstCaps> caps = adopt_ref(gst_caps_new_empty());
        std::string profile = stream->h264_profile_level_id();
        for (Codec codec : stream->codecs())
            gst_caps_append(caps.get(), gst_caps_copy(rtp_caps(codec, codec_info(codec).default_payload, profile).get()));
        if (congestion_control_)
            offer_twcc(caps.get());
        announce_extension(caps.get(), kMidExtensionId, kMidUri);
        if (!add_sendonly_transceiver(std::move(caps), *stream))
            return;
    }
    open_channels();
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this()](const PromiseResult& result) {
        auto offer = std::make_shared<SessionDescription>(reply_description(result.reply, "offer"));
        std::string error = result.ok() && !*offer ? "no offer in its reply" : result.error;
        if (auto self = weak.lock())
            self->on_thread([offer, error](Consumer& c) {
                if (!error.empty()) {
                    c.fail("webrtcbin could not create an offer: " + error);
                    return;
                }
                c.set_local_description(std::move(*offer));
            });
    }));
    g_signal_emit_by_name(webrtc_, "create-offer", nullptr, promise);
    gst_promise_unref(promise);
}

// The SDP goes to the peer only once webrtcbin has taken it.
void Consumer::set_local_description(SessionDescription description)
{
    auto shared = std::make_shared<SessionDescription>(std::move(description));
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), shared](const PromiseResult& result) {
        std::string error = result.error;
        if (auto self = weak.lock())
            self->on_thread([shared, error](Consumer& c) {
                bool offer = (*shared)->type == GST_WEBRTC_SDP_TYPE_OFFER;
                if (!error.empty()) {
                    c.fail(std::string("webrtcbin did not take its own ") + (offer ? "offer" : "answer") + ": " +
                           error);
                    return;
                }
                std::string text = description_text(shared->get());
                GST_DEBUG_OBJECT(c.webrtc_, "our %s:\n%s", offer ? "offer" : "answer", text.c_str());
                c.context_.signaller->send_sdp(
                    c.session_id_,
                    protocol::Sdp {offer ? protocol::Sdp::Type::Offer : protocol::Sdp::Type::Answer, std::move(text)});
            });
    }));
    g_signal_emit_by_name(webrtc_, "set-local-description", shared->get(), promise);
    gst_promise_unref(promise);
}

void Consumer::remote_sdp(const protocol::Sdp& sdp)
{
    if (sdp.type == protocol::Sdp::Type::Offer) {
        if (remote_set_ || offered_) {
            GST_WARNING_OBJECT(context_.bin, "consumer %s sent a new offer; renegotiation is not supported",
                               peer_id_.c_str());
            return;
        }
        answer(sdp.sdp);
        return;
    }
    if (!offered_ || remote_set_) {
        GST_WARNING_OBJECT(context_.bin, "consumer %s sent an unexpected answer", peer_id_.c_str());
        return;
    }
    GST_DEBUG_OBJECT(webrtc_, "the consumer's answer:\n%s", sdp.sdp.c_str());
    SessionDescription answer = parse_description(GST_WEBRTC_SDP_TYPE_ANSWER, sdp.sdp);
    if (!answer) {
        fail("the consumer's answer is not valid SDP");
        return;
    }
    // The codec the consumer chose per m-line: the first format it kept.
    std::vector<Plan> plan;
    const GstSDPMessage* message = answer->sdp;
    for (guint i = 0; i < gst_sdp_message_medias_len(message) && i < context_.streams.size(); ++i) {
        const GstSDPMedia* media = gst_sdp_message_get_media(message, i);
        if (gst_sdp_media_get_port(media) == 0 || gst_sdp_media_formats_len(media) == 0)
            continue;
        int pt = std::atoi(gst_sdp_media_get_format(media, 0));
        GRef<GstCaps> caps = adopt_ref(gst_sdp_media_get_caps_from_media(media, pt));
        std::optional<Codec> codec = caps ? codec_from_rtp_caps(gst_caps_get_structure(caps.get(), 0)) : std::nullopt;
        if (!codec) {
            GST_WARNING_OBJECT(context_.bin, "consumer %s: no usable codec in answer for m-line %u", peer_id_.c_str(),
                               i);
            continue;
        }
        plan.push_back(Plan {context_.streams[i], i, *codec, pt, context_.streams[i]->h264_profile_level_id()});
    }
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), plan](const PromiseResult& result) {
        std::string error = result.error;
        if (auto self = weak.lock())
            self->on_thread([plan, error](Consumer& c) {
                if (!error.empty()) {
                    c.fail("webrtcbin rejected the consumer's answer: " + error);
                    return;
                }
                c.remote_set_ = true;
                c.flush_pending_ice();
                c.link_branches(plan);
            });
    }));
    g_signal_emit_by_name(webrtc_, "set-remote-description", answer.get(), promise);
    gst_promise_unref(promise);
}

// ---- the consumer offers --------------------------------------------------------

void Consumer::answer(const std::string& offer_sdp)
{
    GST_DEBUG_OBJECT(webrtc_, "the consumer's offer:\n%s", offer_sdp.c_str());
    SessionDescription offer = parse_description(GST_WEBRTC_SDP_TYPE_OFFER, offer_sdp);
    if (!offer) {
        fail("the consumer's offer is not valid SDP");
        return;
    }
    std::vector<SendableStream> sendable;
    for (const std::shared_ptr<SinkStream>& stream : context_.streams)
        sendable.push_back(SendableStream {stream->name(), stream->video(), stream->codecs(),
                                           stream->h264_profile_level_id()});
    const GstSDPMessage* message = offer->sdp;
    AnswerPlan decided = plan_answer(message, sendable);
    for (const std::string& why : decided.unserved)
        GST_INFO_OBJECT(context_.bin, "consumer %s: not sending on %s", peer_id_.c_str(), why.c_str());
    if (decided.lines.empty()) {
        fail("nothing in its offer can be sent: " + decided.refusal);
        return;
    }
    std::vector<Plan> plan;
    for (const AnswerPlan::Line& line : decided.lines)
        plan.push_back(Plan {context_.streams[line.stream], line.mline, line.codec, line.payload, line.h264_profile});
    // The offer's id for transport-wide congestion control, per m-line:
    // webrtcbin 1.22 answers a=extmap only from codec preferences (twcc.h).
    std::vector<int> twcc_ids, mid_ids;
    for (guint i = 0; i < gst_sdp_message_medias_len(message); ++i) {
        const GstSDPMedia* media = gst_sdp_message_get_media(message, i);
        twcc_ids.push_back(congestion_control_ ? twcc_extension_id(media) : 0);
        mid_ids.push_back(extension_id(media, kMidUri));
    }
    // Our transceivers come first, one per planned m-line, with the offer's
    // payload type: webrtcbin 1.22 makes none when it takes an offer, and
    // its answer gives each offered m-line the first transceiver whose codec
    // preferences intersect it (one it makes itself has none: inactive).
    for (const Plan& p : plan) {
        GRef<GstCaps> caps = rtp_caps(p.codec, p.payload, p.h264_profile);
        if (p.mline < twcc_ids.size() && twcc_ids[p.mline] > 0)
            offer_twcc(caps.get(), twcc_ids[p.mline]);
        if (p.mline < mid_ids.size() && mid_ids[p.mline] > 0)
            announce_extension(caps.get(), mid_ids[p.mline], kMidUri);
        if (!add_sendonly_transceiver(std::move(caps), *p.stream))
            return;
    }
    // Channels of ours only where the consumer offered an SCTP m-line.
    for (guint i = 0; i < gst_sdp_message_medias_len(message); ++i) {
        if (g_strcmp0(gst_sdp_media_get_media(gst_sdp_message_get_media(message, i)), "application") == 0) {
            open_channels();
            break;
        }
    }
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this(), plan](const PromiseResult& result) {
        std::string error = result.error;
        auto self = weak.lock();
        if (!self)
            return;
        self->on_thread([plan, error](Consumer& c) {
            if (!error.empty()) {
                c.fail("webrtcbin rejected the consumer's offer: " + error);
                return;
            }
            c.remote_set_ = true;
            c.flush_pending_ice();
            c.link_branches(plan);
            c.create_answer();
        });
    }));
    g_signal_emit_by_name(webrtc_, "set-remote-description", offer.get(), promise);
    gst_promise_unref(promise);
}

void Consumer::create_answer()
{
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this()](const PromiseResult& result) {
        auto answer = std::make_shared<SessionDescription>(reply_description(result.reply, "answer"));
        std::string error = result.ok() && !*answer ? "no answer in its reply" : result.error;
        if (auto self = weak.lock())
            self->on_thread([answer, error](Consumer& c) {
                if (!error.empty()) {
                    c.fail("webrtcbin could not answer the consumer's offer: " + error);
                    return;
                }
                c.set_local_description(std::move(*answer));
            });
    }));
    g_signal_emit_by_name(webrtc_, "create-answer", nullptr, promise);
    gst_promise_unref(promise);
}

// ---- media branches -------------------------------------------------------------

void Consumer::link_branches(const std::vector<Plan>& plan)
{
    plan_.insert(plan_.end(), plan.begin(), plan.end());
    link_ready_branches();
}

void Consumer::link_ready_branches()
{
    bool linked = false;
    for (auto it = plan_.begin(); it != plan_.end();) {
        auto pad = send_pads_.find(it->mline);
        if (pad == send_pads_.end()) {
            ++it;
            continue;
        }
        Plan p = *it;
        it = plan_.erase(it);
        if (!link_branch(p, pad->second.get())) {
            fail("could not link " + p.stream->name() + " (" + codec_info(p.codec).name + ") to the consumer");
            return;
        }
        linked = true;
    }
    if (linked) {
        update_control_targets();
        request_keyframes();
    }
}

// The mid of the m-line a webrtcbin pad sends on; "" before negotiation.
std::string Consumer::mid_of(GstPad* webrtc_pad)
{
    GstWebRTCRTPTransceiver* transceiver = nullptr;
    g_object_get(webrtc_pad, "transceiver", &transceiver, nullptr);
    if (!transceiver)
        return "";
    char* raw = nullptr;
    g_object_get(transceiver, "mid", &raw, nullptr);
    GCharPtr mid(raw);
    gst_object_unref(transceiver);
    return mid ? mid.get() : "";
}

// ---- data channels ---------------------------------------------------------------

void Consumer::open_channels()
{
    if (context_.control_channel)
        open_control_channel();
    if (context_.app_channel.empty() || !context_.apps)
        return;
    GRef<GstWebRTCDataChannel> channel = MessageChannel::open(webrtc_, context_.app_channel);
    if (!channel) {
        GST_ELEMENT_WARNING(context_.bin, STREAM, FAILED,
                            ("Could not open data channel \"%s\" to consumer %s", context_.app_channel.c_str(),
                             peer_id_.c_str()),
                            ("webrtcbin refused create-data-channel; the consumer is served without it"));
        return;
    }
    context_.apps->add(session_id_, peer_id_, std::move(channel));
}

void Consumer::open_control_channel()
{
    GRef<GstWebRTCDataChannel> channel = ControlChannel::open(webrtc_);
    if (!channel) {
        GST_ELEMENT_WARNING(context_.bin, STREAM, FAILED,
                            ("Could not open a control data channel to consumer %s", peer_id_.c_str()),
                            ("webrtcbin refused create-data-channel; the consumer is served without it"));
        return;
    }
    controls_.push_back(std::make_unique<ControlChannel>(std::move(channel)));
    update_control_targets();
}

// Where control requests go: each stream's sink pad, with the mid of its
// m-line once negotiated and the size of the consumer's tier.
void Consumer::update_control_targets()
{
    if (controls_.empty())
        return;
    int tier = 0;
    {
        std::lock_guard<std::mutex> guard(stats_lock_);
        tier = std::max(stats_.tier, 0);
    }
    std::vector<ControlChannel::Target> targets;
    for (const std::shared_ptr<SinkStream>& stream : context_.streams) {
        ControlChannel::Target t;
        t.name = stream->name();
        t.pad = take_ref(stream->sink_pad());
        t.video = stream->video();
        for (const Branch& b : branches_) {
            if (b.stream != stream || !b.webrtc_pad)
                continue;
            std::string mid = mid_of(b.webrtc_pad.get());
            if (!mid.empty())
                t.mid = mid;
            if (b.tiers && stream->tiers() > 0) {
                Ladder ladder = stream->ladder();
                if (static_cast<size_t>(tier) < ladder.size())
                    t.divisor = std::max(1u, ladder[tier].divisor);
            }
        }
        targets.push_back(std::move(t));
    }
    for (const std::unique_ptr<ControlChannel>& control : controls_)
        control->set_targets(targets);
}

// One the peer opened (gstwebrtc-api opens a `control` channel of its own
// when it offers): requests on it are served too.
void Consumer::on_data_channel(GstElement*, GstWebRTCDataChannel* channel, gpointer data)
{
    auto self = static_cast<WeakConsumer*>(data)->lock();
    if (!self || self->tearing_down_)
        return;
    std::string label = MessageChannel::label_of(channel);
    if (!self->context_.app_channel.empty() && label == self->context_.app_channel && self->context_.apps) {
        self->context_.apps->add(self->session_id_, self->peer_id_, take_ref(channel));
        return;
    }
    if (label != kControlChannelLabel || !self->context_.control_channel)
        return;
    self->on_thread([channel = take_ref(channel)](Consumer& c) mutable {
        c.controls_.push_back(std::make_unique<ControlChannel>(std::move(channel)));
        c.update_control_targets();
    });
}

void Consumer::on_pad_added(GstElement*, GstPad* pad, gpointer data)
{
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SINK)
        return;
    auto self = static_cast<WeakConsumer*>(data)->lock();
    if (!self)
        return;
    GstWebRTCRTPTransceiver* trans = nullptr;
    g_object_get(pad, "transceiver", &trans, nullptr);
    GRef<GstWebRTCRTPTransceiver> transceiver = adopt_ref(trans);
    if (!transceiver)
        return;
    guint mline = 0;
    g_object_get(transceiver.get(), "mlineindex", &mline, nullptr);
    GRef<GstPad> owned = take_ref(pad);
    self->on_thread([mline, owned](Consumer& c) {
        c.send_pads_[mline] = owned;
        c.link_ready_branches();
    });
}

bool Consumer::link_branch(const Plan& plan, GstPad* webrtc_pad)
{
    Branch b;
    b.stream = plan.stream;
    b.mline = plan.mline;
    b.codec = plan.codec;
    b.payload = plan.payload;
    // Video with tiers starts on the tier the start estimate fits.
    unsigned tier = 0;
    if (congestion_control_ && plan.stream->tiers() > 1) {
        std::lock_guard<std::mutex> guard(stats_lock_);
        ++video_tiers_;
        if (!chooser_)
            chooser_.emplace(plan.stream->ladder(), congestion_.estimate_bps());
        tier = std::min(chooser_->tier(), plan.stream->tiers() - 1);
        adapted_tier_ = chooser_->tier();
        stats_.tier = static_cast<int>(tier);
    }
    GstElement* tee = plan.stream->subscribe(plan.codec, tier);
    if (!tee && tier > 0) {
        tier = 0;
        tee = plan.stream->subscribe(plan.codec, 0);
    }
    if (!tee)
        return false;
    b.webrtc_pad = take_ref(webrtc_pad);
    GstElement* funnel = gst_element_factory_make("funnel", name(plan.stream->name() + "-tiers").c_str());
    GstElement* queue = gst_element_factory_make("queue", name(plan.stream->name() + "-queue").c_str());
    // A slow consumer loses its own frames; it never holds up the others.
    g_object_set(queue, "max-size-buffers", plan.stream->video() ? 30u : 50u, "max-size-bytes", 0u, "max-size-time",
                 G_GUINT64_CONSTANT(0), nullptr);
    gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
    GstElement* payloader = make_payloader(plan.codec, plan.payload, plan.h264_profile);
    if (!payloader || !funnel) {
        gst_object_unref(gst_object_ref_sink(queue));
        if (funnel)
            gst_object_unref(gst_object_ref_sink(funnel));
        if (payloader)
            gst_object_unref(gst_object_ref_sink(payloader));
        plan.stream->unsubscribe(plan.codec, tier);
        return false;
    }
    gst_object_set_name(GST_OBJECT(payloader), name(plan.stream->name() + "-pay").c_str());
    g_object_set(payloader, "ssrc", ssrc_of(*plan.stream), nullptr);
    int twcc_id = congestion_control_ ? extension_id_of(plan.mline, kTwccUri) : 0;
    if (twcc_id > 0 && !add_twcc_extension(payloader, twcc_id))
        GST_WARNING_OBJECT(context_.bin, "consumer %s: no rtphdrexttwcc (gst-plugins-good), no congestion control",
                           peer_id_.c_str());
    // The mid in every packet, for stacks that route bundled RTP by it.
    int mid_id = extension_id_of(plan.mline, kMidUri);
    std::string mid = mid_of(webrtc_pad);
    if (mid_id > 0 && !mid.empty() && !add_mid_extension(payloader, mid_id, mid))
        GST_INFO_OBJECT(context_.bin, "consumer %s: no rtphdrextmid (gst-plugins-good 1.22), no mid in packets",
                        peer_id_.c_str());
    bool added_funnel = add(funnel);
    bool added_queue = add(queue);
    bool added_payloader = add(payloader);
    b.funnel = added_funnel ? funnel : nullptr;
    b.queue = added_queue ? queue : nullptr;
    b.payloader = added_payloader ? payloader : nullptr;
    if (b.funnel) {
        auto mline = plan.mline;
        b.tiers = std::make_unique<TierSwitch>(
            funnel, [weak = weak_from_this(), mline](unsigned from, unsigned to) {
                if (auto self = weak.lock())
                    self->on_thread([mline, from, to](Consumer& c) { c.finish_move(mline, from, to); });
            });
    }
    // The tee is linked in last, once the branch runs: a tee stops pushing
    // to every pad (and the encoder behind it stops) when one of its pads
    // answers "flushing", as a pad of an element not started yet does.
    auto give_up = [&]() {
        plan.stream->unsubscribe(plan.codec, tier);
        branches_.push_back(std::move(b)); // for teardown
        return false;
    };
    if (!added_funnel || !added_queue || !added_payloader || !gst_element_link_many(funnel, queue, payloader, nullptr))
        return give_up();
    GRef<GstPad> pay_src = adopt_ref(gst_element_get_static_pad(payloader, "src"));
    GstPadLinkReturn link = gst_pad_link(pay_src.get(), webrtc_pad);
    if (link != GST_PAD_LINK_OK) {
        GST_ERROR_OBJECT(context_.bin, "consumer %s: could not link to webrtcbin %s: %s", peer_id_.c_str(),
                         GST_PAD_NAME(webrtc_pad), gst_pad_link_get_name(link));
        return give_up();
    }
    gst_element_sync_state_with_parent(payloader);
    gst_element_sync_state_with_parent(queue);
    gst_element_sync_state_with_parent(funnel);
    // Every payloader of the transport sees the same feedback: one reads it.
    if (twcc_id > 0 && !watching_feedback_) {
        watching_feedback_ = true;
        watch_twcc_feedback(pay_src.get(), [weak = weak_from_this()](const std::vector<PacketFeedback>& packets) {
            if (auto self = weak.lock())
                self->on_feedback(packets);
        });
    }
    if (plan.stream->video()) {
        // webrtcbin turns the peer's PLI and FIR into key-frame requests
        // coming up into the payloader.
        gst_pad_add_probe(
            pay_src.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
            [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
                if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info)))
                    (*static_cast<Counter*>(data))->fetch_add(1);
                return GST_PAD_PROBE_OK;
            },
            new Counter(keyframe_requests_), [](gpointer data) { delete static_cast<Counter*>(data); });
        auto gate = std::make_shared<Gate>();
        GRef<GstPad> queue_src = adopt_ref(gst_element_get_static_pad(queue, "src"));
        gst_pad_add_probe(queue_src.get(), GST_PAD_PROBE_TYPE_BUFFER, gate_probe, new GatePtr(gate),
                          [](gpointer data) { delete static_cast<GatePtr*>(data); });
        gulong id = g_signal_connect_data(
            queue, "overrun", G_CALLBACK(on_queue_overrun), new GatePtr(gate),
            [](gpointer data, GClosure*) { delete static_cast<GatePtr*>(data); }, static_cast<GConnectFlags>(0));
        b.overrun = SignalConnection(queue, id);
    }
    // Subscribed from here on: the input is released with the branch.
    if (!b.tiers->add(tee, tier))
        return give_up();
    branches_.push_back(std::move(b));
    return true;
}

// ---- tiers ----------------------------------------------------------------------------

namespace {

// Lets go of an input that no frame crosses any more: unlinked once its
// tee pad is idle, then its pads released and its tier unsubscribed, off
// the streaming thread. Needs nothing of the consumer, which may be gone.
void release_input(GstBin* sink, TierInput input, std::shared_ptr<SinkStream> stream, Codec codec,
                   GstElement* funnel)
{
    struct Releasing {
        GRef<GstElement> sink; // first in, last out: the stream's elements are in it
        TierInput input;
        std::shared_ptr<SinkStream> stream;
        Codec codec;
        GRef<GstElement> funnel;
    };
    auto* r = new Releasing {take_ref(GST_ELEMENT(sink)), std::move(input), std::move(stream), codec, take_ref(funnel)};
    GstPad* pad = r->input.tee_pad.get();
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_IDLE,
        [](GstPad* pad, GstPadProbeInfo*, gpointer data) -> GstPadProbeReturn {
            auto* r = static_cast<Releasing*>(data);
            GRef<GstPad> peer = adopt_ref(gst_pad_get_peer(pad));
            if (peer)
                gst_pad_unlink(pad, peer.get());
            gst_element_call_async(
                r->input.tee,
                [](GstElement* tee, gpointer data) {
                    std::unique_ptr<Releasing> r(static_cast<Releasing*>(data));
                    gst_element_release_request_pad(tee, r->input.tee_pad.get());
                    gst_element_release_request_pad(r->funnel.get(), r->input.funnel_pad.get());
                    r->stream->unsubscribe(r->codec, r->input.tier);
                },
                r, nullptr);
            return GST_PAD_PROBE_REMOVE;
        },
        r, nullptr);
}

// A move to a tier whose first key frame has not come in this long is
// given up (its encoder could not start, or a key frame was lost).
constexpr gint64 kMoveTimeoutUs = 3 * G_USEC_PER_SEC;

} // namespace

void Consumer::finish_move(unsigned mline, unsigned from, unsigned to)
{
    for (Branch& b : branches_) {
        if (b.mline != mline || !b.tiers)
            continue;
        if (!b.tiers->moving())
            b.moving_since_us = 0;
        GST_INFO_OBJECT(context_.bin, "consumer %s: %s moved from tier %u to %u", peer_id_.c_str(),
                        b.stream->name().c_str(), from, to);
        if (std::optional<TierInput> old = b.tiers->take(from))
            release_input(context_.bin, std::move(*old), b.stream, b.codec, b.funnel);
    }
    {
        std::lock_guard<std::mutex> guard(stats_lock_);
        stats_.tier = static_cast<int>(to);
    }
    update_control_targets();
}

void Consumer::cancel_move(Branch& b)
{
    if (!b.tiers->moving())
        return;
    GST_WARNING_OBJECT(context_.bin, "consumer %s: %s: no key frame from the new tier in %d s; staying on tier %u",
                       peer_id_.c_str(), b.stream->name().c_str(), static_cast<int>(kMoveTimeoutUs / G_USEC_PER_SEC),
                       b.tiers->current());
    b.moving_since_us = 0;
    for (TierInput& input : b.tiers->take_target())
        release_input(context_.bin, std::move(input), b.stream, b.codec, b.funnel);
}

void Consumer::adapt()
{
    if (tearing_down_)
        return;
    // A copy: the feedback (webrtcbin's RTCP thread) updates the original.
    std::optional<TierChooser> chooser;
    uint64_t estimate = 0, acked = 0;
    {
        std::lock_guard<std::mutex> guard(stats_lock_);
        if (!chooser_)
            return;
        chooser = chooser_;
        estimate = congestion_.estimate_bps();
        acked = congestion_.acked_bps();
    }
    unsigned want = chooser->tier();
    unsigned video = 0;
    for (const Branch& b : branches_)
        video += b.stream->video() && b.tiers ? 1 : 0;
    if (video == 0)
        return;
    gint64 now = g_get_monotonic_time();
    for (Branch& b : branches_) {
        if (!b.stream->video() || !b.tiers || b.stream->tiers() < 2)
            continue;
        if (b.tiers->moving() && b.moving_since_us && now - b.moving_since_us > kMoveTimeoutUs)
            cancel_move(b);
        unsigned target = std::min(want, b.stream->tiers() - 1);
        if (!b.tiers->moving() && b.tiers->current() != target) {
            GstElement* tee = b.stream->subscribe(b.codec, target);
            // Down: the link is congested, stop the old tier at once.
            if (tee && b.tiers->add(tee, target, target > b.tiers->current())) {
                b.moving_since_us = now;
            } else if (tee) {
                b.stream->unsubscribe(b.codec, target);
            }
        }
        // An encoder of its own (nobody else on its tier) follows the
        // estimate, once the consumer is where the estimate puts it.
        if (b.tiers->moving() || b.tiers->current() != target)
            continue;
        unsigned max_kbps = context_.max_kbps ? context_.max_kbps : b.stream->ladder().front().kbps;
        b.stream->set_lone_bitrate(b.codec, target, chooser->lone_kbps(estimate / video, max_kbps, acked / video));
    }
}

// The id the m-line gives the extension `uri` in both descriptions, ours
// and the peer's (0: not negotiated, or not yet): an offered extension the
// answer left out must not be sent.
int Consumer::extension_id_of(unsigned mline, const char* uri) const
{
    auto id_in = [&](const char* current, const char* pending) {
        GstWebRTCSessionDescription* d = nullptr;
        g_object_get(webrtc_, current, &d, nullptr);
        if (!d)
            g_object_get(webrtc_, pending, &d, nullptr);
        if (!d)
            return 0;
        int id = mline < gst_sdp_message_medias_len(d->sdp)
                     ? extension_id(gst_sdp_message_get_media(d->sdp, mline), uri)
                     : 0;
        gst_webrtc_session_description_free(d);
        return id;
    };
    int local = id_in("current-local-description", "pending-local-description");
    int remote = id_in("current-remote-description", "pending-remote-description");
    return local > 0 && local == remote ? local : 0;
}

// On webrtcbin's RTCP thread.
void Consumer::on_feedback(const std::vector<PacketFeedback>& packets)
{
    std::lock_guard<std::mutex> guard(stats_lock_);
    if (stats_.round_trip_time > 0)
        congestion_.set_round_trip(static_cast<int64_t>(stats_.round_trip_time * G_USEC_PER_SEC));
    gint64 now = g_get_monotonic_time();
    congestion_.on_feedback(now, packets);
    stats_.estimated_bitrate = congestion_.estimate_bps();
    stats_.queue_delay = static_cast<double>(congestion_.queue_delay_us()) / G_USEC_PER_SEC;
    retransmissions_.set_congested(congestion_.congested());
    if (!chooser_)
        return;
    // Each video stream of the consumer gets its share of the estimate.
    unsigned tier = chooser_->update(now, congestion_.estimate_bps() / std::max(1u, video_tiers_));
    // At once for a new tier; a lone encoder's bitrate twice a second.
    if (tier != adapted_tier_ || now - last_adapt_us_ >= G_USEC_PER_SEC / 2) {
        adapted_tier_ = tier;
        last_adapt_us_ = now;
        on_thread([](Consumer& c) { c.adapt(); });
    }
}

void Consumer::request_keyframes()
{
    for (const Branch& b : branches_) {
        if (!b.stream->video() || !b.queue)
            continue;
        // Travels upstream from the queue, through the tee, to the encoder.
        GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(b.queue, "src"));
        gst_pad_send_event(src.get(), new_keyframe_request());
    }
}

// ---- ICE and state ----------------------------------------------------------------

// An empty candidate is the peer's end of candidates, given to webrtcbin as
// NULL: only then can libnice, which trickles, declare ICE failed once every
// pair has failed, instead of checking for ever.
void Consumer::remote_ice(const protocol::Ice& ice)
{
    pending_ice_.push_back(ice);
    if (remote_set_)
        flush_pending_ice();
}

void Consumer::flush_pending_ice()
{
    add_ice_candidates(webrtc_, pending_ice_);
    pending_ice_.clear();
}

void Consumer::on_gathering_state(GObject* webrtc, GParamSpec*, gpointer data)
{
    auto self = static_cast<WeakConsumer*>(data)->lock();
    if (!self || self->tearing_down_)
        return;
    GstWebRTCICEGatheringState state;
    g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
    if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
        return;
    // Our end of candidates, as browsers send theirs.
    self->on_thread([](Consumer& c) { c.send_local_ice(protocol::Ice {"", 0, std::nullopt}); });
}

void Consumer::on_ice_candidate(GstElement*, guint mline, char* candidate, gpointer data)
{
    auto self = static_cast<WeakConsumer*>(data)->lock();
    if (!self || self->tearing_down_)
        return;
    self->on_thread([ice = protocol::Ice {candidate, mline, std::nullopt}](Consumer& c) { c.send_local_ice(ice); });
}

// On the signaller thread, in webrtcbin's order: the end of candidates last.
void Consumer::send_local_ice(const protocol::Ice& ice)
{
    context_.signaller->send_ice(session_id_, ice);
}

void Consumer::on_connection_state(GObject* webrtc, GParamSpec*, gpointer data)
{
    auto self = static_cast<WeakConsumer*>(data)->lock();
    if (!self)
        return;
    GstWebRTCPeerConnectionState state;
    GstWebRTCICEConnectionState ice;
    g_object_get(webrtc, "connection-state", &state, "ice-connection-state", &ice, nullptr);
    {
        std::lock_guard<std::mutex> guard(self->stats_lock_);
        self->stats_.connection_state = connection_state_name(state);
        self->stats_.ice_connection_state = ice_state_name(ice);
    }
    self->on_thread([state, ice](Consumer& c) {
        if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED && !c.connected_once_) {
            c.connected_once_ = true;
            c.session_timer_.cancel();
            GST_INFO_OBJECT(c.context_.bin, "consumer %s connected", c.peer_id_.c_str());
            // Anything sent before DTLS was up is lost: start on a key frame now.
            c.request_keyframes();
        }
        if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED || ice == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED)
            c.fail(std::string("connection failed (ICE ") + ice_state_name(ice) + ")");
    });
}

// ---- stats ---------------------------------------------------------------------------

Consumer::Stats Consumer::stats() const
{
    std::lock_guard<std::mutex> guard(stats_lock_);
    return stats_;
}

void Consumer::poll_stats()
{
    if (!webrtc_ || tearing_down_)
        return;
    GstPromise* promise = promises_.keep(promise_then([weak = weak_from_this()](const PromiseResult& result) {
        auto self = weak.lock();
        if (!self || !result.reply)
            return;
        SendStats s = summarize_send_stats(result.reply);
        gint64 now = g_get_monotonic_time();
        std::lock_guard<std::mutex> guard(self->stats_lock_);
        if (self->last_poll_us_ > 0 && now > self->last_poll_us_ && s.bytes_sent >= self->last_bytes_)
            self->stats_.bitrate = (s.bytes_sent - self->last_bytes_) * 8 * G_USEC_PER_SEC / (now - self->last_poll_us_);
        self->last_poll_us_ = now;
        self->last_bytes_ = s.bytes_sent;
        self->stats_.bytes_sent = s.bytes_sent;
        self->stats_.packets_sent = s.packets_sent;
        self->stats_.round_trip_time = s.round_trip_time;
        self->stats_.nack_count = s.nack_count;
        self->stats_.pli_count = s.pli_count;
        self->stats_.fir_count = s.fir_count;
        self->stats_.packets_lost = s.packets_lost;
        self->stats_.fraction_lost = s.fraction_lost;
    }));
    g_signal_emit_by_name(webrtc_, "get-stats", nullptr, promise);
    gst_promise_unref(promise);
    RetransmissionStats rtx = retransmissions_.poll(webrtc_);
    std::lock_guard<std::mutex> guard(stats_lock_);
    stats_.retransmitted_packets = rtx.packets;
    stats_.retransmitted_bytes = rtx.bytes;
    stats_.retransmissions_refused = rtx.refused;
    stats_.keyframe_requests = keyframe_requests_->load();
}

// ---- teardown ------------------------------------------------------------------------

void Consumer::stop_handlers()
{
    tearing_down_ = true;
    session_timer_.cancel();
    pad_handler_.disconnect();
    ice_handler_.disconnect();
    state_handler_.disconnect();
    ice_state_handler_.disconnect();
    gathering_handler_.disconnect();
    data_channel_handler_.disconnect();
    controls_.clear(); // waits for a request in progress
    if (context_.apps)
        context_.apps->remove_session(session_id_);
}

// On the signaller thread, once no streaming thread is inside a branch.
void Consumer::remove_elements()
{
    // webrtcbin first: a branch's streaming thread may be blocked in it (its
    // sinks wait for preroll while the pipeline goes to PAUSED), and a queue
    // cannot stop until that thread returns.
    if (webrtc_) {
        gst_element_set_locked_state(webrtc_, TRUE);
        gst_element_set_state(webrtc_, GST_STATE_NULL);
        promises_.interrupt_all(); // what it will never answer now
    }
    for (Branch& b : branches_) {
        b.overrun.disconnect();
        if (b.tiers) {
            for (const TierInput& input : b.tiers->take_all()) {
                gst_element_release_request_pad(input.tee, input.tee_pad.get());
                b.stream->unsubscribe(b.codec, input.tier);
            }
        }
        for (GstElement* e : {b.funnel, b.queue, b.payloader}) {
            if (!e)
                continue;
            gst_element_set_locked_state(e, TRUE);
            gst_element_set_state(e, GST_STATE_NULL);
            gst_bin_remove(context_.bin, e);
        }
    }
    branches_.clear();
    if (webrtc_) {
        gst_bin_remove(context_.bin, webrtc_);
        webrtc_ = nullptr;
    }
}

// Nothing to unlink first: releasing each tee pad unlinks it.
void Consumer::teardown_stopped()
{
    stop_handlers();
    remove_elements();
}

void Consumer::teardown(std::function<void()> done)
{
    stop_handlers();

    struct Pending {
        // Declared first, released last: the sink outlives the streams the
        // consumer holds, whose elements are in it.
        GRef<GstElement> sink;
        std::shared_ptr<Consumer> consumer; // and through it, the signaller and the streams
        std::function<void()> done;
        std::atomic<int> remaining {0};
    };
    auto pending = std::make_shared<Pending>();
    pending->consumer = shared_from_this();
    pending->sink = take_ref(GST_ELEMENT(context_.bin));
    pending->done = std::move(done);

    auto finish = [](std::shared_ptr<Pending> p) {
        p->consumer->context_.signaller->thread().post([p] {
            p->consumer->remove_elements();
            if (p->done)
                p->done();
        });
    };

    std::vector<GstPad*> to_unlink;
    for (Branch& b : branches_) {
        if (b.tiers) {
            for (GstPad* pad : b.tiers->tee_pads())
                to_unlink.push_back(pad);
        }
    }
    if (to_unlink.empty()) {
        finish(pending);
        return;
    }
    pending->remaining = static_cast<int>(to_unlink.size());
    for (GstPad* pad : to_unlink) {
        struct Probe {
            std::shared_ptr<Pending> pending;
            void (*finish)(std::shared_ptr<Pending>);
        };
        gst_pad_add_probe(
            pad, GST_PAD_PROBE_TYPE_IDLE,
            [](GstPad* pad, GstPadProbeInfo*, gpointer data) -> GstPadProbeReturn {
                auto* probe = static_cast<Probe*>(data);
                GRef<GstPad> peer = adopt_ref(gst_pad_get_peer(pad));
                if (peer)
                    gst_pad_unlink(pad, peer.get());
                if (--probe->pending->remaining == 0)
                    probe->finish(probe->pending);
                return GST_PAD_PROBE_REMOVE;
            },
            new Probe {pending, +finish}, [](gpointer data) { delete static_cast<Probe*>(data); });
    }
}

} // namespace signalbin
