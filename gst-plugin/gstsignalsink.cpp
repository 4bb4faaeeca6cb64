/**
 * SECTION:element-signalsink
 * @title: signalsink
 *
 * Publishes its input over WebRTC to every peer that asks, through a
 * signalling server speaking GStreamer's WebRTC signalling protocol (so
 * browsers using gstwebrtc-api, signalsrc and webrtcsrc can all watch).
 *
 * Raw video and audio are encoded once (H.264 or VP8, Opus) and shared by
 * every consumer; H.264, VP8 and Opus input is sent as it is.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! signalsink run-server=true
 * gst-launch-1.0 videotestsrc is-live=true ! signalsink meta="meta,name=cam" audiotestsrc is-live=true ! signalsink0.
 * ]|
 */
#include "gstsignalsink.h"

#include "common-properties.h"
#include "producer.h"
#include "structure-json.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>

GST_DEBUG_CATEGORY(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

using namespace signalbin;

namespace {

constexpr const char* kDefaultVideoCodecs[] = {"h264", "vp8"};
constexpr const char* kDefaultAudioCodecs[] = {"opus"};
constexpr unsigned kDefaultVideoBitrate = 2048;
constexpr unsigned kDefaultMinBitrate = 100;
constexpr unsigned kDefaultMaxConsumers = 50;

enum {
    PROP_0,
    PROP_COMMON_FIRST,
    PROP_META = PROP_COMMON_FIRST + kCommonPropertyCount,
    PROP_MAX_CONSUMERS,
    PROP_VIDEO_CODECS,
    PROP_AUDIO_CODECS,
    PROP_VIDEO_BITRATE,
    PROP_VIDEO_LADDER,
    PROP_CONGESTION_CONTROL,
    PROP_ENABLE_CONTROL_DATA_CHANNEL,
    PROP_APP_DATA_CHANNEL,
    PROP_WHIP_ENDPOINT,
    PROP_MIN_BITRATE,
    PROP_START_BITRATE,
    PROP_MAX_BITRATE,
    PROP_STATS,
    PROP_SERVER_PORT,
};

enum { SIGNAL_CONSUMER_ADDED, SIGNAL_CONSUMER_REMOVED, SIGNAL_APP_MESSAGE, SIGNAL_APP_DATA, N_SIGNALS };
guint signals[N_SIGNALS];

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("video/x-raw; video/x-h264; video/x-vp8"));
GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw; audio/x-opus"));

struct Settings {
    CommonSettings common;
    GUnique<GstStructure> meta;
    unsigned max_consumers = kDefaultMaxConsumers;
    std::vector<std::string> video_codecs {std::begin(kDefaultVideoCodecs), std::end(kDefaultVideoCodecs)};
    std::vector<std::string> audio_codecs {std::begin(kDefaultAudioCodecs), std::end(kDefaultAudioCodecs)};
    unsigned video_bitrate = kDefaultVideoBitrate;
    std::string video_ladder; // "": default_ladder(video_bitrate)
    bool congestion_control = true;
    bool control_channel = false;
    std::string app_channel; // "": none
    std::string whip_endpoint; // "": signal with server-url
    unsigned min_bitrate = kDefaultMinBitrate;
    unsigned start_bitrate = 0; // 0: the top rung, with headroom
    unsigned max_bitrate = 0;   // 0: the top rung
};

// The C++ side of the element; GstSignalSink only points at it.
struct Private {
    Settings settings; // under the object lock
    // Consumers share the streams; a pad released while running leaves its
    // stream in `retired` until the producer has stopped.
    std::vector<std::shared_ptr<SinkStream>> streams;
    std::vector<std::shared_ptr<SinkStream>> retired;
    std::vector<GstPad*> pads; // ghost pads, owned by the element, one per stream
    unsigned next_video = 0;
    unsigned next_audio = 0;
    std::shared_ptr<Producer> producer; // under the object lock
    // One stopped from inside its own callback (consumer-added, say): it is
    // let go later, at the next start or at dispose, normally on another
    // thread, where its signalling thread can be joined.
    std::shared_ptr<Producer> stopped;
    // Every consumer's application channel (app-data-channel).
    std::shared_ptr<AppChannels> apps;
};

} // namespace

struct _GstSignalSink {
    GstBin parent;
    Private* priv;
};

G_DEFINE_TYPE(GstSignalSink, gst_signal_sink, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(signalsink, "signalsink", GST_RANK_NONE, GST_TYPE_SIGNAL_SINK)

namespace {

std::vector<Codec> parse_codecs(GstSignalSink* self, const std::vector<std::string>& names, bool video)
{
    std::vector<Codec> codecs;
    for (const std::string& name : names) {
        std::optional<Codec> c = codec_from_name(name);
        if (!c || codec_info(*c).video != video) {
            GST_WARNING_OBJECT(self, "ignoring unknown %s codec \"%s\"", video ? "video" : "audio", name.c_str());
            continue;
        }
        codecs.push_back(*c);
    }
    return codecs;
}

// A stream's settings from the current properties.
SinkStream::Settings stream_settings(GstSignalSink* self, bool video)
{
    GST_OBJECT_LOCK(self);
    std::vector<std::string> names = video ? self->priv->settings.video_codecs : self->priv->settings.audio_codecs;
    unsigned bitrate = self->priv->settings.video_bitrate;
    std::string ladder_setting = self->priv->settings.video_ladder;
    bool tiers = self->priv->settings.congestion_control;
    GST_OBJECT_UNLOCK(self);
    SinkStream::Settings settings;
    // Outside the object lock: logging a warning prints the object's path, which takes it.
    settings.codecs = parse_codecs(self, names, video);
    settings.bitrate_kbps = bitrate;
    if (video && tiers) {
        std::string why;
        std::optional<Ladder> ladder = parse_ladder(ladder_setting, bitrate, why);
        if (!ladder) {
            GST_ELEMENT_WARNING(self, LIBRARY, SETTINGS, ("video-ladder \"%s\" is not a ladder: %s", ladder_setting.c_str(), why.c_str()),
                                ("using the default, %s", ladder_text(default_ladder(bitrate)).c_str()));
            ladder = default_ladder(bitrate);
        }
        // The top rung is video-bitrate at the input's size; a rung not
        // below it is no lower tier.
        ladder->front() = Rung {bitrate, 1, 0};
        size_t before = ladder->size();
        ladder->erase(std::remove_if(ladder->begin() + 1, ladder->end(),
                                     [bitrate](const Rung& r) { return r.kbps >= bitrate; }),
                      ladder->end());
        if (ladder->size() != before)
            GST_ELEMENT_WARNING(self, LIBRARY, SETTINGS,
                                ("video-ladder has rungs at or above video-bitrate (%u kbit/s): left out", bitrate),
                                ("ladder used: %s", ladder_text(*ladder).c_str()));
        settings.ladder = *ladder;
    }
    return settings;
}

std::shared_ptr<Producer> current_producer(GstSignalSink* self)
{
    GST_OBJECT_LOCK(self);
    std::shared_ptr<Producer> p = self->priv->producer;
    GST_OBJECT_UNLOCK(self);
    return p;
}

GstPad* request_new_pad(GstElement* element, GstPadTemplate* templ, const char* name, const GstCaps*)
{
    auto* self = GST_SIGNAL_SINK(element);
    Private* priv = self->priv;
    GstState state = GST_STATE(element);
    if (state > GST_STATE_READY) {
        GST_ELEMENT_WARNING(self, CORE, PAD, ("Pads can only be requested in NULL or READY state"),
                            ("signalsink is already %s", gst_element_state_get_name(state)));
        return nullptr;
    }
    bool video = g_str_has_prefix(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video");
    unsigned index = video ? priv->next_video : priv->next_audio;
    if (name && sscanf(name, video ? "video_%u" : "audio_%u", &index) != 1)
        return nullptr;
    std::string pad_name = std::string(video ? "video_" : "audio_") + std::to_string(index);
    if (GstPad* existing = gst_element_get_static_pad(element, pad_name.c_str())) {
        gst_object_unref(existing);
        return nullptr;
    }
    (video ? priv->next_video : priv->next_audio) = index + 1;

    auto stream = std::make_shared<SinkStream>(
        GST_BIN(self), pad_name, video, stream_settings(self, video),
        [self] {
            if (auto producer = current_producer(self))
                producer->stream_ready();
        },
        [self](const std::string& message, const std::string& debug) {
            GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("%s", message.c_str()), ("%s", debug.c_str()));
        });
    GstPad* pad = gst_ghost_pad_new_from_template(pad_name.c_str(), stream->sink_pad(), templ);
    gst_pad_set_active(pad, TRUE);
    gst_element_add_pad(element, pad);
    priv->streams.push_back(std::move(stream));
    priv->pads.push_back(pad);
    return pad;
}

// Released while running, a stream stops receiving input; consumers that
// have it keep its (idle) branch, new ones go without it, and its elements
// stay until the producer has stopped (PAUSED->READY).
void release_pad(GstElement* element, GstPad* pad)
{
    auto* self = GST_SIGNAL_SINK(element);
    Private* priv = self->priv;
    for (size_t i = 0; i < priv->pads.size(); ++i) {
        if (priv->pads[i] != pad)
            continue;
        priv->pads.erase(priv->pads.begin() + static_cast<long>(i));
        gst_ghost_pad_set_target(GST_GHOST_PAD(pad), nullptr);
        std::shared_ptr<SinkStream> stream = std::move(priv->streams[i]);
        priv->streams.erase(priv->streams.begin() + static_cast<long>(i));
        gst_element_remove_pad(element, pad);
        if (std::shared_ptr<Producer> producer = current_producer(self)) {
            producer->stream_released(stream);
            priv->retired.push_back(std::move(stream));
        }
        return;
    }
}

std::shared_ptr<Producer> make_producer(GstSignalSink* self)
{
    Private* priv = self->priv;
    GST_OBJECT_LOCK(self);
    Producer::Settings settings;
    settings.signalling = priv->settings.common.signaller_options(Signaller::Role::Producer);
    if (priv->settings.meta) {
        settings.signalling.meta = structure_to_json(priv->settings.meta.get());
    } else {
        JsonObject* meta = json_object_new();
        json_object_set_string_member(meta, "name", GST_OBJECT_NAME(self));
        settings.signalling.meta = protocol::Json::object(meta);
        json_object_unref(meta);
    }
    settings.webrtc = priv->settings.common.webrtc_config(200);
    settings.max_consumers = priv->settings.max_consumers;
    settings.session_timeout_ms = priv->settings.common.session_timeout_ms;
    settings.congestion_control = priv->settings.congestion_control;
    settings.control_channel = priv->settings.control_channel;
    settings.app_channel = priv->settings.app_channel;
    settings.apps = priv->apps;
    settings.signalling.whip_endpoint = priv->settings.whip_endpoint;
    unsigned top = priv->settings.video_bitrate;
    settings.congestion.min_bps = priv->settings.min_bitrate * 1000ull;
    // Start a little above the top rung, so the first consumer starts on it.
    auto with_headroom = [](uint64_t kbps) {
        return static_cast<uint64_t>(static_cast<double>(kbps) * 1000 / TierChooser::kHeadroom) + 1000;
    };
    settings.congestion.start_bps =
        priv->settings.start_bitrate ? priv->settings.start_bitrate * 1000ull : with_headroom(top);
    settings.max_kbps = priv->settings.max_bitrate;
    settings.congestion.max_bps = with_headroom(std::max(priv->settings.max_bitrate, top));
    GST_OBJECT_UNLOCK(self);

    Producer::Events events;
    events.consumer_added = [self](const std::string& peer, GstElement* webrtc) {
        g_signal_emit(self, signals[SIGNAL_CONSUMER_ADDED], 0, peer.c_str(), webrtc);
    };
    events.consumer_removed = [self](const std::string& peer, GstElement* webrtc) {
        g_signal_emit(self, signals[SIGNAL_CONSUMER_REMOVED], 0, peer.c_str(), webrtc);
    };
    return std::make_shared<Producer>(GST_ELEMENT(self), std::move(settings), priv->streams, std::move(events));
}

// Here, not in the producer's destructor: a streaming thread or a signal
// handler may hold the last copy, and stopping takes the consumers down.
void stop_producer(GstSignalSink* self)
{
    GST_OBJECT_LOCK(self);
    std::shared_ptr<Producer> producer = std::move(self->priv->producer);
    GST_OBJECT_UNLOCK(self);
    if (producer) {
        producer->stop();
        if (producer->on_own_thread())
            self->priv->stopped = std::move(producer);
    }
    Producer::release(std::move(producer));
    self->priv->retired.clear();
}

GstStateChangeReturn change_state(GstElement* element, GstStateChange transition)
{
    auto* self = GST_SIGNAL_SINK(element);
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
        // video-codecs, audio-codecs and video-bitrate may have changed since
        // the pads were requested.
        for (auto& stream : self->priv->streams)
            stream->configure(stream_settings(self, stream->video()));
        if (self->priv->streams.empty())
            GST_ELEMENT_WARNING(self, CORE, PAD, ("signalsink has no input"),
                                ("link something to a video_%%u or audio_%%u pad"));
        Producer::release(std::move(self->priv->stopped));
        std::shared_ptr<Producer> producer = make_producer(self);
        GST_OBJECT_LOCK(self);
        self->priv->producer = producer;
        GST_OBJECT_UNLOCK(self);
        producer->start();
    }
    GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_signal_sink_parent_class)->change_state(element, transition);
    if (transition == GST_STATE_CHANGE_PAUSED_TO_READY ||
        (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret == GST_STATE_CHANGE_FAILURE))
        stop_producer(self);
    return ret;
}

// Errors of one consumer's elements (its queue, payloader, webrtcbin and
// what is in it, marked with its serial) end that consumer and reach the
// application as a warning, not as the end of the pipeline.
void handle_message(GstBin* bin, GstMessage* message)
{
    auto* self = GST_SIGNAL_SINK(bin);
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
        if (unsigned serial = Consumer::serial_of(GST_MESSAGE_SRC(message), GST_OBJECT(bin))) {
            GError* error = nullptr;
            char* debug = nullptr;
            gst_message_parse_error(message, &error, &debug);
            GST_ELEMENT_WARNING(self, STREAM, FAILED, ("A consumer's stream failed; that consumer was dropped"),
                                ("%s: %s (%s)", GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), error->message,
                                 debug ? debug : ""));
            std::string why = std::string("stream error: ") + error->message;
            g_error_free(error);
            g_free(debug);
            if (auto producer = current_producer(self))
                producer->consumer_failed(serial, why);
            gst_message_unref(message);
            return;
        }
    }
    GST_BIN_CLASS(gst_signal_sink_parent_class)->handle_message(bin, message);
}

void set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec)
{
    auto* self = GST_SIGNAL_SINK(object);
    Settings& s = self->priv->settings;
    GST_OBJECT_LOCK(self);
    if (!set_common_property(s.common, PROP_COMMON_FIRST, id, value)) {
        switch (id) {
        case PROP_META: {
            const GstStructure* meta = gst_value_get_structure(value);
            s.meta.reset(meta ? gst_structure_copy(meta) : nullptr);
            break;
        }
        case PROP_MAX_CONSUMERS:
            s.max_consumers = g_value_get_uint(value);
            break;
        case PROP_VIDEO_CODECS:
            s.video_codecs = string_array(value);
            break;
        case PROP_AUDIO_CODECS:
            s.audio_codecs = string_array(value);
            break;
        case PROP_VIDEO_BITRATE:
            s.video_bitrate = g_value_get_uint(value);
            break;
        case PROP_VIDEO_LADDER:
            s.video_ladder = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        case PROP_CONGESTION_CONTROL:
            s.congestion_control = g_value_get_boolean(value);
            break;
        case PROP_ENABLE_CONTROL_DATA_CHANNEL:
            s.control_channel = g_value_get_boolean(value);
            break;
        case PROP_APP_DATA_CHANNEL:
            s.app_channel = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        case PROP_WHIP_ENDPOINT:
            s.whip_endpoint = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        case PROP_MIN_BITRATE:
            s.min_bitrate = g_value_get_uint(value);
            break;
        case PROP_START_BITRATE:
            s.start_bitrate = g_value_get_uint(value);
            break;
        case PROP_MAX_BITRATE:
            s.max_bitrate = g_value_get_uint(value);
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        }
    }
    GST_OBJECT_UNLOCK(self);
}

void get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec)
{
    auto* self = GST_SIGNAL_SINK(object);
    if (id == PROP_STATS) {
        std::shared_ptr<Producer> producer = current_producer(self);
        GstStructure* stats =
            producer ? producer->stats() : gst_structure_new_empty("application/x-signalsink-stats");
        gst_value_set_structure(value, stats);
        gst_structure_free(stats);
        return;
    }
    if (id == PROP_SERVER_PORT) {
        std::shared_ptr<Producer> producer = current_producer(self);
        g_value_set_uint(value, producer ? producer->server_port() : 0);
        return;
    }
    Settings& s = self->priv->settings;
    GST_OBJECT_LOCK(self);
    if (!get_common_property(s.common, PROP_COMMON_FIRST, id, value)) {
        switch (id) {
        case PROP_META:
            gst_value_set_structure(value, s.meta.get());
            break;
        case PROP_MAX_CONSUMERS:
            g_value_set_uint(value, s.max_consumers);
            break;
        case PROP_VIDEO_CODECS:
            set_string_array(value, s.video_codecs);
            break;
        case PROP_AUDIO_CODECS:
            set_string_array(value, s.audio_codecs);
            break;
        case PROP_VIDEO_BITRATE:
            g_value_set_uint(value, s.video_bitrate);
            break;
        case PROP_VIDEO_LADDER:
            g_value_set_string(value, s.video_ladder.c_str());
            break;
        case PROP_CONGESTION_CONTROL:
            g_value_set_boolean(value, s.congestion_control);
            break;
        case PROP_ENABLE_CONTROL_DATA_CHANNEL:
            g_value_set_boolean(value, s.control_channel);
            break;
        case PROP_APP_DATA_CHANNEL:
            g_value_set_string(value, s.app_channel.empty() ? nullptr : s.app_channel.c_str());
            break;
        case PROP_WHIP_ENDPOINT:
            g_value_set_string(value, s.whip_endpoint.empty() ? nullptr : s.whip_endpoint.c_str());
            break;
        case PROP_MIN_BITRATE:
            g_value_set_uint(value, s.min_bitrate);
            break;
        case PROP_START_BITRATE:
            g_value_set_uint(value, s.start_bitrate);
            break;
        case PROP_MAX_BITRATE:
            g_value_set_uint(value, s.max_bitrate);
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        }
    }
    GST_OBJECT_UNLOCK(self);
}

void finalize(GObject* object)
{
    auto* self = GST_SIGNAL_SINK(object);
    delete self->priv;
    G_OBJECT_CLASS(gst_signal_sink_parent_class)->finalize(object);
}

void dispose(GObject* object)
{
    auto* self = GST_SIGNAL_SINK(object);
    stop_producer(self);
    Producer::release(std::move(self->priv->stopped));
    // Release the request pads, and with them their streams, while the
    // streams' elements are still in the bin: GstBin's dispose removes the
    // children first, then GstElement's releases the pads (release_pad would
    // then find pads without their streams).
    std::vector<GstPad*> pads = self->priv->pads;
    for (GstPad* pad : pads)
        gst_element_release_request_pad(GST_ELEMENT(self), pad);
    self->priv->streams.clear();
    G_OBJECT_CLASS(gst_signal_sink_parent_class)->dispose(object);
}

} // namespace

static void gst_signal_sink_class_init(GstSignalSinkClass* klass)
{
    GST_DEBUG_CATEGORY_INIT(signalsink_debug, "signalsink", 0, "signalbin WebRTC sink");
    auto* object_class = G_OBJECT_CLASS(klass);
    auto* element_class = GST_ELEMENT_CLASS(klass);
    object_class->set_property = set_property;
    object_class->get_property = get_property;
    object_class->dispose = dispose;
    object_class->finalize = finalize;
    element_class->request_new_pad = request_new_pad;
    element_class->release_pad = release_pad;
    element_class->change_state = change_state;
    GST_BIN_CLASS(klass)->handle_message = handle_message;

    constexpr auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
    install_common_properties(object_class, PROP_COMMON_FIRST);
    g_object_class_install_property(
        object_class, PROP_META,
        g_param_spec_boxed("meta", "Meta",
                           "Sent to the signalling server as this producer's meta (a JSON object with the structure's "
                           "fields). Its \"name\" field is how viewers find it: signalsrc producer-name=NAME, and the "
                           "web page's list. Default: name=<element name>. Example: meta=\"meta,name=cam\"",
                           GST_TYPE_STRUCTURE, rw));
    g_object_class_install_property(
        object_class, PROP_MAX_CONSUMERS,
        g_param_spec_uint("max-consumers", "Max consumers",
                          "Sessions beyond this many are refused (ended at once, with a warning); 0: no limit. "
                          "Each consumer costs about 10 ms of CPU a second and 2 MB of memory",
                          0, G_MAXUINT, kDefaultMaxConsumers, rw));
    g_object_class_install_property(
        object_class, PROP_VIDEO_CODECS,
        string_list_param_spec("video-codecs", "Video codecs",
                               "Codecs to encode raw video to, by preference: h264, vp8. A consumer gets the first "
                               "it supports; each codec in use is encoded once for all consumers. Encoded input is "
                               "sent as it is",
                               "h264,vp8", rw));
    g_object_class_install_property(object_class, PROP_AUDIO_CODECS,
                                    string_list_param_spec("audio-codecs", "Audio codecs",
                                                           "Codecs to encode raw audio to, by preference: opus",
                                                           "opus", rw));
    g_object_class_install_property(
        object_class, PROP_VIDEO_BITRATE,
        g_param_spec_uint("video-bitrate", "Video bitrate", "Target bitrate of the video encoders, in kbit/s", 64,
                          100000, kDefaultVideoBitrate, rw));
    g_object_class_install_property(
        object_class, PROP_VIDEO_LADDER,
        g_param_spec_string(
            "video-ladder", "Video ladder",
            "Quality tiers of raw video for congestion control, best first, comma-separated "
            "KBPS[:DIVISOR[:FPS]] (bitrate, the input's size divided by DIVISOR, frame rate; no FPS: the input's), "
            "e.g. \"2048,800:2,400:2,200:4\". The top rung is always video-bitrate at full size. Each consumer "
            "is sent the best tier its bandwidth estimate carries; a tier's encoder runs only while a consumer is "
            "on it and is shared by all of them. Empty: video-bitrate, 40 % at half size, 20 % at half size, "
            "10 % at a quarter size",
            "", rw));
    g_object_class_install_property(
        object_class, PROP_CONGESTION_CONTROL,
        g_param_spec_boolean(
            "congestion-control", "Congestion control",
            "Estimate each consumer's bandwidth from transport-wide congestion control feedback (a=extmap "
            "transport-wide-cc, RTCP transport-cc) and send it the video tier that fits (video-ladder); a "
            "consumer alone on its tier gets an encoder that follows its estimate. Off: one tier, no extension "
            "negotiated",
            TRUE, rw));
    g_object_class_install_property(
        object_class, PROP_ENABLE_CONTROL_DATA_CHANNEL,
        g_param_spec_boolean(
            "enable-control-data-channel", "Enable control data channel",
            "Open a data channel labelled \"control\" to each consumer, as webrtcsink does: the consumer's "
            "requests on it (gstwebrtc-api's remote controller: mouse, keyboard and touch) become navigation "
            "events sent upstream from the video sink pads, and custom upstream events from every sink pad; "
            "each request is answered. Applies to consumers that join after it is set",
            FALSE, rw));
    g_object_class_install_property(
        object_class, PROP_APP_DATA_CHANNEL,
        g_param_spec_string(
            "app-data-channel", "Application data channel",
            "Label of a data channel for the application, opened to each consumer (in the offer, or in the "
            "answer when the consumer's offer has a data channel); one the consumer opens with this label is "
            "taken too. What arrives on it is emitted as app-message (text) and app-data (binary); "
            "send-app-message and send-app-data send on it. NULL: none",
            nullptr, rw));
    g_object_class_install_property(
        object_class, PROP_WHIP_ENDPOINT,
        g_param_spec_string(
            "whip-endpoint", "WHIP endpoint",
            "Publish to this WHIP endpoint (RFC 9725, an http:// or https:// URL: an SFU, a CDN, "
            "signalbin-server's /whip/<name>) instead of signalling with server-url: the endpoint is the one "
            "consumer. The offer is POSTed once ICE gathering is complete (2 s at most), with token as its "
            "bearer token; later candidates are PATCHed; stopping DELETEs the session. A refusal, an "
            "unreachable endpoint or no answer within 330 s (an endpoint may hold the POST until someone watches) is an element error naming the URL and the status. "
            "NULL: use server-url",
            nullptr, rw));
    g_object_class_install_property(
        object_class, PROP_MIN_BITRATE,
        g_param_spec_uint("min-bitrate", "Minimum bitrate",
                          "The lowest a consumer's bandwidth estimate goes, in kbit/s", 16, 100000,
                          kDefaultMinBitrate, rw));
    g_object_class_install_property(
        object_class, PROP_START_BITRATE,
        g_param_spec_uint("start-bitrate", "Start bitrate",
                          "A new consumer's bandwidth estimate before any feedback, in kbit/s (it starts on the best "
                          "tier that fits). 0: just above video-bitrate, so it starts on the top tier",
                          0, 100000, 0, rw));
    g_object_class_install_property(
        object_class, PROP_MAX_BITRATE,
        g_param_spec_uint("max-bitrate", "Maximum bitrate",
                          "The most the top tier's encoder is raised to for a consumer alone on it, in kbit/s. 0: "
                          "video-bitrate (the top tier stays at video-bitrate)",
                          0, 100000, 0, rw));
    g_object_class_install_property(
        object_class, PROP_STATS,
        g_param_spec_boxed("stats", "Statistics",
                           "One field per consumer (consumer-<peer id>), a structure with peer-id, session-id, "
                           "connection-state, ice-connection-state, bytes-sent, packets-sent, round-trip-time "
                           "(seconds, -1 until known), bitrate (bit/s over the last second), and from the peer's "
                           "RTCP nack-count, pli-count, fir-count (feedback received), packets-lost, fraction-lost "
                           "(0-1, last report), retransmitted-packets and retransmitted-bytes (RTX), "
                           "retransmissions-refused (requests beyond a quarter of the media bytes a second), and "
                           "keyframe-requests (the peer's PLIs and FIRs as they reach the shared encoder, before "
                           "coalescing); with congestion-control, estimated-bitrate (bit/s, 0 until the first "
                           "feedback), queue-delay (seconds the path queues our packets) and tier (of its video, "
                           "0 the best; -1 without tiers)",
                           GST_TYPE_STRUCTURE, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
    g_object_class_install_property(
        object_class, PROP_SERVER_PORT,
        g_param_spec_uint("server-port", "Server port",
                          "With run-server=true, the port the embedded signalling server listens on (useful with "
                          "port 0 in server-url); 0 otherwise",
                          0, 65535, 0, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

    /**
     * GstSignalSink::consumer-added:
     * @peer_id: the consumer's peer id
     * @webrtcbin: the consumer's webrtcbin
     *
     * Emitted when the consumer's webrtcbin is in the bin and before
     * negotiation starts, on the element's signalling thread: a handler may
     * set webrtcbin properties and create data channels, which go in the
     * offer (or the answer).
     */
    signals[SIGNAL_CONSUMER_ADDED] =
        g_signal_new("consumer-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                     G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_ELEMENT);
    /**
     * GstSignalSink::consumer-removed:
     * @peer_id: the consumer's peer id
     * @webrtcbin: the consumer's webrtcbin, already out of the bin
     */
    signals[SIGNAL_CONSUMER_REMOVED] =
        g_signal_new("consumer-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                     G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_ELEMENT);

    /**
     * GstSignalSink::app-message:
     * @peer_id: the consumer's peer id
     * @text: what it sent
     *
     * A text message on a consumer's app-data-channel; emitted on
     * webrtcbin's SCTP thread.
     */
    signals[SIGNAL_APP_MESSAGE] =
        g_signal_new("app-message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                     G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
    /**
     * GstSignalSink::app-data:
     * @peer_id: the consumer's peer id
     * @data: what it sent
     *
     * A binary message on a consumer's app-data-channel; emitted on
     * webrtcbin's SCTP thread.
     */
    signals[SIGNAL_APP_DATA] =
        g_signal_new("app-data", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                     G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BYTES);
    /**
     * GstSignalSink::send-app-message:
     * @peer_id: (nullable): a consumer's peer id; NULL: every consumer
     * @text: the message
     *
     * Sends a text message on the app-data-channel. From any thread.
     *
     * Returns: TRUE if it went out to at least one consumer (whose channel is open)
     */
    g_signal_new_class_handler("send-app-message", G_TYPE_FROM_CLASS(klass),
                               static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                               G_CALLBACK(+[](GstSignalSink* self, const char* peer, const char* text) -> gboolean {
                                   return text && self->priv->apps->send_text(peer ? peer : "", text) > 0;
                               }),
                               nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_STRING);
    /**
     * GstSignalSink::send-app-data:
     * @peer_id: (nullable): a consumer's peer id; NULL: every consumer
     * @data: the message
     *
     * Sends a binary message on the app-data-channel. From any thread.
     *
     * Returns: TRUE if it went out to at least one consumer (whose channel is open)
     */
    g_signal_new_class_handler("send-app-data", G_TYPE_FROM_CLASS(klass),
                               static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                               G_CALLBACK(+[](GstSignalSink* self, const char* peer, GBytes* data) -> gboolean {
                                   return data && self->priv->apps->send_bytes(peer ? peer : "", data) > 0;
                               }),
                               nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_BYTES);

    gst_element_class_add_static_pad_template(element_class, &video_template);
    gst_element_class_add_static_pad_template(element_class, &audio_template);
    gst_element_class_set_static_metadata(element_class, "WebRTC sink (signalbin)", "Sink/Network/WebRTC",
                                          "Publishes audio and video over WebRTC to every peer that asks, encoding "
                                          "once for all of them",
                                          "signalbin developers");
}

static void gst_signal_sink_init(GstSignalSink* self)
{
    self->priv = new Private();
    AppChannels::Events events;
    events.text = [self](const std::string& peer, const std::string& text) {
        g_signal_emit(self, signals[SIGNAL_APP_MESSAGE], 0, peer.c_str(), text.c_str());
    };
    events.bytes = [self](const std::string& peer, GBytes* bytes) {
        g_signal_emit(self, signals[SIGNAL_APP_DATA], 0, peer.c_str(), bytes);
    };
    self->priv->apps = std::make_shared<AppChannels>(std::move(events));
    GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
