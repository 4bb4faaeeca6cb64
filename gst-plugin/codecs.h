// The codecs signalbin sends and receives, and the GStreamer elements for
// each: encoder (tuned for latency), parser, payloader, depayloader and
// decoders, and the RTP caps that go into SDP.
#pragma once

#include "gst-ptr.h"

#include <gst/gst.h>

#include <optional>
#include <string>
#include <vector>

namespace signalbin {

enum class Codec { H264, VP8, Opus };

struct CodecInfo {
    Codec codec;
    const char* name;          // property value: "h264"
    const char* encoding_name; // SDP rtpmap: "H264"
    bool video;
    int default_payload;
    int clock_rate;
    const char* encoded_caps; // what the encoder or an upstream produces
    const char* encoder;
    const char* parser; // nullptr when none is needed
    const char* payloader;
    const char* depayloader;
    std::vector<const char*> decoders; // by preference
};

const CodecInfo& codec_info(Codec codec);
std::optional<Codec> codec_from_name(const std::string& name);
// The codec of encoded input caps (video/x-h264, video/x-vp8, audio/x-opus).
std::optional<Codec> codec_from_encoded_caps(const GstCaps* caps);
// The codec of an RTP caps structure (encoding-name).
std::optional<Codec> codec_from_rtp_caps(const GstStructure* s);

// The profile-level-id our H.264 encoder is announced with: constrained
// baseline, level 3.1, as browsers take it.
constexpr const char* kH264ProfileLevelId = "42e01f";
// The profile-level-id (6 hex digits) of H.264 caps from their profile and
// level fields (as h264parse and encoders set them); kH264ProfileLevelId
// when they have none we know.
std::string h264_profile_level_id(const GstCaps* caps);

// RTP caps for SDP with `payload` type, NACK/PLI feedback; H.264 with
// packetization-mode 1 and `profile_level_id`.
GRef<GstCaps> rtp_caps(Codec codec, int payload, const std::string& profile_level_id = kH264ProfileLevelId);

// Encoder configured for low latency, with `keyframe_interval` frames
// between key frames (video). nullptr if the plugin is missing.
GstElement* make_encoder(Codec codec, unsigned keyframe_interval, unsigned bitrate_kbps);
// A running encoder's target bitrate (x264enc and vp8enc take it while playing).
void set_encoder_bitrate(GstElement* encoder, Codec codec, unsigned kbps);
// Payloader for one consumer: zero-latency aggregation, parameter sets with
// every key frame, MTU for WebRTC. H.264 caps carry the SDP's fmtp
// (`profile_level_id`, packetization-mode 1), set by pad probes.
GstElement* make_payloader(Codec codec, int payload, const std::string& profile_level_id = kH264ProfileLevelId);
// The first installed decoder for the codec, or nullptr.
GstElement* make_decoder(Codec codec);

// Names of codec elements that are not installed, for a clear error.
std::vector<std::string> missing_elements(Codec codec, bool need_encoder, bool need_decoder);

} // namespace signalbin
