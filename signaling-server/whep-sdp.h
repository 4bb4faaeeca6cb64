// The SDP work of the WHEP endpoint (draft-ietf-wish-whep, RFC 9725's rules
// for trickle), with no HTTP in it: candidates put into an answer (a WHEP
// server cannot trickle to the player), and a player's trickle-ice-sdpfrag
// (RFC 8840) read into candidates for the producer.
#pragma once

#include "expected.h"
#include "protocol.h"

#include <string>
#include <vector>

namespace signalbin::server::whep {

// Whether a request body is an SDP description at all ("v=0" first).
bool looks_like_sdp(const std::string& text);

// The a=mid of each m-section, in order ("" where one has none).
std::vector<std::string> media_ids(const std::string& sdp);

// `sdp` with each candidate as an a=candidate line at the end of the
// m-section its sdp_mline_index names (others are dropped), and, when
// `complete`, a=end-of-candidates in every m-section. CRLF line ends.
std::string with_candidates(const std::string& sdp, const std::vector<protocol::Ice>& candidates, bool complete);

// The candidates of an application/trickle-ice-sdpfrag body, each with the
// m-line index of the section whose a=mid it carries in `offer` (an
// a=end-of-candidates becomes an empty candidate). Fails, saying why, on a
// section with an unknown or missing mid, and on an ICE restart (new
// ice-ufrag/ice-pwd), which we do not support.
Expected<std::vector<protocol::Ice>> read_sdpfrag(const std::string& fragment, const std::string& offer);

} // namespace signalbin::server::whep
