// The SDP work of the WHIP and WHEP endpoints (RFC 9725, draft-ietf-wish-whep),
// with no HTTP in it: candidates put into an answer (the server cannot
// trickle to an HTTP client), and a client's trickle-ice-sdpfrag (RFC 8840)
// read into candidates for its peer.
#pragma once

#include "expected.h"
#include "protocol.h"

#include <string>
#include <vector>

namespace signalbin::server::trickle {

// Whether a request body is an SDP description at all ("v=0" first).
bool looks_like_sdp(const std::string& text);

// The a=mid of each m-section, in order ("" where one has none).
std::vector<std::string> media_ids(const std::string& sdp);

// `sdp` with each candidate as an a=candidate line at the end of the
// m-section its sdp_mline_index names (others are dropped; those the
// section has already stay, once), and, when `complete`,
// a=end-of-candidates in every m-section. CRLF line ends.
std::string with_candidates(const std::string& sdp, const std::vector<protocol::Ice>& candidates, bool complete);

// The candidates of an application/trickle-ice-sdpfrag body, each with the
// m-line index of the section whose a=mid it carries in `offer` (an
// a=end-of-candidates becomes an empty candidate). Fails, saying why, on a
// section with an unknown or missing mid, and on an ICE restart (new
// ice-ufrag/ice-pwd), which we do not support.
Expected<std::vector<protocol::Ice>> read_sdpfrag(const std::string& fragment, const std::string& offer);

// The other way, for a client: an application/trickle-ice-sdpfrag body with
// `candidates` (an empty one: a=end-of-candidates) in the m-sections of
// `offer` their sdp_mline_index names, with its ice-ufrag and ice-pwd.
std::string make_sdpfrag(const std::string& offer, const std::vector<protocol::Ice>& candidates);

} // namespace signalbin::server::trickle
