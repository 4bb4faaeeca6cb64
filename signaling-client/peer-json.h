// The `peer` message (SDP and ICE, the bulk of what a signalling server
// relays) read and written without json-glib, whose tree of GObjects and
// hash tables costs several times more than the relay itself.
//
// The reader is a fast path, not a second authority: it accepts only the
// plain shape of the message (the members the protocol defines, each once,
// with the expected types, nothing it would have to interpret) and returns
// nothing for anything else, which then goes through the json-glib parser.
// So whatever it accepts, the full parser would have read the same way; the
// protocol tests check that over their whole corpus of inputs.
#pragma once

#include "protocol.h"

#include <optional>
#include <string>
#include <string_view>

namespace signalbin::protocol {

// A `peer` message in its plain shape, or nothing (not a peer message, or
// one the full parser must judge).
std::optional<Peer> read_plain_peer(std::string_view text);

// `{"type":"peer","sessionId":...,"sdp"|"ice":{...}}`
std::string write_peer(const Peer& peer);

} // namespace signalbin::protocol
