#include "baseline.h"

#include <gst/webrtc/webrtc.h>

namespace signalbin::bench {

struct BaselinePair::Shared {
    GRef<GstElement> send, recv;
    GRef<GstElement> receiver_pipeline;
    GRef<GstPad> tail_in; // "in"'s sink pad
    mutable std::mutex lock;
    std::string error;

    void fail(const std::string& why)
    {
        std::lock_guard<std::mutex> guard(lock);
        if (error.empty())
            error = why;
    }
};

namespace {

using SharedPtr = std::shared_ptr<BaselinePair::Shared>;

// A promise whose reply goes to `fn` (on whatever thread webrtcbin replies).
template <typename F>
GstPromise* promise_to(F fn)
{
    auto* heap = new F(std::move(fn));
    return gst_promise_new_with_change_func(
        [](GstPromise* promise, gpointer data) {
            const GstStructure* reply =
                gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED ? gst_promise_get_reply(promise) : nullptr;
            (*static_cast<F*>(data))(reply);
        },
        heap, [](gpointer data) { delete static_cast<F*>(data); });
}

std::string reply_error(const GstStructure* reply)
{
    if (!reply)
        return "no reply";
    GError* error = nullptr;
    if (gst_structure_has_field(reply, "error") && gst_structure_get(reply, "error", G_TYPE_ERROR, &error, nullptr)) {
        std::string text = error ? error->message : "error";
        g_clear_error(&error);
        return text;
    }
    return {};
}

GstWebRTCSessionDescription* description_from(const GstStructure* reply, const char* field)
{
    GstWebRTCSessionDescription* desc = nullptr;
    if (reply)
        gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, nullptr);
    return desc;
}

void on_answer(const SharedPtr& shared, const GstStructure* reply)
{
    GstWebRTCSessionDescription* answer = description_from(reply, "answer");
    if (!answer) {
        shared->fail("receiver could not answer: " + reply_error(reply));
        return;
    }
    g_signal_emit_by_name(shared->recv.get(), "set-local-description", answer, nullptr);
    g_signal_emit_by_name(shared->send.get(), "set-remote-description", answer, nullptr);
    gst_webrtc_session_description_free(answer);
}

void on_offer(const SharedPtr& shared, const GstStructure* reply)
{
    GstWebRTCSessionDescription* offer = description_from(reply, "offer");
    if (!offer) {
        shared->fail("sender could not offer: " + reply_error(reply));
        return;
    }
    g_signal_emit_by_name(shared->send.get(), "set-local-description", offer, nullptr);
    GstPromise* remote_set = promise_to([shared](const GstStructure*) {
        GstPromise* answered = promise_to([shared](const GstStructure* reply) { on_answer(shared, reply); });
        g_signal_emit_by_name(shared->recv.get(), "create-answer", nullptr, answered);
        gst_promise_unref(answered);
    });
    g_signal_emit_by_name(shared->recv.get(), "set-remote-description", offer, remote_set);
    gst_promise_unref(remote_set);
    gst_webrtc_session_description_free(offer);
}

// decodebin's video pad to the tail.
void on_decoded_pad(GstElement*, GstPad* pad, gpointer data)
{
    auto& shared = *static_cast<SharedPtr*>(data);
    GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
    if (!caps)
        caps = adopt_ref(gst_pad_query_caps(pad, nullptr));
    if (!caps || gst_caps_is_empty(caps.get()) ||
        !g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps.get(), 0)), "video/"))
        return;
    if (gst_pad_is_linked(shared->tail_in.get()))
        return;
    if (gst_pad_link(pad, shared->tail_in.get()) != GST_PAD_LINK_OK)
        shared->fail("could not link decodebin to the receiver's tail");
}

// webrtcbin's incoming stream to a new decodebin, as gst-examples do.
void on_incoming_pad(GstElement*, GstPad* pad, gpointer data)
{
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
        return;
    auto& shared = *static_cast<SharedPtr*>(data);
    GstElement* decodebin = gst_element_factory_make("decodebin", nullptr);
    if (!decodebin) {
        shared->fail("decodebin is missing");
        return;
    }
    g_signal_connect_data(decodebin, "pad-added", G_CALLBACK(on_decoded_pad), new SharedPtr(shared),
                          [](gpointer d, GClosure*) { delete static_cast<SharedPtr*>(d); },
                          static_cast<GConnectFlags>(0));
    gst_bin_add(GST_BIN(shared->receiver_pipeline.get()), decodebin);
    gst_element_sync_state_with_parent(decodebin);
    GRef<GstPad> sink = adopt_ref(gst_element_get_static_pad(decodebin, "sink"));
    if (gst_pad_link(pad, sink.get()) != GST_PAD_LINK_OK)
        shared->fail("could not link webrtcbin to decodebin");
}

SignalConnection connect_ice(GstElement* from, GstElement* to)
{
    GRef<GstElement>* target = new GRef<GstElement>(GRef<GstElement>::ref(to));
    gulong id = g_signal_connect_data(
        from, "on-ice-candidate",
        G_CALLBACK(+[](GstElement*, guint mline, char* candidate, gpointer data) {
            g_signal_emit_by_name(static_cast<GRef<GstElement>*>(data)->get(), "add-ice-candidate", mline, candidate);
        }),
        target, [](gpointer d, GClosure*) { delete static_cast<GRef<GstElement>*>(d); }, static_cast<GConnectFlags>(0));
    return SignalConnection(from, id);
}

} // namespace

BaselinePair::~BaselinePair()
{
    stop();
}

std::string BaselinePair::sender_description(const std::string& source)
{
    return source +
           " ! videoconvert ! queue ! x264enc tune=zerolatency ! rtph264pay config-interval=-1 ! queue ! "
           "application/x-rtp,media=video,encoding-name=H264,payload=96 ! webrtcbin name=send bundle-policy=max-bundle";
}

void BaselinePair::start_sender(const std::string& source)
{
    shared_ = std::make_shared<Shared>();
    sender_ = std::make_unique<Pipeline>(sender_description(source), "baseline-sender");
    send_webrtc_ = sender_->element("send");
    shared_->send = send_webrtc_;
    add_local_address(send_webrtc_.get(), "127.0.0.1");
    // Send only, as gst-examples' webrtc-recvonly-h264 sender.
    GArray* transceivers = nullptr;
    g_signal_emit_by_name(send_webrtc_.get(), "get-transceivers", &transceivers);
    for (guint i = 0; transceivers && i < transceivers->len; ++i)
        g_object_set(g_array_index(transceivers, GstWebRTCRTPTransceiver*, i), "direction",
                     GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
    if (transceivers)
        g_array_unref(transceivers);
    sender_->play();
}

void BaselinePair::build_receiver(const std::string& tail)
{
    receiver_ = std::make_unique<Pipeline>("webrtcbin name=recv bundle-policy=max-bundle " + tail, "baseline-receiver");
    recv_webrtc_ = receiver_->element("recv");
    shared_->recv = recv_webrtc_;
    shared_->receiver_pipeline = GRef<GstElement>::ref(receiver_->get());
    GRef<GstElement> in = adopt_ref(gst_bin_get_by_name(GST_BIN(receiver_->get()), "in"));
    if (!in)
        in = receiver_->element("out");
    shared_->tail_in = adopt_ref(gst_element_get_static_pad(in.get(), "sink"));
    add_local_address(recv_webrtc_.get(), "127.0.0.1");
    gulong id = g_signal_connect_data(recv_webrtc_.get(), "pad-added", G_CALLBACK(on_incoming_pad),
                                      new SharedPtr(shared_),
                                      [](gpointer d, GClosure*) { delete static_cast<SharedPtr*>(d); },
                                      static_cast<GConnectFlags>(0));
    recv_pad_ = SignalConnection(recv_webrtc_.get(), id);
    send_ice_ = connect_ice(send_webrtc_.get(), recv_webrtc_.get());
    recv_ice_ = connect_ice(recv_webrtc_.get(), send_webrtc_.get());
}

GstStateChangeReturn BaselinePair::play_receiver()
{
    return receiver_->play();
}

void BaselinePair::negotiate()
{
    SharedPtr shared = shared_;
    GstPromise* promise = promise_to([shared](const GstStructure* reply) { on_offer(shared, reply); });
    g_signal_emit_by_name(send_webrtc_.get(), "create-offer", nullptr, promise);
    gst_promise_unref(promise);
}

void BaselinePair::stop()
{
    send_ice_.disconnect();
    recv_ice_.disconnect();
    recv_pad_.disconnect();
    if (receiver_)
        receiver_->stop();
    if (sender_)
        sender_->stop();
    receiver_.reset();
    sender_.reset();
    send_webrtc_.reset();
    recv_webrtc_.reset();
    if (shared_) {
        shared_->send.reset();
        shared_->recv.reset();
        shared_->receiver_pipeline.reset();
        shared_->tail_in.reset();
    }
    shared_.reset();
}

std::string BaselinePair::error() const
{
    if (!shared_)
        return {};
    std::lock_guard<std::mutex> guard(shared_->lock);
    return shared_->error;
}

} // namespace signalbin::bench
