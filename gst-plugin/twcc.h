// Transport-wide congestion control (TWCC) for signalsink's consumers, the
// GStreamer side of it (the estimate itself: congestion-controller.h):
//
// - negotiated with `a=extmap:N <kTwccUri>` and `a=rtcp-fb:* transport-cc`
//   (webrtcbin adds the latter to every codec). In our offers the
//   extension has id kTwccExtensionId; answering, the peer's id is kept
//   (webrtcbin copies the offer's extmap into the answer);
// - each payloader writes the extension into its packets; the RTP session
//   fills in the transport-wide sequence number and remembers when each
//   packet left;
// - the peer's feedback comes back to the RTP session, which turns it into
//   an upstream event ("RTPTWCCPackets": per packet its size, when it was
//   sent and when it arrived, or lost) that reaches every payloader of the
//   transport. watch_twcc_feedback() reads it there.
#pragma once

#include "congestion-controller.h"

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

#include <functional>
#include <vector>

namespace signalbin {

inline constexpr const char* kTwccUri =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
inline constexpr int kTwccExtensionId = 3;

// Codec preferences that announce the extension with `id` on every codec:
// ours for an offer; for an answer, with the id the offer gave it
// (webrtcbin 1.22 puts a=extmap in an answer only from the preferences).
void offer_twcc(GstCaps* caps, int id = kTwccExtensionId);

// The id the m-line gives the extension; 0 when it is not negotiated.
int twcc_extension_id(const GstSDPMedia* media);

// Makes `payloader` write the extension with `id`; false if GStreamer has
// no implementation of it (rtphdrexttwcc, gst-plugins-good 1.20 and later).
bool add_twcc_extension(GstElement* payloader, int id);

// Calls `on_feedback` with every feedback report that comes up to
// `payloader_src`, on the thread that received it (webrtcbin's RTCP).
using TwccCallback = std::function<void(const std::vector<PacketFeedback>&)>;
void watch_twcc_feedback(GstPad* payloader_src, TwccCallback on_feedback);

// The report an "RTPTWCCPackets" structure describes (for the probe, and
// for tests that replay recorded ones).
std::vector<PacketFeedback> twcc_packets(const GstStructure* s);

} // namespace signalbin
