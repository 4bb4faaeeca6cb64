#include "answer-plan.h"

#include <cstdlib>
#include <cstring>

namespace signalbin {

namespace {

bool same_prefix(const std::string& a, const std::string& b, size_t digits)
{
    return a.size() >= digits && b.size() >= digits && g_ascii_strncasecmp(a.c_str(), b.c_str(), digits) == 0;
}

// Constrained baseline: profile_idc 66 with constraint_set1 (42e0.., 42c0..).
bool constrained_baseline(const std::string& id)
{
    return same_prefix(id, "42e0", 4) || same_prefix(id, "42c0", 4);
}

// How well an offered H.264 format suits us: 0 unusable; higher is better.
// Only packetization-mode=1. Sending, any level will do, as browsers decode
// above what they offer with level-asymmetry-allowed.
int h264_score(const std::string& fmtp, const std::string& send_profile)
{
    if (fmtp.find("packetization-mode=1") == std::string::npos)
        return 0;
    size_t at = fmtp.find("profile-level-id=");
    // Without one, profile-level-id is 420010: baseline, level 1.
    std::string id = at == std::string::npos ? "420010" : fmtp.substr(at + std::strlen("profile-level-id="), 6);
    bool baseline_family = same_prefix(id, "42", 2);
    if (send_profile.empty()) {
        if (same_prefix(id, kH264ProfileLevelId, 6))
            return 5;
        if (constrained_baseline(id))
            return 4;
        return baseline_family ? 3 : 2;
    }
    if (same_prefix(id, send_profile, 6))
        return 5;
    if (same_prefix(id, send_profile, 4))
        return 4;
    // Constrained baseline decodes as baseline, and the other way round for
    // what an encoder tuned for it emits.
    if (same_prefix(id, send_profile, 2) && (!baseline_family || constrained_baseline(id) || same_prefix(id, "4200", 4)))
        return 3;
    // What we send conforms to every profile above it.
    if (constrained_baseline(send_profile))
        return 2;
    return 0;
}

std::string fmtp_of(const GstSDPMedia* media, int pt)
{
    for (guint a = 0; a < gst_sdp_media_attributes_len(media); ++a) {
        const GstSDPAttribute* attr = gst_sdp_media_get_attribute(media, a);
        if (g_strcmp0(attr->key, "fmtp") == 0 && attr->value && std::atoi(attr->value) == pt)
            return attr->value;
    }
    return "";
}

std::string h264_profile_of(const std::string& fmtp)
{
    size_t at = fmtp.find("profile-level-id=");
    return at != std::string::npos ? fmtp.substr(at + std::strlen("profile-level-id="), 6) : "420010";
}

// Calls fn(payload type, encoding name) for each format of `media` that
// has an rtpmap (or a static payload type).
template <typename F>
void for_each_format(const GstSDPMedia* media, F&& fn)
{
    for (guint f = 0; f < gst_sdp_media_formats_len(media); ++f) {
        int pt = std::atoi(gst_sdp_media_get_format(media, f));
        GRef<GstCaps> caps = adopt_ref(gst_sdp_media_get_caps_from_media(media, pt));
        if (!caps || gst_caps_is_empty(caps.get()))
            continue;
        const char* encoding = gst_structure_get_string(gst_caps_get_structure(caps.get(), 0), "encoding-name");
        if (encoding)
            fn(pt, encoding);
    }
}

// The media codecs an m-line offers, for a reason: "H264 (640c1f, mode 0), VP9".
std::string offered_list(const GstSDPMedia* media)
{
    std::string out;
    for_each_format(media, [&](int pt, const char* encoding) {
        for (const char* name : {"RTX", "RED", "ULPFEC", "FLEXFEC-03", "CN", "TELEPHONE-EVENT"})
            if (g_ascii_strcasecmp(encoding, name) == 0)
                return;
        std::string entry = encoding;
        if (g_ascii_strcasecmp(encoding, "H264") == 0) {
            std::string fmtp = fmtp_of(media, pt);
            entry += " (" + h264_profile_of(fmtp) +
                     (fmtp.find("packetization-mode=1") == std::string::npos ? ", mode 0)" : ")");
        }
        if (out.find(entry) == std::string::npos)
            out += (out.empty() ? "" : ", ") + entry;
    });
    return out.empty() ? "no codec" : out;
}

std::string sendable_list(const SendableStream& stream)
{
    std::string out;
    for (Codec codec : stream.codecs) {
        std::string entry = codec_info(codec).encoding_name;
        if (codec == Codec::H264)
            entry += " (" + stream.h264_profile + ")";
        out += (out.empty() ? "" : ", ") + entry;
    }
    return out;
}

const char* direction_of(const GstSDPMessage* sdp, const GstSDPMedia* media)
{
    for (const char* d : {"sendonly", "recvonly", "sendrecv", "inactive"})
        if (gst_sdp_media_get_attribute_val(media, d))
            return d;
    for (const char* d : {"sendonly", "recvonly", "sendrecv", "inactive"})
        if (gst_sdp_message_get_attribute_val(sdp, d))
            return d;
    return "sendrecv";
}

} // namespace

OfferedMedia offered_codec(const GstSDPMedia* media, const std::vector<Codec>& preferred,
                           const std::string& send_h264_profile)
{
    OfferedMedia offered;
    offered.media = gst_sdp_media_get_media(media) ? gst_sdp_media_get_media(media) : "";
    for (Codec codec : preferred) {
        const CodecInfo& info = codec_info(codec);
        if (offered.media != (info.video ? "video" : "audio"))
            continue;
        int best = 0;
        for_each_format(media, [&](int pt, const char* encoding) {
            if (g_ascii_strcasecmp(encoding, info.encoding_name) != 0)
                return;
            int score = 1;
            std::string profile;
            if (codec == Codec::H264) {
                // From the fmtp itself: the SDP library turns it into
                // profile and level fields.
                std::string fmtp = fmtp_of(media, pt);
                profile = h264_profile_of(fmtp);
                score = h264_score(fmtp, send_h264_profile);
            }
            if (score > best) {
                best = score;
                offered.codec = codec;
                offered.payload = pt;
                offered.h264_profile = profile;
            }
        });
        if (offered.codec)
            break;
    }
    return offered;
}

AnswerPlan plan_answer(const GstSDPMessage* offer, const std::vector<SendableStream>& streams)
{
    AnswerPlan plan;
    std::vector<bool> taken(streams.size(), false);
    bool any_media = false;
    for (guint i = 0; i < gst_sdp_message_medias_len(offer); ++i) {
        const GstSDPMedia* media = gst_sdp_message_get_media(offer, i);
        std::string kind = gst_sdp_media_get_media(media) ? gst_sdp_media_get_media(media) : "";
        if (kind != "video" && kind != "audio")
            continue;
        any_media = true;
        std::string where = "m-line " + std::to_string(i) + " (" + kind + ")";
        if (gst_sdp_media_get_port(media) == 0 && !gst_sdp_media_get_attribute_val(media, "bundle-only")) {
            plan.unserved.push_back(where + " is rejected by the offer (port 0)");
            continue;
        }
        std::string direction = direction_of(offer, media);
        if (direction == "sendonly" || direction == "inactive") {
            plan.unserved.push_back(where + " is " + direction + ": signalsink only sends");
            continue;
        }
        bool served = false;
        std::string ours;
        for (size_t s = 0; s < streams.size() && !served; ++s) {
            if (taken[s] || streams[s].video != (kind == "video"))
                continue;
            OfferedMedia offered = offered_codec(media, streams[s].codecs, streams[s].h264_profile);
            if (offered.codec) {
                taken[s] = true;
                served = true;
                plan.lines.push_back(AnswerPlan::Line {s, i, *offered.codec, offered.payload, offered.h264_profile});
            } else {
                ours += (ours.empty() ? "" : "; ") + streams[s].name + " can be sent as " + sendable_list(streams[s]);
            }
        }
        if (served)
            continue;
        if (ours.empty())
            plan.unserved.push_back(where + ": no " + kind + " stream left to send");
        else
            plan.unserved.push_back(where + " offers " + offered_list(media) + "; " + ours);
    }
    if (!plan.lines.empty())
        return plan;
    if (!any_media)
        plan.refusal = "it has no audio or video m-line";
    for (size_t i = 0; i < plan.unserved.size(); ++i)
        plan.refusal += (i ? "; " : "") + plan.unserved[i];
    return plan;
}

} // namespace signalbin
