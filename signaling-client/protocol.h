// The signalling protocol of GStreamer's WebRTC signalling server
// (gst-plugins-rs net/webrtc/protocol): one C++ type per message, both
// directions, parsed from and serialised to JSON with json-glib.
//
// Parsing never aborts: anything that arrives over the wire yields either a
// message or a ParseError naming the field that was wrong and what was
// expected. Documented in docs/protocol.md.
#pragma once

#include "expected.h"
#include "json-ptr.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace signalbin::protocol {

enum class Version { V1_0, V1_1 };
const char* to_string(Version v);

enum class Role { Producer, Listener, Consumer };
const char* to_string(Role r);

// Any JSON value, or null. Used for a peer's `meta`.
class Json {
public:
    Json() = default;
    static Json adopt(JsonNode* node); // takes the reference; a JSON null becomes null
    static std::optional<Json> parse(std::string_view text);
    static Json object(JsonObject* object);
    bool is_null() const { return !node_; }
    JsonNode* node() const { return node_.get(); }
    // The value of a string field of an object, if it has one.
    std::optional<std::string> string_member(const char* name) const;
    std::string to_string() const; // "null" when null
    bool operator==(const Json& other) const;
    bool operator!=(const Json& other) const { return !(*this == other); }

private:
    GRef<JsonNode> node_;
};

struct Sdp {
    enum class Type { Offer, Answer };
    Type type = Type::Offer;
    std::string sdp;
    bool operator==(const Sdp& o) const { return type == o.type && sdp == o.sdp; }
};

struct Ice {
    std::string candidate;
    uint32_t sdp_mline_index = 0;
    std::optional<std::string> sdp_mid; // forwarded when the sender gives it
    bool operator==(const Ice& o) const
    {
        return candidate == o.candidate && sdp_mline_index == o.sdp_mline_index && sdp_mid == o.sdp_mid;
    }
};

struct PeerInfo {
    std::string id;
    Json meta;
    bool operator==(const PeerInfo& o) const { return id == o.id && meta == o.meta; }
};

// ---- Messages in both directions --------------------------------------------

// `peer`: SDP or ICE relayed between the two members of a session.
struct Peer {
    std::string session_id;
    std::variant<Sdp, Ice> payload;
    bool operator==(const Peer& o) const { return session_id == o.session_id && payload == o.payload; }
};

struct EndSession {
    std::string session_id;
    bool operator==(const EndSession& o) const { return session_id == o.session_id; }
};

// v1_1 form of endSession, with an optional reason.
struct EndSessionV1_1 {
    std::string session_id;
    std::optional<std::string> error;
    bool operator==(const EndSessionV1_1& o) const { return session_id == o.session_id && error == o.error; }
};

// ---- Client -> server -------------------------------------------------------

struct SetProtocolVersion {
    Version version = Version::V1_0;
    bool operator==(const SetProtocolVersion& o) const { return version == o.version; }
};

struct SetPeerStatus {
    std::vector<Role> roles;
    Json meta;
    bool operator==(const SetPeerStatus& o) const { return roles == o.roles && meta == o.meta; }
};

struct StartSessionRequest {
    std::string peer_id;
    std::optional<std::string> offer;
    bool operator==(const StartSessionRequest& o) const { return peer_id == o.peer_id && offer == o.offer; }
};

struct ListRequest {
    bool operator==(const ListRequest&) const { return true; }
};

struct ListConsumersRequest {
    bool operator==(const ListConsumersRequest&) const { return true; }
};

using ClientMessage = std::variant<SetProtocolVersion, SetPeerStatus, StartSessionRequest, Peer, EndSession,
                                   EndSessionV1_1, ListRequest, ListConsumersRequest>;

// ---- Server -> client -------------------------------------------------------

struct Welcome {
    std::string peer_id;
    bool operator==(const Welcome& o) const { return peer_id == o.peer_id; }
};

struct PeerStatusChanged {
    std::string peer_id;
    std::vector<Role> roles;
    Json meta;
    bool operator==(const PeerStatusChanged& o) const
    {
        return peer_id == o.peer_id && roles == o.roles && meta == o.meta;
    }
};

struct SessionStarted {
    std::string peer_id;
    std::string session_id;
    bool operator==(const SessionStarted& o) const { return peer_id == o.peer_id && session_id == o.session_id; }
};

// Tells the producer (or a passive consumer) to start negotiating.
struct StartSession {
    std::string peer_id;
    std::string session_id;
    std::optional<std::string> offer;
    bool operator==(const StartSession& o) const
    {
        return peer_id == o.peer_id && session_id == o.session_id && offer == o.offer;
    }
};

struct List {
    std::vector<PeerInfo> producers;
    bool operator==(const List& o) const { return producers == o.producers; }
};

struct ListConsumers {
    std::vector<PeerInfo> consumers;
    bool operator==(const ListConsumers& o) const { return consumers == o.consumers; }
};

struct Error {
    std::string details;
    bool operator==(const Error& o) const { return details == o.details; }
};

using ServerMessage = std::variant<Welcome, PeerStatusChanged, SessionStarted, StartSession, Peer, EndSession,
                                   EndSessionV1_1, List, ListConsumers, Error>;

// ---- Parsing and serialising ------------------------------------------------

struct ParseError {
    std::string field;    // "type", "sdp.type", "(json)" for text that is not JSON
    std::string expected; // "a string", "one of offer, answer", ...
    std::string message() const;
};

template <typename T>
class Parsed : public Expected<T, ParseError> {
public:
    Parsed(T value) : Expected<T, ParseError>(std::move(value)) {}
    Parsed(ParseError error) : Expected<T, ParseError>(Expected<T, ParseError>::failure(std::move(error))) {}
};

// Deeper JSON than this is refused before it reaches the parser.
constexpr int kMaxJsonDepth = 64;

Parsed<ClientMessage> parse_client_message(std::string_view text);
Parsed<ServerMessage> parse_server_message(std::string_view text);
// The same without the fast path for `peer` messages (peer-json.h): every
// message through json-glib. For tests that hold the two to the same answers.
Parsed<ClientMessage> parse_client_message_with_json_glib(std::string_view text);
Parsed<ServerMessage> parse_server_message_with_json_glib(std::string_view text);

std::string serialize(const ClientMessage& message);
std::string serialize(const ServerMessage& message);

// The `type` string of a message, for logs.
const char* type_name(const ClientMessage& message);
const char* type_name(const ServerMessage& message);

} // namespace signalbin::protocol
