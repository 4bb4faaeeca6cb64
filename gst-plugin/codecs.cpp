#include "codecs.h"

#include "loss-recovery.h"

#include <array>
#include <cstring>

namespace signalbin {

namespace {

const std::array<CodecInfo, 3>& all_codecs()
{
    static const std::array<CodecInfo, 3> codecs {{
        {Codec::H264, "h264", "H264", true, 96, 90000, "video/x-h264", "x264enc", "h264parse", "rtph264pay",
         "rtph264depay", {"avdec_h264", "openh264dec"}},
        {Codec::VP8, "vp8", "VP8", true, 97, 90000, "video/x-vp8", "vp8enc", nullptr, "rtpvp8pay", "rtpvp8depay",
         {"vp8dec", "avdec_vp8"}},
        {Codec::Opus, "opus", "OPUS", false, 111, 48000, "audio/x-opus", "opusenc", "opusparse", "rtpopuspay",
         "rtpopusdepay", {"opusdec", "avdec_opus"}},
    }};
    return codecs;
}

bool installed(const char* factory)
{
    GRef<GstElementFactory> f = adopt_ref(gst_element_factory_find(factory));
    return static_cast<bool>(f);
}

} // namespace

const CodecInfo& codec_info(Codec codec)
{
    // Indexed by the enum: every Codec has its entry, in order.
    const CodecInfo& info = all_codecs().at(static_cast<size_t>(codec));
    g_assert(info.codec == codec);
    return info;
}

std::optional<Codec> codec_from_name(const std::string& name)
{
    for (const CodecInfo& info : all_codecs()) {
        if (g_ascii_strcasecmp(name.c_str(), info.name) == 0)
            return info.codec;
    }
    return std::nullopt;
}

std::optional<Codec> codec_from_encoded_caps(const GstCaps* caps)
{
    if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps))
        return std::nullopt;
    const char* name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    for (const CodecInfo& info : all_codecs()) {
        if (std::strcmp(name, info.encoded_caps) == 0)
            return info.codec;
    }
    return std::nullopt;
}

std::optional<Codec> codec_from_rtp_caps(const GstStructure* s)
{
    const char* encoding = gst_structure_get_string(s, "encoding-name");
    if (!encoding)
        return std::nullopt;
    for (const CodecInfo& info : all_codecs()) {
        if (g_ascii_strcasecmp(encoding, info.encoding_name) == 0)
            return info.codec;
    }
    return std::nullopt;
}

namespace {

// profile_idc and constraint flags (the first two bytes of
// profile-level-id) of H.264 profiles as GStreamer's caps name them.
struct H264Profile {
    const char* name;
    const char* hex;
};
constexpr H264Profile kH264Profiles[] = {
    {"constrained-baseline", "42e0"}, {"baseline", "4200"}, {"main", "4d00"}, {"extended", "5800"},
    {"high", "6400"}, {"constrained-high", "640c"}, {"progressive-high", "6408"}, {"high-10", "6e00"},
    {"high-10-intra", "6e10"}, {"high-4:2:2", "7a00"}, {"high-4:2:2-intra", "7a10"}, {"high-4:4:4", "f400"},
    {"high-4:4:4-intra", "f410"},
};

} // namespace

std::string h264_profile_level_id(const GstCaps* caps)
{
    if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps))
        return kH264ProfileLevelId;
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const char* profile = gst_structure_get_string(s, "profile");
    const char* level = gst_structure_get_string(s, "level");
    if (!profile)
        return kH264ProfileLevelId;
    const char* hex = nullptr;
    for (const H264Profile& p : kH264Profiles) {
        if (g_strcmp0(profile, p.name) == 0)
            hex = p.hex;
    }
    if (!hex)
        return kH264ProfileLevelId;
    // level_idc is ten times the level ("3.1" is 31); "1b" is 11 here.
    unsigned level_idc = 31;
    if (level && g_strcmp0(level, "1b") == 0)
        level_idc = 11;
    else if (level)
        level_idc = static_cast<unsigned>(g_ascii_strtod(level, nullptr) * 10 + 0.5);
    if (level_idc == 0 || level_idc > 255)
        level_idc = 31;
    GCharPtr id(g_strdup_printf("%s%02x", hex, level_idc));
    return id.get();
}

GRef<GstCaps> rtp_caps(Codec codec, int payload, const std::string& profile_level_id)
{
    const CodecInfo& info = codec_info(codec);
    GstCaps* caps = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, info.video ? "video" : "audio",
                                        "encoding-name", G_TYPE_STRING, info.encoding_name, "payload", G_TYPE_INT,
                                        payload, "clock-rate", G_TYPE_INT, info.clock_rate, nullptr);
    GstStructure* s = gst_caps_get_structure(caps, 0);
    if (info.video)
        gst_structure_set(s, "rtcp-fb-nack", G_TYPE_BOOLEAN, TRUE, "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE,
                          "rtcp-fb-ccm-fir", G_TYPE_BOOLEAN, TRUE, nullptr);
    if (codec == Codec::H264)
        gst_structure_set(s, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id", G_TYPE_STRING,
                          profile_level_id.c_str(), "level-asymmetry-allowed", G_TYPE_STRING, "1", nullptr);
    if (codec == Codec::Opus)
        gst_structure_set(s, "encoding-params", G_TYPE_STRING, "2", "minptime", G_TYPE_STRING, "10",
                          "useinbandfec", G_TYPE_STRING, "1", nullptr);
    return adopt_ref(caps);
}

GstElement* make_encoder(Codec codec, unsigned keyframe_interval, unsigned bitrate_kbps)
{
    const CodecInfo& info = codec_info(codec);
    GstElement* encoder = gst_element_factory_make(info.encoder, nullptr);
    if (!encoder)
        return nullptr;
    switch (codec) {
    case Codec::H264:
        gst_util_set_object_arg(G_OBJECT(encoder), "tune", "zerolatency");
        gst_util_set_object_arg(G_OBJECT(encoder), "speed-preset", "ultrafast");
        // A rate-control buffer of 250 ms (x264enc's default is 600): a key
        // frame is then at most about a quarter second of the bitrate, which
        // a link that carries the bitrate drains before its queue overflows.
        g_object_set(encoder, "key-int-max", keyframe_interval, "bitrate", bitrate_kbps, "b-adapt", FALSE,
                     "bframes", 0u, "threads", 2u, "vbv-buf-capacity", 250u, nullptr);
        break;
    case Codec::VP8:
        g_object_set(encoder, "deadline", G_GINT64_CONSTANT(1), "cpu-used", 8, "lag-in-frames", 0,
                     "keyframe-max-dist", static_cast<int>(keyframe_interval), "target-bitrate",
                     static_cast<int>(bitrate_kbps * 1000), "threads", 2, nullptr);
        gst_util_set_object_arg(G_OBJECT(encoder), "end-usage", "cbr");
        gst_util_set_object_arg(G_OBJECT(encoder), "error-resilient", "default");
        break;
    case Codec::Opus:
        gst_util_set_object_arg(G_OBJECT(encoder), "frame-size", "10");
        break;
    }
    configure_encoder_for_loss(encoder, codec);
    return encoder;
}

void set_encoder_bitrate(GstElement* encoder, Codec codec, unsigned kbps)
{
    switch (codec) {
    case Codec::H264:
        g_object_set(encoder, "bitrate", kbps, nullptr);
        break;
    case Codec::VP8:
        g_object_set(encoder, "target-bitrate", static_cast<int>(kbps * 1000), nullptr);
        break;
    case Codec::Opus:
        g_object_set(encoder, "bitrate", static_cast<int>(kbps * 1000), nullptr);
        break;
    }
}

namespace {

// The fields of the SDP's H.264 fmtp that the payloader must carry as the
// SDP has them, whatever the encoder's SPS says (browsers match on
// profile-level-id, and x264's constrained baseline comes out as 42c0xx).
constexpr const char* kH264FmtpFields[] = {"profile-level-id", "packetization-mode"};

GstCaps* without_fmtp(const GstCaps* caps)
{
    GstCaps* open = gst_caps_copy(caps);
    for (guint i = 0; i < gst_caps_get_size(open); ++i) {
        for (const char* field : kH264FmtpFields)
            gst_structure_remove_field(gst_caps_get_structure(open, i), field);
    }
    return open;
}

// The payloader derives those fields from the stream and negotiates them
// with webrtcbin, which holds the SDP's values. Its caps queries are answered
// here as if neither side had a say in them (its own values pass), and its
// caps event carries the SDP's. Pad probes rather than a capssetter element,
// which would split each frame's list of packets into single buffers and so
// make every element after it, down to the socket, work packet by packet.
GstPadProbeReturn set_h264_fmtp(GstPad* pad, GstPadProbeInfo* info, gpointer data)
{
    const auto* profile_level_id = static_cast<const std::string*>(data);
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_BOTH) {
        GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
        if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
            return GST_PAD_PROBE_OK;
        GstCaps* caps = nullptr;
        gst_event_parse_caps(event, &caps);
        GstCaps* fixed = gst_caps_copy(caps);
        gst_caps_set_simple(fixed, "profile-level-id", G_TYPE_STRING, profile_level_id->c_str(), "packetization-mode",
                            G_TYPE_STRING, "1", nullptr);
        GstEvent* replacement = gst_event_new_caps(fixed);
        gst_caps_unref(fixed);
        gst_event_unref(event);
        GST_PAD_PROBE_INFO_DATA(info) = replacement;
        return GST_PAD_PROBE_OK;
    }
    GstQuery* query = GST_PAD_PROBE_INFO_QUERY(info);
    if (GST_QUERY_TYPE(query) != GST_QUERY_CAPS)
        return GST_PAD_PROBE_OK;
    GstPad* peer = gst_pad_get_peer(pad);
    if (!peer)
        return GST_PAD_PROBE_OK;
    GstCaps* filter = nullptr;
    gst_query_parse_caps(query, &filter);
    GstCaps* open_filter = filter ? without_fmtp(filter) : nullptr;
    GstCaps* peer_caps = gst_pad_query_caps(peer, open_filter);
    gst_object_unref(peer);
    GstCaps* result = without_fmtp(peer_caps);
    gst_caps_unref(peer_caps);
    if (filter) {
        GstCaps* both = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(result);
        result = both;
        gst_caps_unref(open_filter);
    }
    gst_query_set_caps_result(query, result);
    gst_caps_unref(result);
    return GST_PAD_PROBE_HANDLED;
}

} // namespace

GstElement* make_payloader(Codec codec, int payload, const std::string& profile_level_id)
{
    const CodecInfo& info = codec_info(codec);
    GstElement* pay = gst_element_factory_make(info.payloader, nullptr);
    if (!pay)
        return nullptr;
    g_object_set(pay, "pt", static_cast<guint>(payload), "mtu", 1200u, nullptr);
    if (codec == Codec::H264) {
        g_object_set(pay, "config-interval", -1, nullptr);
        gst_util_set_object_arg(G_OBJECT(pay), "aggregate-mode", "zero-latency");
        GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(pay, "src"));
        gst_pad_add_probe(src.get(),
                          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
                                                       GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM),
                          set_h264_fmtp, new std::string(profile_level_id),
                          [](gpointer data) { delete static_cast<std::string*>(data); });
    }
    return pay;
}

GstElement* make_decoder(Codec codec)
{
    for (const char* name : codec_info(codec).decoders) {
        if (GstElement* decoder = gst_element_factory_make(name, nullptr)) {
            configure_decoder_for_loss(decoder, codec);
            return decoder;
        }
    }
    return nullptr;
}

std::vector<std::string> missing_elements(Codec codec, bool need_encoder, bool need_decoder)
{
    const CodecInfo& info = codec_info(codec);
    std::vector<std::string> missing;
    std::vector<const char*> needed {info.payloader, info.depayloader};
    if (info.parser)
        needed.push_back(info.parser);
    if (need_encoder)
        needed.push_back(info.encoder);
    for (const char* n : needed) {
        if (!installed(n))
            missing.push_back(n);
    }
    if (need_decoder) {
        bool any = false;
        for (const char* d : info.decoders)
            any |= installed(d);
        if (!any)
            missing.push_back(info.decoders[0]);
    }
    return missing;
}

} // namespace signalbin
