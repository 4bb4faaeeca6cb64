// Unit tests of the WHIP/WHEP endpoints' SDP work (trickle-sdp.h): candidates
// put into an answer, a client's trickle-ice-sdpfrag (RFC 8840) read back.
#include "trickle-sdp.h"

#include <gst/check/gstcheck.h>

#include <string>

using namespace signalbin::server::trickle;
using signalbin::protocol::Ice;

namespace {

const char* kOffer = "v=0\r\n"
                     "o=- 1 2 IN IP4 127.0.0.1\r\n"
                     "s=-\r\n"
                     "t=0 0\r\n"
                     "a=group:BUNDLE 0 1\r\n"
                     "a=ice-ufrag:abcd\r\n"
                     "a=ice-pwd:0123456789012345678901\r\n"
                     "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                     "c=IN IP4 0.0.0.0\r\n"
                     "a=mid:0\r\n"
                     "a=recvonly\r\n"
                     "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                     "c=IN IP4 0.0.0.0\r\n"
                     "a=mid:1\r\n"
                     "a=recvonly\r\n";

size_t count(const std::string& text, const std::string& part)
{
    size_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++n;
    return n;
}

} // namespace

GST_START_TEST(test_looks_like_sdp)
{
    fail_unless(looks_like_sdp(kOffer), "an offer");
    fail_unless(looks_like_sdp("\r\nv=0\r\n"), "leading blank lines");
    fail_unless(!looks_like_sdp(""), "empty");
    fail_unless(!looks_like_sdp("{\"type\":\"offer\"}"), "JSON");
}
GST_END_TEST;

GST_START_TEST(test_media_ids)
{
    std::vector<std::string> mids = media_ids(kOffer);
    fail_unless(mids.size() == 2 && mids[0] == "0" && mids[1] == "1", "mids");
    mids = media_ids("v=0\r\nm=video 9 X 96\r\nm=audio 9 X 0\r\na=mid:a\r\n");
    fail_unless(mids.size() == 2 && mids[0].empty() && mids[1] == "a", "a section without a mid");
}
GST_END_TEST;

GST_START_TEST(test_with_candidates)
{
    std::vector<Ice> candidates = {
        {"candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host", 0, std::nullopt},
        {"candidate:2 1 UDP 2015363327 127.0.0.1 40001 typ host", 1, std::nullopt},
        {"candidate:3 1 UDP 2015363327 127.0.0.1 40002 typ host", 7, std::nullopt}, // no such section
    };
    std::string out = with_candidates(std::string(kOffer) + "a=candidate:9 1 UDP 1 10.0.0.1 9 typ host\r\n" +
                                          "a=candidate:2 1 UDP 2015363327 127.0.0.1 40001 typ host\r\n",
                                      candidates, true);
    size_t video = out.find("m=video");
    size_t audio = out.find("m=audio");
    size_t first = out.find("a=candidate:1 ");
    size_t second = out.find("a=candidate:2 ");
    fail_unless(first > video && first < audio, "candidate 1 is not in the video section:\n%s", out.c_str());
    fail_unless(second > audio, "candidate 2 is not in the audio section:\n%s", out.c_str());
    fail_unless(out.find("candidate:3") == std::string::npos, "a candidate for no section was kept");
    fail_unless(count(out, "a=candidate:9 ") == 1, "a candidate the answer had is not kept once:\n%s", out.c_str());
    fail_unless(count(out, "a=candidate:2 ") == 1, "a candidate both had is not there once:\n%s", out.c_str());
    fail_unless(count(out, "a=end-of-candidates\r\n") == 2, "end-of-candidates in each section:\n%s", out.c_str());
    fail_unless(out.find("\n\n") == std::string::npos && out.find("\r\r") == std::string::npos, "line ends");
    fail_unless(out.compare(0, 5, "v=0\r\n") == 0, "the session part first");

    std::string partial = with_candidates(kOffer, candidates, false);
    fail_unless(partial.find("a=end-of-candidates") == std::string::npos, "not complete: no end-of-candidates");
}
GST_END_TEST;

GST_START_TEST(test_read_sdpfrag)
{
    // As RFC 8840 and browsers' WHIP/WHEP clients send it.
    const char* fragment = "a=ice-ufrag:abcd\r\n"
                           "a=ice-pwd:0123456789012345678901\r\n"
                           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                           "a=mid:1\r\n"
                           "a=candidate:5 1 udp 2122260223 192.168.1.2 50000 typ host\r\n"
                           "a=end-of-candidates\r\n"
                           "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                           "a=mid:0\r\n"
                           "a=candidate:6 1 udp 2122260223 192.168.1.2 50001 typ host\r\n";
    auto read = read_sdpfrag(fragment, kOffer);
    fail_unless(read.ok(), "%s", read.ok() ? "" : read.error().c_str());
    const std::vector<Ice>& ice = read.value();
    fail_unless(ice.size() == 3, "%zu candidates", ice.size());
    fail_unless(ice[0].candidate == "candidate:5 1 udp 2122260223 192.168.1.2 50000 typ host" &&
                    ice[0].sdp_mline_index == 1 && ice[0].sdp_mid == std::optional<std::string>("1"),
                "first: %s at %u", ice[0].candidate.c_str(), ice[0].sdp_mline_index);
    fail_unless(ice[1].candidate.empty() && ice[1].sdp_mline_index == 1, "end-of-candidates");
    fail_unless(ice[2].sdp_mline_index == 0, "the video candidate's index");

    // The candidate may come before the mid within its section.
    auto early = read_sdpfrag("m=video 9 X 96\r\na=candidate:7 1 udp 1 1.2.3.4 5 typ host\r\na=mid:0\r\n", kOffer);
    fail_unless(early.ok() && early.value().size() == 1 && early.value()[0].sdp_mline_index == 0, "mid after");
}
GST_END_TEST;

GST_START_TEST(test_read_sdpfrag_refusals)
{
    auto restart = read_sdpfrag("a=ice-ufrag:new1\r\na=ice-pwd:x\r\nm=video 9 X 96\r\na=mid:0\r\n", kOffer);
    fail_unless(!restart.ok() && restart.error().find("ICE restarts are not supported") != std::string::npos,
                "an ICE restart was not refused clearly");
    auto unknown = read_sdpfrag("m=video 9 X 96\r\na=mid:7\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", kOffer);
    fail_unless(!unknown.ok() && unknown.error().find("a=mid:7") != std::string::npos, "unknown mid");
    auto no_mid = read_sdpfrag("m=video 9 X 96\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", kOffer);
    fail_unless(!no_mid.ok() && no_mid.error().find("no a=mid") != std::string::npos, "no mid");
    auto outside = read_sdpfrag("a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", kOffer);
    fail_unless(!outside.ok() && outside.error().find("outside any media section") != std::string::npos,
                "outside a section");
}
GST_END_TEST;

GST_START_TEST(test_make_sdpfrag)
{
    std::vector<Ice> candidates = {
        {"candidate:1 1 UDP 2015363327 10.0.0.1 40000 typ host", 1, std::nullopt},
        {"", 1, std::nullopt},
    };
    std::string fragment = make_sdpfrag(kOffer, candidates);
    fail_unless(fragment.find("a=ice-ufrag:abcd\r\n") == 0, "ufrag first:\n%s", fragment.c_str());
    fail_unless(fragment.find("m=video") == std::string::npos, "a section with no candidate:\n%s", fragment.c_str());
    fail_unless(fragment.find("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=candidate:1 ") != std::string::npos,
                "the audio section:\n%s", fragment.c_str());
    // What a server reads back is what was sent.
    auto read = read_sdpfrag(fragment, kOffer);
    fail_unless(read.ok() && read.value().size() == 2 && read.value()[0].candidate == candidates[0].candidate &&
                    read.value()[0].sdp_mline_index == 1 && read.value()[1].candidate.empty(),
                "round trip");
}
GST_END_TEST;

static Suite* trickle_sdp_suite()
{
    Suite* s = suite_create("trickle-sdp");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_looks_like_sdp);
    tcase_add_test(tc, test_media_ids);
    tcase_add_test(tc, test_with_candidates);
    tcase_add_test(tc, test_read_sdpfrag);
    tcase_add_test(tc, test_read_sdpfrag_refusals);
    tcase_add_test(tc, test_make_sdpfrag);
    return s;
}

GST_CHECK_MAIN(trickle_sdp);
