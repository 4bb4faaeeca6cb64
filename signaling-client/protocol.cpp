#include "protocol.h"

#include "overloaded.h"
#include "peer-json.h"

#include <array>
#include <cstring>

namespace signalbin::protocol {

namespace {

constexpr std::array<std::pair<Role, const char*>, 3> kRoles {{
    {Role::Producer, "producer"},
    {Role::Listener, "listener"},
    {Role::Consumer, "consumer"},
}};

// Refuses nesting deeper than kMaxJsonDepth before json-glib, whose parser
// recurses once per level, sees the text. json-glib also accepts /* comments */
// and 'single-quoted' strings, which would hide brackets from this count (and
// let deep nesting through to a stack overflow), so text with '/' or '\''
// outside a string is refused as well: neither is valid JSON there. So is
// anything after the first value: json-glib would quietly drop it, and with it
// a second message sent in the same frame.
// Returns what was expected instead, or nothing when the text may be parsed.
std::optional<std::string> refuse_before_parsing(std::string_view text)
{
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    bool after_value = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (after_value && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return std::string("valid JSON (one value, with nothing after it)");
        if (c == '"')
            in_string = true;
        else if (c == '/' || c == '\'')
            return std::string("valid JSON (no comments or single-quoted strings)");
        else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth)
                return "at most " + std::to_string(kMaxJsonDepth) + " levels of nesting";
        } else if ((c == ']' || c == '}') && depth > 0)
            after_value = --depth == 0;
    }
    return std::nullopt;
}

const char* json_kind(JsonNode* node)
{
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT:
        return "an object";
    case JSON_NODE_ARRAY:
        return "an array";
    case JSON_NODE_NULL:
        return "null";
    case JSON_NODE_VALUE:
        break;
    }
    GType t = json_node_get_value_type(node);
    if (t == G_TYPE_STRING)
        return "a string";
    if (t == G_TYPE_BOOLEAN)
        return "a boolean";
    return "a number";
}

// Reads the fields of one JSON object; the first problem wins and later
// reads become no-ops, so a parser is a straight list of reads.
class Fields {
public:
    Fields(JsonObject* object, std::string prefix = {}) : object_(object), prefix_(std::move(prefix)) {}

    std::optional<ParseError> error;

    std::string string(const char* name)
    {
        JsonNode* node = member(name);
        if (!node) {
            fail(name, "a string", nullptr);
            return {};
        }
        if (!is_string(node)) {
            fail(name, "a string", node);
            return {};
        }
        return json_node_get_string(node);
    }

    std::optional<std::string> optional_string(const char* name)
    {
        JsonNode* node = member(name);
        if (!node || JSON_NODE_HOLDS_NULL(node))
            return std::nullopt;
        if (!is_string(node)) {
            fail(name, "a string or null", node);
            return std::nullopt;
        }
        return std::string(json_node_get_string(node));
    }

    uint32_t uint32(const char* name)
    {
        JsonNode* node = member(name);
        if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
            fail(name, "a whole number from 0 to 4294967295", node);
            return 0;
        }
        gint64 v = json_node_get_int(node);
        if (v < 0 || v > G_MAXUINT32) {
            fail(name, "a whole number from 0 to 4294967295", node);
            return 0;
        }
        return static_cast<uint32_t>(v);
    }

    // An object member; nullptr (without error) when absent and optional.
    JsonObject* object(const char* name, bool required)
    {
        JsonNode* node = member(name);
        if (!node && !required)
            return nullptr;
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            fail(name, "an object", node);
            return nullptr;
        }
        return json_node_get_object(node);
    }

    JsonArray* array(const char* name)
    {
        JsonNode* node = member(name);
        if (!node || !JSON_NODE_HOLDS_ARRAY(node)) {
            fail(name, "an array", node);
            return nullptr;
        }
        return json_node_get_array(node);
    }

    // Any object or null; absent means null.
    Json meta(const char* name)
    {
        JsonNode* node = member(name);
        if (!node || JSON_NODE_HOLDS_NULL(node))
            return {};
        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            fail(name, "an object or null", node);
            return {};
        }
        return Json::adopt(json_node_copy(node));
    }

    bool has(const char* name) const { return object_ && json_object_has_member(object_, name); }

    std::vector<Role> roles(const char* name)
    {
        std::vector<Role> roles;
        JsonArray* array = this->array(name);
        if (!array)
            return roles;
        guint n = json_array_get_length(array);
        for (guint i = 0; i < n && !error; ++i) {
            JsonNode* node = json_array_get_element(array, i);
            std::string field = std::string(name) + "[" + std::to_string(i) + "]";
            bool found = false;
            if (is_string(node)) {
                for (auto& [role, text] : kRoles) {
                    if (std::strcmp(json_node_get_string(node), text) == 0) {
                        roles.push_back(role);
                        found = true;
                    }
                }
            }
            if (!found)
                fail(field.c_str(), "one of \"producer\", \"listener\", \"consumer\"", node);
        }
        return roles;
    }

    std::vector<PeerInfo> peers(const char* name)
    {
        std::vector<PeerInfo> peers;
        JsonArray* array = this->array(name);
        if (!array)
            return peers;
        guint n = json_array_get_length(array);
        for (guint i = 0; i < n && !error; ++i) {
            std::string field = qualify(name) + "[" + std::to_string(i) + "]";
            JsonNode* node = json_array_get_element(array, i);
            if (!JSON_NODE_HOLDS_OBJECT(node)) {
                error = ParseError {field, std::string("an object, got ") + json_kind(node)};
                break;
            }
            Fields f(json_node_get_object(node), field);
            PeerInfo info;
            info.id = f.string("id");
            info.meta = f.meta("meta");
            if (f.error)
                error = f.error;
            else
                peers.push_back(std::move(info));
        }
        return peers;
    }

    void fail(const char* name, const char* expected, JsonNode* got)
    {
        if (error)
            return;
        std::string what = expected;
        what += got ? std::string(", got ") + json_kind(got) : std::string(", but it is missing");
        error = ParseError {qualify(name), what};
    }

    std::string qualify(const char* name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

private:
    JsonNode* member(const char* name) const
    {
        return object_ && json_object_has_member(object_, name) ? json_object_get_member(object_, name) : nullptr;
    }
    static bool is_string(JsonNode* node)
    {
        return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
    }

    JsonObject* object_;
    std::string prefix_;
};

// Parses text to a JSON object and reads its "type".
struct Envelope {
    GRef<JsonNode> root;
    JsonObject* object = nullptr;
    std::string type;
};

Parsed<Envelope> open_envelope(std::string_view text)
{
    if (std::optional<std::string> expected = refuse_before_parsing(text))
        return ParseError {"(json)", std::move(*expected)};
    GRef<JsonParser> parser = adopt_ref(json_parser_new_immutable());
    GErrorPtr error;
    if (!json_parser_load_from_data(parser.get(), text.data(), static_cast<gssize>(text.size()), GErrorOut(error)))
        return ParseError {"(json)", std::string("valid JSON (") + (error ? error->message : "parse failed") + ")"};
    Envelope env;
    JsonNode* root = json_parser_get_root(parser.get());
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return ParseError {"(message)", std::string("a JSON object, got ") + (root ? json_kind(root) : "nothing")};
    env.root = take_ref(root);
    env.object = json_node_get_object(root);
    Fields f(env.object);
    env.type = f.string("type");
    if (f.error)
        return *f.error;
    return env;
}

Parsed<Peer> read_peer(Fields& f)
{
    Peer peer;
    peer.session_id = f.string("sessionId");
    bool has_sdp = f.has("sdp");
    bool has_ice = f.has("ice");
    if (!f.error && has_sdp == has_ice)
        return ParseError {"sdp|ice", "exactly one of \"sdp\" and \"ice\""};
    if (has_sdp) {
        JsonObject* sdp_object = f.object("sdp", true);
        if (!f.error) {
            Fields s(sdp_object, "sdp");
            std::string type = s.string("type");
            Sdp sdp;
            sdp.sdp = s.string("sdp");
            if (!s.error) {
                if (type == "offer")
                    sdp.type = Sdp::Type::Offer;
                else if (type == "answer")
                    sdp.type = Sdp::Type::Answer;
                else
                    return ParseError {"sdp.type", "one of \"offer\", \"answer\", got \"" + type + "\""};
            }
            if (s.error)
                return *s.error;
            peer.payload = std::move(sdp);
        }
    } else {
        JsonObject* ice_object = f.object("ice", true);
        if (!f.error) {
            Fields i(ice_object, "ice");
            Ice ice;
            ice.candidate = i.string("candidate");
            ice.sdp_mline_index = i.uint32("sdpMLineIndex");
            ice.sdp_mid = i.optional_string("sdpMid");
            if (i.error)
                return *i.error;
            peer.payload = std::move(ice);
        }
    }
    if (f.error)
        return *f.error;
    return peer;
}

// The messages both sides send the same way: peer, endSession,
// endSessionV1_1. Nothing when `type` is another one.
using SharedMessage = std::variant<Peer, EndSession, EndSessionV1_1>;

std::optional<Parsed<SharedMessage>> read_shared(const std::string& type, Fields& f)
{
    if (type == "peer") {
        Parsed<Peer> peer = read_peer(f);
        if (!peer)
            return Parsed<SharedMessage>(peer.error());
        return Parsed<SharedMessage>(SharedMessage(std::move(peer.value())));
    }
    if (type == "endSession")
        return Parsed<SharedMessage>(SharedMessage(EndSession {f.string("sessionId")}));
    if (type == "endSessionV1_1") {
        EndSessionV1_1 m;
        m.session_id = f.string("sessionId");
        m.error = f.optional_string("error");
        return Parsed<SharedMessage>(SharedMessage(std::move(m)));
    }
    return std::nullopt;
}

ParseError unknown_type(const std::string& type, const char* known)
{
    return ParseError {"type", std::string("one of ") + known + ", got \"" + type + "\""};
}

// ---- serialising ----------------------------------------------------------

class Writer {
public:
    explicit Writer(const char* type) : object_(adopt_ref(json_object_new())) { string("type", type); }

    Writer& string(const char* name, const std::string& value)
    {
        json_object_set_string_member(object_.get(), name, value.c_str());
        return *this;
    }
    Writer& optional_string(const char* name, const std::optional<std::string>& value)
    {
        if (value)
            return string(name, *value);
        json_object_set_null_member(object_.get(), name);
        return *this;
    }
    Writer& json(const char* name, const Json& value)
    {
        json_object_set_member(object_.get(), name,
                               value.is_null() ? json_node_new(JSON_NODE_NULL) : json_node_copy(value.node()));
        return *this;
    }
    Writer& roles(const std::vector<Role>& roles)
    {
        JsonArray* array = json_array_new();
        for (Role r : roles)
            json_array_add_string_element(array, to_string(r));
        json_object_set_array_member(object_.get(), "roles", array);
        return *this;
    }
    Writer& peers(const char* name, const std::vector<PeerInfo>& peers)
    {
        JsonArray* array = json_array_new();
        for (const PeerInfo& p : peers) {
            JsonObject* o = json_object_new();
            json_object_set_string_member(o, "id", p.id.c_str());
            json_object_set_member(o, "meta", p.meta.is_null() ? json_node_new(JSON_NODE_NULL) : json_node_copy(p.meta.node()));
            json_array_add_object_element(array, o);
        }
        json_object_set_array_member(object_.get(), name, array);
        return *this;
    }
    std::string text() const
    {
        GRef<JsonNode> node = adopt_ref(json_node_new(JSON_NODE_OBJECT));
        json_node_set_object(node.get(), object_.get());
        GCharPtr text(json_to_string(node.get(), FALSE));
        return text.get();
    }

private:
    GRef<JsonObject> object_;
};

} // namespace

const char* to_string(Version v)
{
    return v == Version::V1_1 ? "v1_1" : "v1_0";
}

const char* to_string(Role r)
{
    for (auto& [role, text] : kRoles) {
        if (role == r)
            return text;
    }
    return "?";
}

Json Json::adopt(JsonNode* node)
{
    Json j;
    if (node && !JSON_NODE_HOLDS_NULL(node))
        j.node_ = adopt_ref(node);
    else if (node)
        json_node_unref(node);
    return j;
}

std::optional<Json> Json::parse(std::string_view text)
{
    if (refuse_before_parsing(text))
        return std::nullopt;
    GRef<JsonParser> parser = adopt_ref(json_parser_new_immutable());
    if (!json_parser_load_from_data(parser.get(), text.data(), static_cast<gssize>(text.size()), nullptr))
        return std::nullopt;
    JsonNode* root = json_parser_get_root(parser.get());
    if (!root)
        return std::nullopt;
    return adopt(json_node_copy(root));
}

Json Json::object(JsonObject* object)
{
    JsonNode* node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    return adopt(node);
}

std::optional<std::string> Json::string_member(const char* name) const
{
    if (!node_ || !JSON_NODE_HOLDS_OBJECT(node_.get()))
        return std::nullopt;
    JsonObject* o = json_node_get_object(node_.get());
    if (!json_object_has_member(o, name))
        return std::nullopt;
    JsonNode* m = json_object_get_member(o, name);
    if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_STRING)
        return std::nullopt;
    return std::string(json_node_get_string(m));
}

std::string Json::to_string() const
{
    if (!node_)
        return "null";
    GCharPtr text(json_to_string(node_.get(), FALSE));
    return text.get();
}

bool Json::operator==(const Json& other) const
{
    if (!node_ || !other.node_)
        return !node_ && !other.node_;
    return json_node_equal(node_.get(), other.node_.get());
}

std::string ParseError::message() const
{
    if (field.empty() || field[0] == '(')
        return "invalid message: expected " + expected;
    return "invalid message: field \"" + field + "\": expected " + expected;
}

Parsed<ClientMessage> parse_client_message(std::string_view text)
{
    if (std::optional<Peer> peer = read_plain_peer(text))
        return ClientMessage(std::move(*peer));
    return parse_client_message_with_json_glib(text);
}

Parsed<ClientMessage> parse_client_message_with_json_glib(std::string_view text)
{
    Parsed<Envelope> env = open_envelope(text);
    if (!env)
        return env.error();
    const std::string& type = env.value().type;
    Fields f(env.value().object);
    ClientMessage message;
    if (type == "setProtocolVersion") {
        std::string v = f.string("version");
        if (f.error)
            return *f.error;
        if (v == "v1_0")
            message = SetProtocolVersion {Version::V1_0};
        else if (v == "v1_1")
            message = SetProtocolVersion {Version::V1_1};
        else
            return ParseError {"version", "one of \"v1_0\", \"v1_1\", got \"" + v + "\""};
    } else if (type == "setPeerStatus") {
        SetPeerStatus m;
        m.roles = f.roles("roles");
        m.meta = f.meta("meta");
        message = std::move(m);
    } else if (type == "startSession") {
        StartSessionRequest m;
        m.peer_id = f.string("peerId");
        m.offer = f.optional_string("offer");
        message = std::move(m);
    } else if (auto shared = read_shared(type, f)) {
        if (!*shared)
            return shared->error();
        std::visit([&message](auto&& m) { message = std::move(m); }, shared->value());
    } else if (type == "list") {
        message = ListRequest {};
    } else if (type == "listConsumers") {
        message = ListConsumersRequest {};
    } else {
        return unknown_type(type,
                            "\"setProtocolVersion\", \"setPeerStatus\", \"startSession\", \"peer\", "
                            "\"endSession\", \"endSessionV1_1\", \"list\", \"listConsumers\"");
    }
    if (f.error)
        return *f.error;
    return message;
}

Parsed<ServerMessage> parse_server_message(std::string_view text)
{
    if (std::optional<Peer> peer = read_plain_peer(text))
        return ServerMessage(std::move(*peer));
    return parse_server_message_with_json_glib(text);
}

Parsed<ServerMessage> parse_server_message_with_json_glib(std::string_view text)
{
    Parsed<Envelope> env = open_envelope(text);
    if (!env)
        return env.error();
    const std::string& type = env.value().type;
    Fields f(env.value().object);
    ServerMessage message;
    if (type == "welcome") {
        message = Welcome {f.string("peerId")};
    } else if (type == "peerStatusChanged") {
        PeerStatusChanged m;
        m.peer_id = f.string("peerId");
        m.roles = f.roles("roles");
        m.meta = f.meta("meta");
        message = std::move(m);
    } else if (type == "sessionStarted") {
        SessionStarted m;
        m.peer_id = f.string("peerId");
        m.session_id = f.string("sessionId");
        message = std::move(m);
    } else if (type == "startSession") {
        StartSession m;
        m.peer_id = f.string("peerId");
        m.session_id = f.string("sessionId");
        m.offer = f.optional_string("offer");
        message = std::move(m);
    } else if (auto shared = read_shared(type, f)) {
        if (!*shared)
            return shared->error();
        std::visit([&message](auto&& m) { message = std::move(m); }, shared->value());
    } else if (type == "list") {
        message = List {f.peers("producers")};
    } else if (type == "listConsumers") {
        message = ListConsumers {f.peers("consumers")};
    } else if (type == "error") {
        message = Error {f.string("details")};
    } else {
        return unknown_type(type,
                            "\"welcome\", \"peerStatusChanged\", \"sessionStarted\", \"startSession\", \"peer\", "
                            "\"endSession\", \"endSessionV1_1\", \"list\", \"listConsumers\", \"error\"");
    }
    if (f.error)
        return *f.error;
    return message;
}

std::string serialize(const ClientMessage& message)
{
    return std::visit(
        Overloaded {
            [](const SetProtocolVersion& m) {
                return Writer("setProtocolVersion").string("version", to_string(m.version)).text();
            },
            [](const SetPeerStatus& m) { return Writer("setPeerStatus").roles(m.roles).json("meta", m.meta).text(); },
            [](const StartSessionRequest& m) {
                Writer w("startSession");
                w.string("peerId", m.peer_id);
                if (m.offer)
                    w.string("offer", *m.offer);
                return w.text();
            },
            [](const Peer& m) { return write_peer(m); },
            [](const EndSession& m) { return Writer("endSession").string("sessionId", m.session_id).text(); },
            [](const EndSessionV1_1& m) {
                return Writer("endSessionV1_1").string("sessionId", m.session_id).optional_string("error", m.error).text();
            },
            [](const ListRequest&) { return Writer("list").text(); },
            [](const ListConsumersRequest&) { return Writer("listConsumers").text(); },
        },
        message);
}

std::string serialize(const ServerMessage& message)
{
    return std::visit(
        Overloaded {
            [](const Welcome& m) { return Writer("welcome").string("peerId", m.peer_id).text(); },
            [](const PeerStatusChanged& m) {
                return Writer("peerStatusChanged").string("peerId", m.peer_id).roles(m.roles).json("meta", m.meta).text();
            },
            [](const SessionStarted& m) {
                return Writer("sessionStarted").string("peerId", m.peer_id).string("sessionId", m.session_id).text();
            },
            [](const StartSession& m) {
                return Writer("startSession")
                    .string("peerId", m.peer_id)
                    .string("sessionId", m.session_id)
                    .optional_string("offer", m.offer)
                    .text();
            },
            [](const Peer& m) { return write_peer(m); },
            [](const EndSession& m) { return Writer("endSession").string("sessionId", m.session_id).text(); },
            [](const EndSessionV1_1& m) {
                return Writer("endSessionV1_1").string("sessionId", m.session_id).optional_string("error", m.error).text();
            },
            [](const List& m) { return Writer("list").peers("producers", m.producers).text(); },
            [](const ListConsumers& m) { return Writer("listConsumers").peers("consumers", m.consumers).text(); },
            [](const Error& m) { return Writer("error").string("details", m.details).text(); },
        },
        message);
}

const char* type_name(const ClientMessage& message)
{
    static constexpr const char* names[] = {"setProtocolVersion", "setPeerStatus", "startSession", "peer",
                                            "endSession", "endSessionV1_1", "list", "listConsumers"};
    return names[message.index()];
}

const char* type_name(const ServerMessage& message)
{
    static constexpr const char* names[] = {"welcome", "peerStatusChanged", "sessionStarted", "startSession", "peer",
                                            "endSession", "endSessionV1_1", "list", "listConsumers", "error"};
    return names[message.index()];
}

} // namespace signalbin::protocol
