/**
 * SECTION:element-signalsrc
 * @title: signalsrc
 *
 * Receives a producer's streams over WebRTC (a signalsink, a webrtcsink, or a
 * browser publishing through gstwebrtc-api), chosen by producer-id, by
 * producer-name (the producer's meta name), or else the first to appear.
 * Each stream comes out on a sometimes pad, video_%u or audio_%u: decoded by
 * default, or encoded (payload removed) when downstream asks for encoded
 * caps.
 *
 * When the producer leaves, signalsrc waits for one matching the same
 * selection and resumes on the same pads, posting element messages
 * (signalsrc-producer-left, signalsrc-producer-found,
 * signalsrc-session-started); with eos-on-leave=true it sends EOS instead.
 *
 * Also a URI handler: signalbin://host:port/?producer-name=cam (signalbins://
 * for wss), so gst-play-1.0 and playbin work.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 signalsrc producer-name=cam ! videoconvert ! autovideosink
 * gst-launch-1.0 signalsrc name=src producer-name=cam ! videoconvert ! autovideosink src. ! audioconvert ! autoaudiosink
 * gst-play-1.0 "signalbin://127.0.0.1:8443/?producer-name=cam"
 * ]|
 */
#include "gstsignalsrc.h"

#include "common-properties.h"
#include "receiver.h"

#include <gst/gsturi.h>

#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY(signalsrc_debug);
#define GST_CAT_DEFAULT signalsrc_debug

using namespace signalbin;

namespace {

constexpr unsigned kDefaultLatencyMs = 20;

enum {
    PROP_0,
    PROP_COMMON_FIRST,
    PROP_PRODUCER_ID = PROP_COMMON_FIRST + kCommonPropertyCount,
    PROP_PRODUCER_NAME,
    PROP_LATENCY,
    PROP_EOS_ON_LEAVE,
    PROP_APP_DATA_CHANNEL,
    PROP_WHEP_ENDPOINT,
};

enum { SIGNAL_APP_MESSAGE, SIGNAL_APP_DATA, N_SIGNALS };
guint signals[N_SIGNALS];

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("video/x-raw; video/x-h264; video/x-vp8"));
GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("audio/x-raw; audio/x-opus"));

struct Settings {
    CommonSettings common;
    std::string producer_id;
    std::string producer_name;
    unsigned latency_ms = kDefaultLatencyMs;
    bool eos_on_leave = false;
    std::string app_channel; // "": none
    std::string whep_endpoint; // "": signal with server-url
};

struct Private {
    Settings settings; // under the object lock
    std::shared_ptr<Receiver> receiver;
    std::mutex pads_lock;
    std::vector<GRef<GstPad>> pads; // also held by the element while it has them
};

} // namespace

struct _GstSignalSrc {
    GstBin parent;
    Private* priv;
};

static void uri_handler_init(gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE(GstSignalSrc, gst_signal_src, GST_TYPE_BIN,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, uri_handler_init))
GST_ELEMENT_REGISTER_DEFINE(signalsrc, "signalsrc", GST_RANK_NONE, GST_TYPE_SIGNAL_SRC)

namespace {

// Answers caps queries with the template caps (raw and encoded), so that
// downstream can be linked before the stream's chain exists; what downstream
// then accepts decides whether the stream is decoded.
gboolean ghost_query(GstPad* pad, GstObject* parent, GstQuery* query)
{
    if (GST_QUERY_TYPE(query) == GST_QUERY_CAPS) {
        GstCaps* filter = nullptr;
        gst_query_parse_caps(query, &filter);
        GRef<GstCaps> templ = adopt_ref(gst_pad_get_pad_template_caps(pad));
        GRef<GstCaps> result = filter ? adopt_ref(gst_caps_intersect_full(filter, templ.get(), GST_CAPS_INTERSECT_FIRST))
                                      : templ;
        gst_query_set_caps_result(query, result.get());
        return TRUE;
    }
    return gst_pad_query_default(pad, parent, query);
}

// A stream nobody linked (an application that takes only video, say) must
// not stop the others: webrtcbin treats not-linked as fatal, so it becomes
// "dropped" at our pad.
GstFlowReturn chain_ignoring_not_linked(GstPad* pad, GstObject* parent, GstBuffer* buffer)
{
    GstFlowReturn ret = gst_proxy_pad_chain_default(pad, parent, buffer);
    return ret == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : ret;
}

GstFlowReturn chain_list_ignoring_not_linked(GstPad* pad, GstObject* parent, GstBufferList* list)
{
    GstFlowReturn ret = gst_proxy_pad_chain_list_default(pad, parent, list);
    return ret == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : ret;
}

GstPad* expose(GstSignalSrc* self, const std::string& name)
{
    Private* priv = self->priv;
    {
        std::lock_guard<std::mutex> guard(priv->pads_lock);
        for (const GRef<GstPad>& pad : priv->pads) {
            if (name == GST_PAD_NAME(pad.get()))
                return pad.get();
        }
    }
    GstPadTemplate* templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self),
                                                               name.rfind("video", 0) == 0 ? "video_%u" : "audio_%u");
    GstPad* pad = gst_ghost_pad_new_no_target_from_template(name.c_str(), templ);
    gst_pad_set_query_function(pad, ghost_query);
    GRef<GstProxyPad> internal = adopt_ref(gst_proxy_pad_get_internal(GST_PROXY_PAD(pad)));
    gst_pad_set_chain_function(GST_PAD(internal.get()), chain_ignoring_not_linked);
    gst_pad_set_chain_list_function(GST_PAD(internal.get()), chain_list_ignoring_not_linked);
    gst_pad_set_active(pad, TRUE);
    {
        std::lock_guard<std::mutex> guard(priv->pads_lock);
        priv->pads.push_back(GRef<GstPad>::ref(pad));
    }
    gst_element_add_pad(GST_ELEMENT(self), pad);
    return pad;
}

void end_of_stream(GstSignalSrc* self)
{
    std::vector<GRef<GstPad>> pads;
    {
        std::lock_guard<std::mutex> guard(self->priv->pads_lock);
        pads = self->priv->pads;
    }
    for (const GRef<GstPad>& pad : pads)
        gst_pad_push_event(pad.get(), gst_event_new_eos());
    if (pads.empty()) // nothing to carry it: tell the application directly
        gst_element_post_message(GST_ELEMENT(self), gst_message_new_eos(GST_OBJECT(self)));
}

std::shared_ptr<Receiver> make_receiver(GstSignalSrc* self)
{
    GST_OBJECT_LOCK(self);
    const Settings& s = self->priv->settings;
    Receiver::Settings settings;
    settings.signalling = s.common.signaller_options(Signaller::Role::Consumer);
    settings.webrtc = s.common.webrtc_config(s.latency_ms);
    settings.producer_id = s.producer_id;
    settings.producer_name = s.producer_name;
    settings.eos_on_leave = s.eos_on_leave;
    settings.session_timeout_ms = s.common.session_timeout_ms;
    settings.app_channel = s.app_channel;
    settings.signalling.whep_endpoint = s.whep_endpoint;
    GST_OBJECT_UNLOCK(self);
    Receiver::Pads pads;
    pads.app_text = [self](const std::string& text) {
        g_signal_emit(self, signals[SIGNAL_APP_MESSAGE], 0, text.c_str());
    };
    pads.app_bytes = [self](GBytes* bytes) { g_signal_emit(self, signals[SIGNAL_APP_DATA], 0, bytes); };
    pads.expose = [self](const std::string& name, const GstCaps*) { return expose(self, name); };
    pads.end_of_stream = [self] { end_of_stream(self); };
    return std::make_shared<Receiver>(GST_ELEMENT(self), std::move(settings), std::move(pads));
}

std::shared_ptr<Receiver> current_receiver(GstSignalSrc* self)
{
    GST_OBJECT_LOCK(self);
    std::shared_ptr<Receiver> receiver = self->priv->receiver;
    GST_OBJECT_UNLOCK(self);
    return receiver;
}

void stop_receiver(GstSignalSrc* self)
{
    GST_OBJECT_LOCK(self);
    std::shared_ptr<Receiver> receiver = std::move(self->priv->receiver);
    GST_OBJECT_UNLOCK(self);
    if (receiver)
        receiver->shutdown();
}

GstStateChangeReturn change_state(GstElement* element, GstStateChange transition)
{
    auto* self = GST_SIGNAL_SRC(element);
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
        std::shared_ptr<Receiver> receiver = make_receiver(self);
        GST_OBJECT_LOCK(self);
        self->priv->receiver = receiver;
        GST_OBJECT_UNLOCK(self);
        receiver->start();
    }
    GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_signal_src_parent_class)->change_state(element, transition);
    if (ret == GST_STATE_CHANGE_FAILURE) {
        if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
            stop_receiver(self);
        return ret;
    }
    switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
        ret = GST_STATE_CHANGE_NO_PREROLL; // a live source
        break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
        stop_receiver(self);
        break;
    default:
        break;
    }
    return ret;
}

void set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec)
{
    auto* self = GST_SIGNAL_SRC(object);
    Settings& s = self->priv->settings;
    GST_OBJECT_LOCK(self);
    if (!set_common_property(s.common, PROP_COMMON_FIRST, id, value)) {
        switch (id) {
        case PROP_PRODUCER_ID:
            s.producer_id = string_value(value);
            break;
        case PROP_PRODUCER_NAME:
            s.producer_name = string_value(value);
            break;
        case PROP_LATENCY:
            s.latency_ms = g_value_get_uint(value);
            break;
        case PROP_EOS_ON_LEAVE:
            s.eos_on_leave = g_value_get_boolean(value);
            break;
        case PROP_WHEP_ENDPOINT:
            s.whep_endpoint = string_value(value);
            break;
        case PROP_APP_DATA_CHANNEL:
            s.app_channel = string_value(value);
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        }
    }
    GST_OBJECT_UNLOCK(self);
}

void get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec)
{
    auto* self = GST_SIGNAL_SRC(object);
    Settings& s = self->priv->settings;
    GST_OBJECT_LOCK(self);
    if (!get_common_property(s.common, PROP_COMMON_FIRST, id, value)) {
        switch (id) {
        case PROP_PRODUCER_ID:
            set_string_value(value, s.producer_id);
            break;
        case PROP_PRODUCER_NAME:
            set_string_value(value, s.producer_name);
            break;
        case PROP_LATENCY:
            g_value_set_uint(value, s.latency_ms);
            break;
        case PROP_EOS_ON_LEAVE:
            g_value_set_boolean(value, s.eos_on_leave);
            break;
        case PROP_WHEP_ENDPOINT:
            set_string_value(value, s.whep_endpoint);
            break;
        case PROP_APP_DATA_CHANNEL:
            set_string_value(value, s.app_channel);
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        }
    }
    GST_OBJECT_UNLOCK(self);
}

void dispose(GObject* object)
{
    stop_receiver(GST_SIGNAL_SRC(object));
    G_OBJECT_CLASS(gst_signal_src_parent_class)->dispose(object);
}

void finalize(GObject* object)
{
    delete GST_SIGNAL_SRC(object)->priv;
    G_OBJECT_CLASS(gst_signal_src_parent_class)->finalize(object);
}

// ---- URI handler -----------------------------------------------------------------

GstURIType uri_get_type(GType)
{
    return GST_URI_SRC;
}

const gchar* const* uri_get_protocols(GType)
{
    static const gchar* protocols[] = {"signalbin", "signalbins", nullptr};
    return protocols;
}

gchar* uri_get_uri(GstURIHandler* handler)
{
    auto* self = GST_SIGNAL_SRC(handler);
    GST_OBJECT_LOCK(self);
    const Settings& s = self->priv->settings;
    GRef<GUri> server = adopt_ref(g_uri_parse(s.common.server_url.c_str(), G_URI_FLAGS_NONE, nullptr));
    std::string query;
    if (!s.producer_id.empty())
        query = "producer-id=" + s.producer_id;
    else if (!s.producer_name.empty())
        query = "producer-name=" + s.producer_name;
    GST_OBJECT_UNLOCK(self);
    if (!server)
        return nullptr;
    bool secure = g_strcmp0(g_uri_get_scheme(server.get()), "wss") == 0;
    GRef<GUri> uri = adopt_ref(g_uri_build(G_URI_FLAGS_NONE, secure ? "signalbins" : "signalbin", nullptr,
                                           g_uri_get_host(server.get()), g_uri_get_port(server.get()), "/",
                                           query.empty() ? nullptr : query.c_str(), nullptr));
    return g_uri_to_string(uri.get());
}

gboolean uri_set_uri(GstURIHandler* handler, const gchar* text, GError** error)
{
    auto* self = GST_SIGNAL_SRC(handler);
    GRef<GUri> uri = adopt_ref(g_uri_parse(text, G_URI_FLAGS_NONE, error));
    if (!uri)
        return FALSE;
    const char* scheme = g_uri_get_scheme(uri.get());
    bool secure = g_ascii_strcasecmp(scheme, "signalbins") == 0;
    if (!secure && g_ascii_strcasecmp(scheme, "signalbin") != 0) {
        g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_UNSUPPORTED_PROTOCOL, "use signalbin:// or signalbins://");
        return FALSE;
    }
    if (!g_uri_get_host(uri.get()) || !*g_uri_get_host(uri.get())) {
        g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s has no host", text);
        return FALSE;
    }
    int port = g_uri_get_port(uri.get()) > 0 ? g_uri_get_port(uri.get()) : 8443;
    std::string host = g_uri_get_host(uri.get());
    if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
    std::string server = std::string(secure ? "wss://" : "ws://") + host + ":" + std::to_string(port);
    std::string producer_id, producer_name, token;
    if (const char* query = g_uri_get_query(uri.get())) {
        GHashTable* params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, error);
        if (!params)
            return FALSE;
        auto get = [params](const char* key) {
            auto* v = static_cast<const char*>(g_hash_table_lookup(params, key));
            return std::string(v ? v : "");
        };
        producer_id = get("producer-id");
        producer_name = get("producer-name");
        token = get("token");
        g_hash_table_unref(params);
    }
    GST_OBJECT_LOCK(self);
    Settings& s = self->priv->settings;
    s.common.server_url = server;
    s.producer_id = producer_id;
    s.producer_name = producer_name;
    if (!token.empty())
        s.common.token = token;
    GST_OBJECT_UNLOCK(self);
    return TRUE;
}

} // namespace

static void uri_handler_init(gpointer g_iface, gpointer)
{
    auto* iface = static_cast<GstURIHandlerInterface*>(g_iface);
    iface->get_type = uri_get_type;
    iface->get_protocols = uri_get_protocols;
    iface->get_uri = uri_get_uri;
    iface->set_uri = uri_set_uri;
}

static void gst_signal_src_class_init(GstSignalSrcClass* klass)
{
    GST_DEBUG_CATEGORY_INIT(signalsrc_debug, "signalsrc", 0, "signalbin WebRTC source");
    auto* object_class = G_OBJECT_CLASS(klass);
    auto* element_class = GST_ELEMENT_CLASS(klass);
    object_class->set_property = set_property;
    object_class->get_property = get_property;
    object_class->dispose = dispose;
    object_class->finalize = finalize;
    element_class->change_state = change_state;

    constexpr auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
    install_common_properties(object_class, PROP_COMMON_FIRST);
    g_object_class_install_property(
        object_class, PROP_PRODUCER_ID,
        g_param_spec_string("producer-id", "Producer id",
                            "Receive from the producer with this peer id. Takes precedence over producer-name", nullptr,
                            rw));
    g_object_class_install_property(
        object_class, PROP_PRODUCER_NAME,
        g_param_spec_string("producer-name", "Producer name",
                            "Receive from the first producer whose meta name is this (signalsink's meta "
                            "\"name\" field). With neither this nor producer-id, the first producer to appear",
                            nullptr, rw));
    g_object_class_install_property(
        object_class, PROP_LATENCY,
        g_param_spec_uint("latency", "Latency",
                          "Jitterbuffer latency to start with, in milliseconds: how long packets may wait to be "
                          "reordered or retransmitted. The default suits a wired LAN. It is raised when "
                          "retransmissions arrive too late and kept above 1.5 measured round trips, up to 500 ms, "
                          "and comes back down after 10 s with nothing late; never below this value",
                          0, 10000, kDefaultLatencyMs, rw));
    g_object_class_install_property(
        object_class, PROP_EOS_ON_LEAVE,
        g_param_spec_boolean("eos-on-leave", "EOS on leave",
                             "When the producer ends the session or disappears, send EOS instead of waiting for a "
                             "matching producer to come back",
                             FALSE, rw));
    g_object_class_install_property(
        object_class, PROP_APP_DATA_CHANNEL,
        g_param_spec_string("app-data-channel", "Application data channel",
                            "Label of the producer's data channel for the application (signalsink's "
                            "app-data-channel): what arrives on it is emitted as app-message (text) and app-data "
                            "(binary); send-app-message and send-app-data send on it. NULL: none",
                            nullptr, rw));
    g_object_class_install_property(
        object_class, PROP_WHEP_ENDPOINT,
        g_param_spec_string("whep-endpoint", "WHEP endpoint",
                            "Play from this WHEP endpoint (draft-ietf-wish-whep, an http:// or https:// URL: an SFU, a "
                            "CDN, signalbin-server's /whep/<producer>) instead of signalling with server-url: "
                            "signalsrc offers to receive H.264, VP8 and Opus, POSTs the offer once ICE gathering is "
                            "complete (2 s at most) with token as its bearer token, and plays the answer; stopping "
                            "DELETEs the session. A refusal, an unreachable endpoint or no answer within 20 s is an "
                            "element error naming the URL and the status. NULL: use server-url",
                            nullptr, rw));

    /**
     * GstSignalSrc::app-message:
     * @text: what the producer sent
     *
     * A text message on the app-data-channel; emitted on webrtcbin's SCTP thread.
     */
    signals[SIGNAL_APP_MESSAGE] =
        g_signal_new("app-message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                     G_TYPE_NONE, 1, G_TYPE_STRING);
    /**
     * GstSignalSrc::app-data:
     * @data: what the producer sent
     *
     * A binary message on the app-data-channel; emitted on webrtcbin's SCTP thread.
     */
    signals[SIGNAL_APP_DATA] = g_signal_new("app-data", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr,
                                            nullptr, nullptr, G_TYPE_NONE, 1, G_TYPE_BYTES);
    /**
     * GstSignalSrc::send-app-message:
     * @text: the message
     *
     * Sends a text message to the producer on the app-data-channel. From any thread.
     *
     * Returns: TRUE if it went out (the channel is open)
     */
    g_signal_new_class_handler("send-app-message", G_TYPE_FROM_CLASS(klass),
                               static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                               G_CALLBACK(+[](GstSignalSrc* self, const char* text) -> gboolean {
                                   std::shared_ptr<Receiver> receiver = current_receiver(self);
                                   return text && receiver && receiver->send_app_text(text);
                               }),
                               nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_STRING);
    /**
     * GstSignalSrc::send-app-data:
     * @data: the message
     *
     * Sends a binary message to the producer on the app-data-channel. From any thread.
     *
     * Returns: TRUE if it went out (the channel is open)
     */
    g_signal_new_class_handler("send-app-data", G_TYPE_FROM_CLASS(klass),
                               static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                               G_CALLBACK(+[](GstSignalSrc* self, GBytes* data) -> gboolean {
                                   std::shared_ptr<Receiver> receiver = current_receiver(self);
                                   return data && receiver && receiver->send_app_bytes(data);
                               }),
                               nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_BYTES);

    gst_element_class_add_static_pad_template(element_class, &video_template);
    gst_element_class_add_static_pad_template(element_class, &audio_template);
    gst_element_class_set_static_metadata(element_class, "WebRTC source (signalbin)", "Source/Network/WebRTC",
                                          "Receives a producer's audio and video over WebRTC",
                                          "signalbin developers");
}

static void gst_signal_src_init(GstSignalSrc* self)
{
    self->priv = new Private();
    GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
