// Unit tests of plan_answer, what signalsink answers to a consumer's offer,
// on offers captured from Chromium 120+ (RTCPeerConnection with recvonly,
// sendrecv and sendonly transceivers, codec preferences set), werift 0.24
// and webrtcbin 1.22 (tests/data/offers).
#include "answer-plan.h"

#include <fstream>
#include <memory>
#include <sstream>

// After the standard headers: its fail() macros break <ios>.
#include <gst/check/gstcheck.h>

using signalbin::AnswerPlan;
using signalbin::Codec;
using signalbin::SendableStream;

namespace {

struct SdpDeleter {
    void operator()(GstSDPMessage* m) const { gst_sdp_message_free(m); }
};
using Sdp = std::unique_ptr<GstSDPMessage, SdpDeleter>;

Sdp load(const char* name)
{
    std::ifstream in(std::string(SIGNALBIN_TEST_DATA) + "/offers/" + name);
    ck_assert_msg(in.good(), "missing %s", name);
    std::stringstream text;
    text << in.rdbuf();
    GstSDPMessage* message = nullptr;
    ck_assert_int_eq(gst_sdp_message_new_from_text(text.str().c_str(), &message), GST_SDP_OK);
    return Sdp(message);
}

// signalsink's default inputs: raw video (h264, then vp8) and raw audio.
std::vector<SendableStream> defaults()
{
    return {SendableStream {"video_0", true, {Codec::H264, Codec::VP8}, "42e01f"},
            SendableStream {"audio_0", false, {Codec::Opus}, ""}};
}

AnswerPlan plan(const char* offer, const std::vector<SendableStream>& streams = defaults())
{
    Sdp sdp = load(offer);
    return signalbin::plan_answer(sdp.get(), streams);
}

bool mentions(const std::string& text, const char* what)
{
    return text.find(what) != std::string::npos;
}

} // namespace

// gstwebrtc-api's consumer with offer options: audio, video, data channel.
GST_START_TEST(test_chromium_audio_video_datachannel)
{
    AnswerPlan p = plan("chromium-recvonly-audio-video-datachannel.sdp");
    ck_assert_uint_eq(p.lines.size(), 2);
    ck_assert_uint_eq(p.lines[0].mline, 0);
    ck_assert_uint_eq(p.lines[0].stream, 1);
    ck_assert(p.lines[0].codec == Codec::Opus);
    ck_assert_int_eq(p.lines[0].payload, 111);
    ck_assert_uint_eq(p.lines[1].mline, 1);
    ck_assert_uint_eq(p.lines[1].stream, 0);
    ck_assert(p.lines[1].codec == Codec::H264);
    ck_assert_int_eq(p.lines[1].payload, 108); // 42e01f, packetization-mode 1
    ck_assert_str_eq(p.lines[1].h264_profile.c_str(), "42e01f");
    ck_assert(p.unserved.empty());
    ck_assert(p.refusal.empty());
}
GST_END_TEST;

GST_START_TEST(test_video_before_audio)
{
    AnswerPlan p = plan("chromium-recvonly-video-audio.sdp");
    ck_assert_uint_eq(p.lines.size(), 2);
    ck_assert_uint_eq(p.lines[0].mline, 0);
    ck_assert_uint_eq(p.lines[0].stream, 0);
    ck_assert(p.lines[0].codec == Codec::H264);
    ck_assert_uint_eq(p.lines[1].mline, 1);
    ck_assert(p.lines[1].codec == Codec::Opus);
}
GST_END_TEST;

GST_START_TEST(test_video_only)
{
    AnswerPlan p = plan("chromium-recvonly-video.sdp");
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert_uint_eq(p.lines[0].stream, 0);
    ck_assert(p.lines[0].codec == Codec::H264);
}
GST_END_TEST;

GST_START_TEST(test_sendrecv_is_answered)
{
    AnswerPlan p = plan("chromium-sendrecv-audio-video.sdp");
    ck_assert_uint_eq(p.lines.size(), 2);
}
GST_END_TEST;

GST_START_TEST(test_vp8_only)
{
    AnswerPlan p = plan("chromium-recvonly-vp8.sdp");
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert(p.lines[0].codec == Codec::VP8);
    ck_assert_int_eq(p.lines[0].payload, 96);
}
GST_END_TEST;

GST_START_TEST(test_h264_only_picks_packetization_mode_1)
{
    std::vector<SendableStream> vp8_first = {SendableStream {"video_0", true, {Codec::VP8, Codec::H264}, "42e01f"}};
    AnswerPlan p = plan("chromium-recvonly-h264.sdp", vp8_first);
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert(p.lines[0].codec == Codec::H264);
    ck_assert_int_eq(p.lines[0].payload, 108);
    ck_assert_str_eq(p.lines[0].h264_profile.c_str(), "42e01f");
}
GST_END_TEST;

// Only Main profile offered: constrained baseline conforms to it, and the
// answer keeps the offered profile-level-id.
GST_START_TEST(test_h264_main_profile_only)
{
    AnswerPlan p = plan("chromium-recvonly-h264-main.sdp");
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert(p.lines[0].codec == Codec::H264);
    ck_assert_int_eq(p.lines[0].payload, 116);
    ck_assert_str_eq(p.lines[0].h264_profile.c_str(), "4d001f");
}
GST_END_TEST;

// Pre-encoded High profile input cannot go to a peer that does not offer
// High.
GST_START_TEST(test_high_profile_input_needs_high)
{
    std::vector<SendableStream> high = {SendableStream {"video_0", true, {Codec::H264}, "640c1f"}};
    AnswerPlan p = plan("chromium-recvonly-h264.sdp", high);
    ck_assert(p.lines.empty());
    ck_assert_msg(mentions(p.refusal, "video_0 can be sent as H264 (640c1f)"), "%s", p.refusal.c_str());
}
GST_END_TEST;

GST_START_TEST(test_packetization_mode_0_only_is_refused)
{
    AnswerPlan p = plan("chromium-recvonly-h264-mode0.sdp");
    ck_assert(p.lines.empty());
    ck_assert_msg(mentions(p.refusal, "m-line 0 (video) offers H264 (42001f, mode 0)"), "%s", p.refusal.c_str());
    ck_assert_msg(mentions(p.refusal, "video_0 can be sent as H264 (42e01f), VP8"), "%s", p.refusal.c_str());
}
GST_END_TEST;

// Audio is still sent when the video codecs do not match.
GST_START_TEST(test_vp9_video_audio_still_sent)
{
    AnswerPlan p = plan("chromium-recvonly-vp9-audio.sdp");
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert(p.lines[0].codec == Codec::Opus);
    ck_assert_uint_eq(p.unserved.size(), 1);
    ck_assert_msg(mentions(p.unserved[0], "m-line 1 (video) offers VP9"), "%s", p.unserved[0].c_str());
}
GST_END_TEST;

GST_START_TEST(test_vp9_only_is_refused)
{
    AnswerPlan p = plan("chromium-recvonly-vp9.sdp");
    ck_assert(p.lines.empty());
    ck_assert_msg(mentions(p.refusal, "offers VP9;"), "%s", p.refusal.c_str());
}
GST_END_TEST;

// A publisher's offer: nothing for a sink to send on.
GST_START_TEST(test_sendonly_is_refused)
{
    AnswerPlan p = plan("chromium-sendonly-audio-video.sdp");
    ck_assert(p.lines.empty());
    ck_assert_msg(mentions(p.refusal, "m-line 0 (audio) is sendonly"), "%s", p.refusal.c_str());
}
GST_END_TEST;

GST_START_TEST(test_werift)
{
    AnswerPlan p = plan("werift-recvonly-video-audio.sdp");
    ck_assert_uint_eq(p.lines.size(), 2);
    ck_assert(p.lines[0].codec == Codec::VP8);
    ck_assert_int_eq(p.lines[0].payload, 98);
    ck_assert(p.lines[1].codec == Codec::Opus); // "OPUS" in capitals
    ck_assert_int_eq(p.lines[1].payload, 96);
}
GST_END_TEST;

// webrtcbin with max-bundle offers its second m-line bundle-only (port 0):
// not a rejection.
GST_START_TEST(test_webrtcbin_bundle_only)
{
    AnswerPlan p = plan("webrtcbin-recvonly-video-audio.sdp");
    ck_assert_uint_eq(p.lines.size(), 2);
    ck_assert(p.lines[0].codec == Codec::H264);
    ck_assert_int_eq(p.lines[0].payload, 102);
    ck_assert_uint_eq(p.lines[1].mline, 1);
    ck_assert(p.lines[1].codec == Codec::Opus);
}
GST_END_TEST;

// The first video stream not sendable in the offered codec does not stop
// a second one that is.
GST_START_TEST(test_second_stream_of_a_kind)
{
    std::vector<SendableStream> two = {SendableStream {"video_0", true, {Codec::VP8}, ""},
                                       SendableStream {"video_1", true, {Codec::H264}, "42e01f"}};
    AnswerPlan p = plan("chromium-recvonly-h264.sdp", two);
    ck_assert_uint_eq(p.lines.size(), 1);
    ck_assert_uint_eq(p.lines[0].stream, 1);
}
GST_END_TEST;

GST_START_TEST(test_no_input_is_refused)
{
    AnswerPlan p = plan("chromium-recvonly-video.sdp", {});
    ck_assert(p.lines.empty());
    ck_assert_msg(mentions(p.refusal, "no video stream left to send"), "%s", p.refusal.c_str());
}
GST_END_TEST;

static Suite* answer_plan_suite()
{
    Suite* s = suite_create("answer-plan");
    TCase* tc = tcase_create("offers");
    tcase_add_test(tc, test_chromium_audio_video_datachannel);
    tcase_add_test(tc, test_video_before_audio);
    tcase_add_test(tc, test_video_only);
    tcase_add_test(tc, test_sendrecv_is_answered);
    tcase_add_test(tc, test_vp8_only);
    tcase_add_test(tc, test_h264_only_picks_packetization_mode_1);
    tcase_add_test(tc, test_h264_main_profile_only);
    tcase_add_test(tc, test_high_profile_input_needs_high);
    tcase_add_test(tc, test_packetization_mode_0_only_is_refused);
    tcase_add_test(tc, test_vp9_video_audio_still_sent);
    tcase_add_test(tc, test_vp9_only_is_refused);
    tcase_add_test(tc, test_sendonly_is_refused);
    tcase_add_test(tc, test_werift);
    tcase_add_test(tc, test_webrtcbin_bundle_only);
    tcase_add_test(tc, test_second_stream_of_a_kind);
    tcase_add_test(tc, test_no_input_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

GST_CHECK_MAIN(answer_plan);
