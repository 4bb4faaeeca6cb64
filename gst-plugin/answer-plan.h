// What signalsink answers to a consumer's offer, decided from the offer's
// SDP alone (no webrtcbin): which of our streams goes on which m-line, with
// which codec, payload type and H.264 profile; and, when nothing fits, a
// reason a person can act on. Also the per-m-line codec match that
// signalsrc uses on a producer's offer.
#pragma once

#include "codecs.h"

#include <gst/sdp/sdp.h>

#include <optional>
#include <string>
#include <vector>

namespace signalbin {

// One offered m-line against a list of codecs: the first of `preferred`
// it offers, with the payload type it used. H.264 only with
// packetization-mode=1. To send (`send_h264_profile`, a profile-level-id),
// in a profile the peer decodes what we send in: the same one, or, when we
// send constrained baseline, any profile (constrained baseline streams
// conform to Main and High too). To receive (empty), any profile,
// constrained baseline first.
struct OfferedMedia {
    std::string media;
    std::optional<Codec> codec;
    int payload = -1;
    std::string h264_profile; // the chosen H.264 format's profile-level-id
};
OfferedMedia offered_codec(const GstSDPMedia* media, const std::vector<Codec>& preferred,
                           const std::string& send_h264_profile = "");

// One of signalsink's input streams, as the planner sees it.
struct SendableStream {
    std::string name; // video_0, audio_0
    bool video = false;
    std::vector<Codec> codecs;    // by preference
    std::string h264_profile;     // the profile-level-id we send H.264 in
};

struct AnswerPlan {
    struct Line {
        size_t stream; // index into the streams given
        unsigned mline;
        Codec codec;
        int payload;
        std::string h264_profile; // for H.264: the offered profile-level-id to answer with
    };
    std::vector<Line> lines;
    // Per offered audio or video m-line we do not send on, why (for the log).
    std::vector<std::string> unserved;
    // Why nothing in the offer can be sent, when `lines` is empty: the
    // unserved m-lines, or that there is no audio or video m-line.
    std::string refusal;
};

// Each audio or video m-line the consumer may receive on (recvonly or
// sendrecv; not rejected with port 0 unless bundle-only) gets the first
// stream of its kind not taken yet that can be sent in a codec it offers.
// m-lines of other kinds (a data channel) are webrtcbin's.
AnswerPlan plan_answer(const GstSDPMessage* offer, const std::vector<SendableStream>& streams);

} // namespace signalbin
