// RTP header extensions in SDP and on payloaders: announcing one in codec
// preferences (webrtcbin 1.22 puts a=extmap in an offer, or an answer, only
// from those), finding the id an m-line gives one, and the mid extension
// (RFC 8843 `urn:ietf:params:rtp-hdrext:sdes:mid`), with which stacks that
// route bundled RTP by MID (werift, SFUs) find each stream. The transport-
// wide congestion control extension is twcc.h's.
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

#include <string>

namespace signalbin {

inline constexpr const char* kMidUri = "urn:ietf:params:rtp-hdrext:sdes:mid";
inline constexpr int kMidExtensionId = 4; // as Chromium numbers it

// Codec preferences that announce the extension `uri` with `id` on every codec.
void announce_extension(GstCaps* caps, int id, const char* uri);

// The id `media` gives the extension `uri`; 0 when it is not negotiated.
int extension_id(const GstSDPMedia* media, const char* uri);

// Makes `payloader` write the mid `mid` with extension `id`; false if
// GStreamer has no implementation of it (rtphdrextmid, gst-plugins-good 1.22).
bool add_mid_extension(GstElement* payloader, int id, const std::string& mid);

} // namespace signalbin
