// Unit tests of signalbin::protocol: every message round-trips in both
// directions, the wire examples of the protocol parse to the right fields,
// and every kind of bad input gives a ParseError naming the field (never a
// crash), including a bounded run of mutated messages. The fast path for
// `peer` messages is held to json-glib's answers on all of those inputs.
#include "peer-json.h"
#include "protocol.h"

#include <gst/check/gstcheck.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace signalbin::protocol;

// Compares two std::string values (ck_assert_str_eq would keep a pointer into
// a temporary).
#define assert_strings_equal(a, b)                                                                          \
    do {                                                                                                    \
        const std::string actual_ = (a);                                                                    \
        const std::string wanted_ = (b);                                                                    \
        fail_unless(actual_ == wanted_, "%s is \"%s\", expected \"%s\"", #a, actual_.c_str(), wanted_.c_str()); \
    } while (0)

namespace {

Json json(const char* text)
{
    std::optional<Json> parsed = Json::parse(text);
    fail_unless(parsed.has_value(), "test JSON does not parse: %s", text);
    return *parsed;
}

using Payload = std::variant<Sdp, Ice>;

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

std::string describe(const ParseError& e)
{
    return "field \"" + e.field + "\", expected \"" + e.expected + "\"";
}

void check_client_round_trip(const ClientMessage& message, const char* type)
{
    assert_strings_equal(type_name(message), type);
    std::string text = serialize(message);
    Parsed<ClientMessage> parsed = parse_client_message(text);
    fail_unless(parsed.ok(), "serialised %s does not parse back: %s (%s)", type, text.c_str(),
                describe(parsed.error()).c_str());
    fail_unless(parsed.value() == message, "%s changed in a round trip: %s became %s", type, text.c_str(),
                serialize(parsed.value()).c_str());
    assert_strings_equal(serialize(parsed.value()), text);
    // The type field is on the wire under its protocol name.
    std::optional<Json> raw = Json::parse(text);
    fail_unless(raw && raw->string_member("type") == std::string(type), "%s has the wrong type field: %s", type,
                text.c_str());
}

void check_server_round_trip(const ServerMessage& message, const char* type)
{
    assert_strings_equal(type_name(message), type);
    std::string text = serialize(message);
    Parsed<ServerMessage> parsed = parse_server_message(text);
    fail_unless(parsed.ok(), "serialised %s does not parse back: %s (%s)", type, text.c_str(),
                describe(parsed.error()).c_str());
    fail_unless(parsed.value() == message, "%s changed in a round trip: %s became %s", type, text.c_str(),
                serialize(parsed.value()).c_str());
    assert_strings_equal(serialize(parsed.value()), text);
    std::optional<Json> raw = Json::parse(text);
    fail_unless(raw && raw->string_member("type") == std::string(type), "%s has the wrong type field: %s", type,
                text.c_str());
}

template <typename T>
T client_as(const std::string& text)
{
    Parsed<ClientMessage> parsed = parse_client_message(text);
    fail_unless(parsed.ok(), "client message does not parse: %s (%s)", text.c_str(),
                parsed.ok() ? "" : describe(parsed.error()).c_str());
    const T* message = std::get_if<T>(&parsed.value());
    fail_unless(message != nullptr, "client message parsed as %s: %s", type_name(parsed.value()), text.c_str());
    return *message;
}

template <typename T>
T server_as(const std::string& text)
{
    Parsed<ServerMessage> parsed = parse_server_message(text);
    fail_unless(parsed.ok(), "server message does not parse: %s (%s)", text.c_str(),
                parsed.ok() ? "" : describe(parsed.error()).c_str());
    const T* message = std::get_if<T>(&parsed.value());
    fail_unless(message != nullptr, "server message parsed as %s: %s", type_name(parsed.value()), text.c_str());
    return *message;
}

void check_error(const char* direction, std::string_view text, bool ok, const ParseError* error, const char* field,
                 const char* expected_part)
{
    std::string shown(text.substr(0, 200));
    fail_unless(!ok, "%s parser accepted bad input: %s", direction, shown.c_str());
    fail_unless(error->field == field, "%s parser: wrong field for %s: %s (wanted field \"%s\")", direction,
                shown.c_str(), describe(*error).c_str(), field);
    fail_unless(contains(error->expected, expected_part), "%s parser: for %s: %s does not say \"%s\"", direction,
                shown.c_str(), describe(*error).c_str(), expected_part);
}

void expect_client_error(std::string_view text, const char* field, const char* expected_part)
{
    Parsed<ClientMessage> parsed = parse_client_message(text);
    check_error("client", text, parsed.ok(), parsed.ok() ? nullptr : &parsed.error(), field, expected_part);
}

void expect_server_error(std::string_view text, const char* field, const char* expected_part)
{
    Parsed<ServerMessage> parsed = parse_server_message(text);
    check_error("server", text, parsed.ok(), parsed.ok() ? nullptr : &parsed.error(), field, expected_part);
}

void expect_both_error(std::string_view text, const char* field, const char* expected_part)
{
    expect_client_error(text, field, expected_part);
    expect_server_error(text, field, expected_part);
}

} // namespace

// ---- round trips ------------------------------------------------------------

GST_START_TEST(test_client_round_trip)
{
    check_client_round_trip(SetProtocolVersion {Version::V1_0}, "setProtocolVersion");
    check_client_round_trip(SetProtocolVersion {Version::V1_1}, "setProtocolVersion");

    const std::vector<std::vector<Role>> role_sets {
        {},
        {Role::Producer},
        {Role::Listener},
        {Role::Consumer},
        {Role::Producer, Role::Listener},
        {Role::Listener, Role::Consumer},
        {Role::Producer, Role::Listener, Role::Consumer},
    };
    for (const auto& roles : role_sets) {
        check_client_round_trip(SetPeerStatus {roles, Json()}, "setPeerStatus");
        check_client_round_trip(SetPeerStatus {roles, json(R"({"name":"cam","n":3,"tags":["a",{"b":null}]})")},
                                "setPeerStatus");
    }
    check_client_round_trip(SetPeerStatus {{Role::Producer}, json("{}")}, "setPeerStatus");

    check_client_round_trip(StartSessionRequest {"producer-1", std::nullopt}, "startSession");
    check_client_round_trip(StartSessionRequest {"producer-1", std::string("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n")},
                            "startSession");

    check_client_round_trip(Peer {"S1", Sdp {Sdp::Type::Offer, "v=0\r\ns=offer\r\n"}}, "peer");
    check_client_round_trip(Peer {"S1", Sdp {Sdp::Type::Answer, "v=0\r\ns=answer\r\n"}}, "peer");
    check_client_round_trip(Peer {"S1", Ice {"candidate:1 1 UDP 2122252543 10.0.0.1 40000 typ host", 0, std::nullopt}},
                            "peer");
    check_client_round_trip(Peer {"S1", Ice {"candidate:2 1 TCP 1 10.0.0.1 9 typ host", 4294967295u, std::string("0")}},
                            "peer");
    check_client_round_trip(Peer {"S1", Ice {"", 7, std::string("video")}}, "peer");

    check_client_round_trip(EndSession {"S1"}, "endSession");
    check_client_round_trip(EndSessionV1_1 {"S1", std::string("pipeline error")}, "endSessionV1_1");
    check_client_round_trip(EndSessionV1_1 {"S1", std::nullopt}, "endSessionV1_1");
    check_client_round_trip(ListRequest {}, "list");
    check_client_round_trip(ListConsumersRequest {}, "listConsumers");
}
GST_END_TEST;

GST_START_TEST(test_server_round_trip)
{
    check_server_round_trip(Welcome {"3f1c2d6e-0000-4000-8000-000000000001"}, "welcome");
    check_server_round_trip(PeerStatusChanged {"P1", {Role::Producer}, json(R"({"name":"cam"})")},
                            "peerStatusChanged");
    check_server_round_trip(PeerStatusChanged {"P1", {}, Json()}, "peerStatusChanged");
    check_server_round_trip(PeerStatusChanged {"P1", {Role::Listener, Role::Consumer}, Json()}, "peerStatusChanged");
    check_server_round_trip(SessionStarted {"P1", "S1"}, "sessionStarted");
    check_server_round_trip(StartSession {"C1", "S1", std::nullopt}, "startSession");
    check_server_round_trip(StartSession {"C1", "S1", std::string("v=0\r\n")}, "startSession");
    check_server_round_trip(Peer {"S1", Sdp {Sdp::Type::Offer, "v=0\r\n"}}, "peer");
    check_server_round_trip(Peer {"S1", Sdp {Sdp::Type::Answer, "v=0\r\n"}}, "peer");
    check_server_round_trip(Peer {"S1", Ice {"candidate:1", 1, std::nullopt}}, "peer");
    check_server_round_trip(Peer {"S1", Ice {"candidate:1", 1, std::string("audio")}}, "peer");
    check_server_round_trip(EndSession {"S1"}, "endSession");
    check_server_round_trip(EndSessionV1_1 {"S1", std::string("consumer went away")}, "endSessionV1_1");
    check_server_round_trip(EndSessionV1_1 {"S1", std::nullopt}, "endSessionV1_1");
    check_server_round_trip(List {}, "list");
    check_server_round_trip(List {{PeerInfo {"P1", json(R"({"name":"cam","nested":{"deep":[1,2,3]}})")},
                                   PeerInfo {"P2", Json()}}},
                            "list");
    check_server_round_trip(ListConsumers {}, "listConsumers");
    check_server_round_trip(ListConsumers {{PeerInfo {"C1", Json()}, PeerInfo {"C2", json(R"({"who":"me"})")}}},
                            "listConsumers");
    check_server_round_trip(Error {"human-readable reason"}, "error");
    check_server_round_trip(Error {""}, "error");
}
GST_END_TEST;

GST_START_TEST(test_unicode_and_escapes_round_trip)
{
    // Quotes, backslashes, control characters and non-ASCII text survive.
    std::string tricky = "a \"quoted\" \\ back\\slash\n\t\x01 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xa5 ]}[{";
    check_client_round_trip(EndSessionV1_1 {tricky, tricky}, "endSessionV1_1");
    check_server_round_trip(Error {tricky}, "error");
    check_server_round_trip(PeerStatusChanged {tricky, {Role::Producer}, Json()}, "peerStatusChanged");
}
GST_END_TEST;

// ---- the wire format as documented -----------------------------------------

GST_START_TEST(test_parse_documented_client_messages)
{
    auto version = client_as<SetProtocolVersion>(R"({"type":"setProtocolVersion","version":"v1_1"})");
    fail_unless(version.version == Version::V1_1, "version is not v1_1");
    version = client_as<SetProtocolVersion>(R"({"type":"setProtocolVersion","version":"v1_0"})");
    fail_unless(version.version == Version::V1_0, "version is not v1_0");

    auto status = client_as<SetPeerStatus>(R"({"type":"setPeerStatus","roles":["producer"],"meta":{"name":"cam"}})");
    fail_unless((status.roles == std::vector<Role> {Role::Producer}), "roles are not [producer]");
    fail_unless(status.meta.string_member("name") == std::string("cam"), "meta.name is not cam: %s",
                status.meta.to_string().c_str());

    // A peerId in setPeerStatus may be there; it is not part of the message.
    status = client_as<SetPeerStatus>(
        R"({"type":"setPeerStatus","peerId":"whatever","roles":["listener","consumer"]})");
    fail_unless((status.roles == std::vector<Role> {Role::Listener, Role::Consumer}),
                "roles are not [listener, consumer]");
    fail_unless(status.meta.is_null(), "absent meta is not null: %s", status.meta.to_string().c_str());
    status = client_as<SetPeerStatus>(R"({"type":"setPeerStatus","roles":[],"meta":null})");
    fail_unless(status.roles.empty() && status.meta.is_null(), "roles [] / meta null not read as such");

    auto start = client_as<StartSessionRequest>(R"({"type":"startSession","peerId":"<producer id>"})");
    assert_strings_equal(start.peer_id, "<producer id>");
    fail_unless(!start.offer, "startSession without offer has one");
    start = client_as<StartSessionRequest>(R"({"type":"startSession","peerId":"P","offer":"v=0..."})");
    fail_unless(start.offer == std::string("v=0..."), "offer not read");
    start = client_as<StartSessionRequest>(R"({"type":"startSession","peerId":"P","offer":null})");
    fail_unless(!start.offer, "offer null is not nullopt");

    auto peer = client_as<Peer>(R"({"type":"peer","sessionId":"S","sdp":{"type":"offer","sdp":"v=0..."}})");
    assert_strings_equal(peer.session_id, "S");
    fail_unless((peer.payload == Payload(Sdp {Sdp::Type::Offer, "v=0..."})), "sdp offer not read");
    peer = client_as<Peer>(R"({"type":"peer","sessionId":"S","sdp":{"type":"answer","sdp":"v=0..."}})");
    fail_unless((peer.payload == Payload(Sdp {Sdp::Type::Answer, "v=0..."})), "sdp answer not read");
    peer = client_as<Peer>(R"({"type":"peer","sessionId":"S","ice":{"candidate":"candidate:...","sdpMLineIndex":0}})");
    fail_unless((peer.payload == Payload(Ice {"candidate:...", 0, std::nullopt})), "ice not read");

    // What a browser (gstwebrtc-api) sends: RTCIceCandidate.toJSON() with
    // sdpMid and usernameFragment, and a listener registration.
    peer = client_as<Peer>(
        R"({"type":"peer","sessionId":"b3e1","ice":{"candidate":"candidate:842163049 1 udp 1677729535 1.2.3.4 )"
        R"(46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXJ3 network-cost 999","sdpMid":"0",)"
        R"("sdpMLineIndex":0,"usernameFragment":"sXJ3"}})");
    const Ice* ice = std::get_if<Ice>(&peer.payload);
    fail_unless(ice != nullptr, "browser ICE not read as ice");
    fail_unless(ice->sdp_mid == std::string("0"), "sdpMid not read");
    fail_unless(ice->sdp_mline_index == 0, "sdpMLineIndex not 0");
    fail_unless(contains(ice->candidate, "typ srflx"), "candidate not read: %s", ice->candidate.c_str());
    peer = client_as<Peer>(
        R"({"type":"peer","sessionId":"S","ice":{"candidate":"c","sdpMLineIndex":1,"sdpMid":null}})");
    fail_unless(std::get<Ice>(peer.payload).sdp_mid == std::nullopt, "sdpMid null is not nullopt");
    status = client_as<SetPeerStatus>(
        R"({"type":"setPeerStatus","roles":["listener"],"meta":{"name":"WebClient-1700000000000"}})");
    fail_unless((status.roles == std::vector<Role> {Role::Listener}), "browser roles are not [listener]");

    auto end = client_as<EndSession>(R"({"type":"endSession","sessionId":"S"})");
    assert_strings_equal(end.session_id, "S");
    auto end11 = client_as<EndSessionV1_1>(R"({"type":"endSessionV1_1","sessionId":"S","error":"why, or null"})");
    fail_unless(end11.session_id == "S" && end11.error == std::string("why, or null"), "endSessionV1_1 not read");
    end11 = client_as<EndSessionV1_1>(R"({"type":"endSessionV1_1","sessionId":"S","error":null})");
    fail_unless(!end11.error, "error null is not nullopt");
    end11 = client_as<EndSessionV1_1>(R"({"type":"endSessionV1_1","sessionId":"S"})");
    fail_unless(!end11.error, "absent error is not nullopt");

    client_as<ListRequest>(R"({"type":"list"})");
    client_as<ListConsumersRequest>(R"({"type":"listConsumers"})");
}
GST_END_TEST;

GST_START_TEST(test_parse_documented_server_messages)
{
    assert_strings_equal(server_as<Welcome>(R"({"type":"welcome","peerId":"P1"})").peer_id, "P1");

    auto status = server_as<PeerStatusChanged>(
        R"({"type":"peerStatusChanged","peerId":"P1","roles":["producer"],"meta":{"name":"cam"}})");
    fail_unless((status == PeerStatusChanged {"P1", {Role::Producer}, json(R"({"name":"cam"})")}),
                "peerStatusChanged not read: %s", serialize(ServerMessage(status)).c_str());

    auto started = server_as<SessionStarted>(R"({"type":"sessionStarted","peerId":"P1","sessionId":"S1"})");
    fail_unless((started == SessionStarted {"P1", "S1"}), "sessionStarted not read");

    auto start = server_as<StartSession>(R"({"type":"startSession","peerId":"C1","sessionId":"S1","offer":null})");
    fail_unless((start == StartSession {"C1", "S1", std::nullopt}), "startSession with offer null not read");
    start = server_as<StartSession>(R"({"type":"startSession","peerId":"C1","sessionId":"S1"})");
    fail_unless((start == StartSession {"C1", "S1", std::nullopt}), "startSession without offer not read");
    start = server_as<StartSession>(R"({"type":"startSession","peerId":"C1","sessionId":"S1","offer":"v=0"})");
    fail_unless((start == StartSession {"C1", "S1", std::string("v=0")}), "startSession with offer not read");

    auto peer = server_as<Peer>(R"({"type":"peer","sessionId":"S1","sdp":{"type":"offer","sdp":"v=0..."}})");
    fail_unless((peer == Peer {"S1", Sdp {Sdp::Type::Offer, "v=0..."}}), "peer sdp not read");
    peer = server_as<Peer>(R"({"type":"peer","sessionId":"S1","ice":{"candidate":"...","sdpMLineIndex":0}})");
    fail_unless((peer == Peer {"S1", Ice {"...", 0, std::nullopt}}), "peer ice not read");

    fail_unless((server_as<EndSession>(R"({"type":"endSession","sessionId":"S1"})") == EndSession {"S1"}),
                "endSession not read");
    fail_unless((server_as<EndSessionV1_1>(R"({"type":"endSessionV1_1","sessionId":"S1","error":null})") ==
                    EndSessionV1_1 {"S1", std::nullopt}),
                "endSessionV1_1 not read");

    auto list = server_as<List>(R"({"type":"list","producers":[{"id":"P1","meta":{"name":"cam"}}]})");
    fail_unless((list == List {{PeerInfo {"P1", json(R"({"name":"cam"})")}}}), "list not read: %s",
                serialize(ServerMessage(list)).c_str());
    list = server_as<List>(R"({"type":"list","producers":[{"id":"P1"}]})");
    fail_unless(list.producers.size() == 1 && list.producers[0].meta.is_null(), "absent meta in list not null");
    auto consumers = server_as<ListConsumers>(R"({"type":"listConsumers","consumers":[{"id":"C1","meta":null}]})");
    fail_unless((consumers == ListConsumers {{PeerInfo {"C1", Json()}}}), "listConsumers not read");

    assert_strings_equal(server_as<Error>(R"({"type":"error","details":"human-readable reason"})").details,
                     "human-readable reason");
}
GST_END_TEST;

GST_START_TEST(test_unknown_fields_ignored)
{
    auto start = client_as<StartSessionRequest>(
        R"({"x-extra":{"a":[1,2,{"b":null}]},"type":"startSession","peerId":"P","future":true,"n":1.5})");
    fail_unless((start == StartSessionRequest {"P", std::nullopt}), "extra fields changed startSession");
    auto sdp = client_as<Peer>(
        R"({"type":"peer","sessionId":"S","sdp":{"type":"offer","sdp":"v=0","extra":1},"more":[]})");
    fail_unless((sdp == Peer {"S", Sdp {Sdp::Type::Offer, "v=0"}}), "extra fields changed peer");
    client_as<ListRequest>(R"({"type":"list","filter":"ignored"})");
    auto list = server_as<List>(R"({"type":"list","producers":[{"id":"P1","meta":null,"since":5}],"total":1})");
    fail_unless((list == List {{PeerInfo {"P1", Json()}}}), "extra fields changed list");
    auto welcome = server_as<Welcome>(R"({"type":"welcome","peerId":"P1","serverVersion":"9.9"})");
    assert_strings_equal(welcome.peer_id, "P1");
    // Whitespace between tokens is fine.
    auto end = client_as<EndSession>(" {\n\t\"type\" : \"endSession\" ,\r\n \"sessionId\" : \"S\" } \n");
    assert_strings_equal(end.session_id, "S");
}
GST_END_TEST;

// ---- bad input --------------------------------------------------------------

GST_START_TEST(test_not_json_or_not_object)
{
    expect_both_error("{", "(json)", "valid JSON");
    expect_both_error("not json at all", "(json)", "valid JSON");
    expect_both_error(R"({"type":"list",})", "(json)", "valid JSON");
    expect_both_error(R"({"type":"list"} trailing)", "(json)", "valid JSON");
    // One message per frame: a second value must not be dropped in silence.
    expect_both_error(R"({"type":"list"}{"type":"list"})", "(json)", "nothing after it");
    expect_both_error(R"({"type":"list"} {"type":"endSession","sessionId":"S"})", "(json)", "nothing after it");
    expect_both_error(R"({"type":"list"}[])", "(json)", "nothing after it");
    expect_both_error(R"({"type":"list"}"x")", "(json)", "nothing after it");
    expect_both_error(R"({"type":"list"}})", "(json)", "nothing after it");
    client_as<ListRequest>(" {\"type\":\"list\"} \r\n\t ");
    expect_both_error(R"({type:"list"})", "(json)", "valid JSON");
    expect_both_error("", "(message)", "a JSON object, got nothing");
    expect_both_error("   \n ", "(message)", "a JSON object, got nothing");
    expect_both_error("[]", "(message)", "a JSON object, got an array");
    expect_both_error(R"([{"type":"list"}])", "(message)", "a JSON object, got an array");
    expect_both_error(R"("list")", "(message)", "a JSON object, got a string");
    expect_both_error("42", "(message)", "a JSON object, got a number");
    expect_both_error("-1.5e3", "(message)", "a JSON object, got a number");
    expect_both_error("true", "(message)", "a JSON object, got a boolean");
    expect_both_error("null", "(message)", "a JSON object, got null");
}
GST_END_TEST;

GST_START_TEST(test_bad_type)
{
    expect_both_error("{}", "type", "a string, but it is missing");
    expect_both_error(R"({"peerId":"P"})", "type", "a string, but it is missing");
    expect_both_error(R"({"type":5})", "type", "a string, got a number");
    expect_both_error(R"({"type":null})", "type", "a string, got null");
    expect_both_error(R"({"type":["list"]})", "type", "a string, got an array");
    expect_both_error(R"({"type":{"name":"list"}})", "type", "a string, got an object");
    expect_both_error(R"({"type":true})", "type", "a string, got a boolean");
    expect_both_error(R"({"type":"bogus"})", "type", "got \"bogus\"");
    expect_both_error(R"({"type":""})", "type", "got \"\"");
    expect_both_error(R"({"type":"List"})", "type", "got \"List\"");
    // Each direction only knows its own messages.
    expect_client_error(R"({"type":"welcome","peerId":"P1"})", "type", "\"setPeerStatus\"");
    expect_client_error(R"({"type":"error","details":"x"})", "type", "got \"error\"");
    expect_server_error(R"({"type":"setPeerStatus","roles":[]})", "type", "\"welcome\"");
    expect_server_error(R"({"type":"setProtocolVersion","version":"v1_1"})", "type", "got \"setProtocolVersion\"");
}
GST_END_TEST;

GST_START_TEST(test_missing_required_fields)
{
    // Client direction.
    expect_client_error(R"({"type":"setProtocolVersion"})", "version", "a string, but it is missing");
    expect_client_error(R"({"type":"setPeerStatus"})", "roles", "an array, but it is missing");
    expect_client_error(R"({"type":"setPeerStatus","meta":{}})", "roles", "an array, but it is missing");
    expect_client_error(R"({"type":"startSession"})", "peerId", "a string, but it is missing");
    expect_client_error(R"({"type":"startSession","offer":"v=0"})", "peerId", "a string, but it is missing");
    expect_client_error(R"({"type":"endSession"})", "sessionId", "a string, but it is missing");
    expect_client_error(R"({"type":"endSessionV1_1","error":"x"})", "sessionId", "a string, but it is missing");
    expect_client_error(R"({"type":"peer","sdp":{"type":"offer","sdp":"v=0"}})",
                        "sessionId", "a string, but it is missing");
    expect_client_error(R"({"type":"peer"})", "sessionId", "a string, but it is missing");

    // Both directions share `peer` and `endSession`.
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"type":"offer"}})",
                      "sdp.sdp", "a string, but it is missing");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"sdp":"v=0"}})",
                      "sdp.type", "a string, but it is missing");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{}})", "sdp.type", "a string, but it is missing");
    expect_both_error(R"({"type":"peer","sessionId":"S","ice":{"sdpMLineIndex":0}})", "ice.candidate",
                      "a string, but it is missing");
    expect_both_error(R"({"type":"peer","sessionId":"S","ice":{"candidate":"c"}})", "ice.sdpMLineIndex",
                      "a whole number from 0 to 4294967295, but it is missing");
    expect_both_error(R"({"type":"endSession","sessionId":null})", "sessionId", "a string, got null");

    // Server direction.
    expect_server_error(R"({"type":"welcome"})", "peerId", "a string, but it is missing");
    expect_server_error(R"({"type":"peerStatusChanged","roles":[]})", "peerId", "a string, but it is missing");
    expect_server_error(R"({"type":"peerStatusChanged","peerId":"P1"})", "roles", "an array, but it is missing");
    expect_server_error(R"({"type":"sessionStarted","peerId":"P1"})", "sessionId", "a string, but it is missing");
    expect_server_error(R"({"type":"sessionStarted","sessionId":"S1"})", "peerId", "a string, but it is missing");
    expect_server_error(R"({"type":"startSession","peerId":"C1"})", "sessionId", "a string, but it is missing");
    expect_server_error(R"({"type":"startSession","sessionId":"S1"})", "peerId", "a string, but it is missing");
    expect_server_error(R"({"type":"list"})", "producers", "an array, but it is missing");
    expect_server_error(R"({"type":"listConsumers"})", "consumers", "an array, but it is missing");
    expect_server_error(R"({"type":"list","producers":[{"meta":null}]})",
                        "producers[0].id", "a string, but it is missing");
    expect_server_error(R"({"type":"error"})", "details", "a string, but it is missing");
}
GST_END_TEST;

GST_START_TEST(test_wrong_field_types)
{
    expect_client_error(R"({"type":"setProtocolVersion","version":"v2"})", "version", "got \"v2\"");
    expect_client_error(R"({"type":"setProtocolVersion","version":1.1})", "version", "a string, got a number");
    expect_client_error(R"({"type":"setPeerStatus","roles":"producer"})", "roles", "an array, got a string");
    expect_client_error(R"({"type":"setPeerStatus","roles":{"producer":true}})", "roles", "an array, got an object");
    expect_client_error(R"({"type":"setPeerStatus","roles":null})", "roles", "an array, got null");
    expect_client_error(R"({"type":"setPeerStatus","roles":["producer","admin"]})", "roles[1]",
                        "one of \"producer\", \"listener\", \"consumer\", got a string");
    expect_client_error(R"({"type":"setPeerStatus","roles":["Producer"]})", "roles[0]", "\"producer\"");
    expect_client_error(R"({"type":"setPeerStatus","roles":[1]})", "roles[0]", "got a number");
    expect_client_error(R"({"type":"setPeerStatus","roles":[["producer"]]})", "roles[0]", "got an array");
    expect_client_error(R"({"type":"setPeerStatus","roles":[null]})", "roles[0]", "got null");
    expect_client_error(R"({"type":"setPeerStatus","roles":[],"meta":"cam"})",
                        "meta", "an object or null, got a string");
    expect_client_error(R"({"type":"setPeerStatus","roles":[],"meta":["cam"]})",
                        "meta", "an object or null, got an array");
    expect_client_error(R"({"type":"setPeerStatus","roles":[],"meta":7})", "meta", "an object or null, got a number");
    expect_server_error(R"({"type":"peerStatusChanged","peerId":"P","roles":["x"]})", "roles[0]", "\"listener\"");
    expect_server_error(R"({"type":"peerStatusChanged","peerId":"P","roles":[],"meta":"m"})", "meta",
                        "an object or null, got a string");
    expect_server_error(R"({"type":"list","producers":[{"id":"P","meta":"m"}]})", "producers[0].meta",
                        "an object or null, got a string");
    expect_server_error(R"({"type":"list","producers":[{"id":"P"},"P2"]})", "producers[1]", "an object, got a string");
    expect_server_error(R"({"type":"listConsumers","consumers":[{"id":5}]})",
                        "consumers[0].id", "a string, got a number");
    expect_server_error(R"({"type":"list","producers":{}})", "producers", "an array, got an object");

    expect_client_error(R"({"type":"startSession","peerId":7})", "peerId", "a string, got a number");
    expect_client_error(R"({"type":"startSession","peerId":"P","offer":5})", "offer", "a string or null, got a number");
    expect_client_error(R"({"type":"startSession","peerId":"P","offer":{"sdp":"v=0"}})", "offer",
                        "a string or null, got an object");
    expect_server_error(R"({"type":"startSession","peerId":"C","sessionId":"S","offer":5})", "offer",
                        "a string or null, got a number");
    expect_both_error(R"({"type":"endSessionV1_1","sessionId":"S","error":404})",
                      "error", "a string or null, got a number");
    expect_server_error(R"({"type":"error","details":{"code":1}})", "details", "a string, got an object");

    // sdpMLineIndex is a uint32.
    const char* range = "a whole number from 0 to 4294967295";
    for (const char* value : {"-1", "4294967296", "18446744073709551615", "99999999999999999999999", "0.5", "1.0",
                              "1e2", "\"0\"", "null", "true", "[0]"}) {
        std::string text = std::string(R"({"type":"peer","sessionId":"S","ice":{"candidate":"c","sdpMLineIndex":)") +
                           value + "}}";
        expect_both_error(text, "ice.sdpMLineIndex", range);
    }
    auto top = client_as<Peer>(R"({"type":"peer","sessionId":"S","ice":{"candidate":"c","sdpMLineIndex":4294967295}})");
    fail_unless(std::get<Ice>(top.payload).sdp_mline_index == 4294967295u, "largest sdpMLineIndex not read");
    expect_both_error(R"({"type":"peer","sessionId":"S","ice":{"candidate":1,"sdpMLineIndex":0}})", "ice.candidate",
                      "a string, got a number");
    expect_both_error(R"({"type":"peer","sessionId":"S","ice":{"candidate":"c","sdpMLineIndex":0,"sdpMid":0}})",
                      "ice.sdpMid", "a string or null, got a number");

    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"type":"pranswer","sdp":"v=0"}})", "sdp.type",
                      "one of \"offer\", \"answer\", got \"pranswer\"");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"type":"rollback","sdp":""}})",
                      "sdp.type", "\"rollback\"");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"type":1,"sdp":"v=0"}})",
                      "sdp.type", "a string, got a number");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":{"type":"offer","sdp":null}})",
                      "sdp.sdp", "a string, got null");
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":"v=0"})", "sdp", "an object, got a string");
    expect_both_error(R"({"type":"peer","sessionId":"S","ice":null})", "ice", "an object, got null");
    expect_both_error(R"({"type":"peer","sessionId":5,"ice":{"candidate":"c","sdpMLineIndex":0}})", "sessionId",
                      "a string, got a number");
}
GST_END_TEST;

GST_START_TEST(test_peer_needs_exactly_one_payload)
{
    expect_both_error(
        R"({"type":"peer","sessionId":"S","sdp":{"type":"offer","sdp":"v=0"},)"
        R"("ice":{"candidate":"c","sdpMLineIndex":0}})",
        "sdp|ice", "exactly one of \"sdp\" and \"ice\"");
    expect_both_error(R"({"type":"peer","sessionId":"S"})", "sdp|ice", "exactly one of \"sdp\" and \"ice\"");
    // Present but null still counts as present.
    expect_both_error(R"({"type":"peer","sessionId":"S","sdp":null,"ice":{"candidate":"c","sdpMLineIndex":0}})",
                      "sdp|ice", "exactly one");
}
GST_END_TEST;

GST_START_TEST(test_deep_nesting_refused)
{
    // Exactly kMaxJsonDepth levels (the message object is the first) parse.
    std::string inner(kMaxJsonDepth - 1, '[');
    inner += std::string(kMaxJsonDepth - 1, ']');
    std::string at_limit = R"({"type":"list","x":)" + inner + "}";
    client_as<ListRequest>(at_limit);
    // One more does not.
    std::string over = R"({"type":"list","x":[)" + inner + "]}";
    expect_both_error(over, "(json)", "at most 64 levels of nesting");

    const std::string deep_arrays(100000, '[');
    expect_both_error(deep_arrays, "(json)", "levels of nesting");
    std::string deep_objects;
    for (int i = 0; i < 100000; ++i)
        deep_objects += R"({"a":)";
    expect_both_error(deep_objects, "(json)", "levels of nesting");
    std::string balanced = std::string(100000, '[') + std::string(100000, ']');
    expect_both_error(balanced, "(json)", "levels of nesting");
    expect_both_error(R"({"type":"list","meta":)" + deep_objects, "(json)", "levels of nesting");

    // Brackets inside strings do not count, escaped quotes do not end them.
    std::string in_string = R"({"type":"error","details":")" + std::string(1000, '[') + R"(\"{{{{")" + "}";
    fail_unless(server_as<Error>(in_string).details.size() == 1005, "bracket-filled string not read whole");

    // Closing brackets first must not buy depth for later opening ones.
    std::string closers = std::string(1000, ']') + std::string(1000, '[');
    expect_both_error(closers, "(json)", "");

    // json-glib skips /* comments */ and reads 'single-quoted' strings: neither
    // may hide brackets from the depth limit (this used to overflow the stack).
    expect_both_error("/*\"*/" + deep_arrays, "(json)", "");
    expect_both_error("/* ]]]]]]]] */" + deep_arrays, "(json)", "");
    expect_both_error("['\"'," + deep_arrays, "(json)", "");
    expect_both_error(R"({"type":"list"} /* comment */)", "(json)", "valid JSON");
    expect_both_error(R"({'type':'list'})", "(json)", "valid JSON");
    fail_unless(!Json::parse("/*\"*/" + deep_arrays), "Json::parse accepted commented deep nesting");
    fail_unless(!Json::parse(deep_arrays), "Json::parse accepted deep nesting");
}
GST_END_TEST;

GST_START_TEST(test_bytes_that_are_not_text)
{
    using namespace std::string_literals;
    // Embedded NUL bytes: the length is the string_view's, not strlen's.
    expect_both_error("{\"type\":\"list\"}\0garbage"s, "(json)", "valid JSON");
    expect_both_error("{\"type\":\"li\0st\"}"s, "(json)", "valid JSON");
    expect_both_error("\0{\"type\":\"list\"}"s, "(json)", "valid JSON");
    expect_both_error("\0"s, "(json)", "valid JSON");
    // Invalid UTF-8: a lone continuation byte, a truncated sequence, an
    // overlong encoding, a UTF-16 surrogate, and bytes that are never valid.
    for (const char* bad : {"\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff\xfe", "\xf8\x88\x80\x80\x80"}) {
        std::string text = std::string(R"({"type":"error","details":")") + bad + "\"}";
        expect_both_error(text, "(json)", "valid JSON");
    }
    // The escaped NUL is valid JSON; whatever json-glib makes of it, no crash.
    Parsed<ServerMessage> escaped = parse_server_message(R"({"type":"error","details":"a\u0000b"})");
    fail_unless(escaped.ok() || !escaped.error().field.empty(), "escaped NUL gave an empty error");
}
GST_END_TEST;

GST_START_TEST(test_very_long_valid_strings)
{
    std::string sdp(1024 * 1024, 'a');
    for (size_t i = 0; i < sdp.size(); i += 80)
        sdp[i] = '\n';
    Peer big {"S", Sdp {Sdp::Type::Offer, sdp}};
    check_client_round_trip(big, "peer");
    check_server_round_trip(big, "peer");
    std::string text = R"({"type":"startSession","peerId":")" + std::string(1024 * 1024, 'p') + R"(","offer":")" +
                       std::string(1024 * 1024, 'o') + "\"}";
    auto start = client_as<StartSessionRequest>(text);
    fail_unless(start.peer_id.size() == 1024 * 1024 && start.offer && start.offer->size() == 1024 * 1024,
                "1 MiB strings were not read whole");
}
GST_END_TEST;

GST_START_TEST(test_error_message_names_field)
{
    Parsed<ClientMessage> parsed = parse_client_message(R"({"type":"startSession","peerId":"P","offer":5})");
    fail_unless(!parsed.ok(), "bad offer accepted");
    std::string message = parsed.error().message();
    fail_unless(contains(message, "\"offer\""), "message does not name the field: %s", message.c_str());
    fail_unless(contains(message, "a string or null, got a number"), "message does not say what was expected: %s",
                message.c_str());

    parsed = parse_client_message(R"({"type":"peer","sessionId":"S","ice":{"candidate":"c","sdpMLineIndex":-3}})");
    fail_unless(!parsed.ok(), "negative sdpMLineIndex accepted");
    message = parsed.error().message();
    fail_unless(contains(message, "ice.sdpMLineIndex"), "message does not name the nested field: %s", message.c_str());

    parsed = parse_client_message(R"({"type":"setPeerStatus","roles":["producer","boss"]})");
    fail_unless(!parsed.ok() && contains(parsed.error().message(), "roles[1]"), "message does not name roles[1]: %s",
                parsed.ok() ? "(accepted)" : parsed.error().message().c_str());

    parsed = parse_client_message(R"({"type":"nope"})");
    fail_unless(!parsed.ok() && contains(parsed.error().message(), "\"type\""), "message does not name type: %s",
                parsed.ok() ? "(accepted)" : parsed.error().message().c_str());

    // Whole-text problems have no field; the message still says what was wrong.
    parsed = parse_client_message("{");
    fail_unless(!parsed.ok(), "'{' accepted");
    message = parsed.error().message();
    fail_unless(contains(message, "valid JSON"), "message for bad JSON is not useful: %s", message.c_str());
    parsed = parse_client_message("[]");
    fail_unless(!parsed.ok() && contains(parsed.error().message(), "a JSON object"), "message for [] is not useful: %s",
                parsed.ok() ? "(accepted)" : parsed.error().message().c_str());
}
GST_END_TEST;

// ---- robustness ---------------------------------------------------------------

namespace {

// xorshift64*: small, deterministic, and the same on every platform.
class Random {
public:
    explicit Random(uint64_t seed) : state_(seed ? seed : 1) {}
    uint64_t next()
    {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 2685821657736338717ull;
    }
    size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }

private:
    uint64_t state_;
};

std::vector<std::string> seed_messages()
{
    std::vector<std::string> seeds {
        serialize(ClientMessage(SetProtocolVersion {Version::V1_1})),
        serialize(ClientMessage(
            SetPeerStatus {{Role::Producer, Role::Listener}, json(R"({"name":"cam","n":[1,{"x":null}]})")})),
        serialize(ClientMessage(StartSessionRequest {"P1", std::string("v=0\r\ns=-\r\n")})),
        serialize(ClientMessage(Peer {"S1", Sdp {Sdp::Type::Answer, "v=0\r\na=group:BUNDLE 0\r\n"}})),
        serialize(ClientMessage(Peer {"S1", Ice {"candidate:1 1 udp 1 1.2.3.4 5 typ host", 3, std::string("0")}})),
        serialize(ClientMessage(EndSession {"S1"})),
        serialize(ClientMessage(EndSessionV1_1 {"S1", std::string("bye \"now\" \\")})),
        serialize(ClientMessage(ListRequest {})),
        serialize(ClientMessage(ListConsumersRequest {})),
        serialize(ServerMessage(Welcome {"3f1c2d6e-0000-4000-8000-000000000001"})),
        serialize(ServerMessage(PeerStatusChanged {"P1", {Role::Consumer}, json(R"({"name":"caf\u00e9"})")})),
        serialize(ServerMessage(SessionStarted {"P1", "S1"})),
        serialize(ServerMessage(StartSession {"C1", "S1", std::nullopt})),
        serialize(ServerMessage(EndSessionV1_1 {"S1", std::nullopt})),
        serialize(ServerMessage(
            List {{PeerInfo {"P1", json(R"({"a":{"b":[true,false,null,1.5]}})")}, PeerInfo {"P2", Json()}}})),
        serialize(ServerMessage(ListConsumers {{PeerInfo {"C1", Json()}}})),
        serialize(ServerMessage(Error {"human-readable reason"})),
        R"({"type":"peer","sessionId":"b3e1","ice":{"candidate":"candidate:1 1 udp 1 1.2.3.4 46154 typ srflx",)"
        R"("sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"sXJ3"}})",
        R"({"type":"setPeerStatus","roles":["listener"],"meta":{"name":"WebClient-1"}})",
        R"({"type":"startSession","peerId":"C1","sessionId":"S1","offer":null})",
    };
    return seeds;
}

std::string mutate(std::string text, Random& random)
{
    static const char kInserts[] = {'{', '[', '"', '\\', '}', ']', ':', ',', '/', '\'', '\0'};
    size_t count = 1 + random.below(4);
    for (size_t i = 0; i < count; ++i) {
        size_t at = random.below(text.size() + 1);
        switch (random.below(6)) {
        case 0: // flip one bit
            if (!text.empty()) {
                at = random.below(text.size());
                text[at] = static_cast<char>(text[at] ^ (1 << random.below(8)));
            }
            break;
        case 1: // replace a byte by any byte
            if (!text.empty())
                text[random.below(text.size())] = static_cast<char>(random.below(256));
            break;
        case 2: // truncate
            text.resize(at);
            break;
        case 3: // insert a structural character
            text.insert(at, 1, kInserts[random.below(sizeof(kInserts))]);
            break;
        case 4: // insert a run of opening brackets
            text.insert(at, 1 + random.below(200), random.below(2) ? '[' : '{');
            break;
        case 5: // delete a span
            text.erase(at, random.below(8));
            break;
        }
    }
    return text;
}

template <typename Message>
void check_outcome(const char* direction, const std::string& text, const Parsed<Message>& parsed,
                   Parsed<Message> (*parse)(std::string_view))
{
    if (!parsed.ok()) {
        fail_unless(!parsed.error().field.empty() && !parsed.error().expected.empty(),
                    "%s parser gave an empty error for mutated input (%zu bytes)", direction, text.size());
        fail_unless(!parsed.error().message().empty(), "empty error message");
        return;
    }
    // Whatever was accepted serialises to something that reads back the same.
    std::string again = serialize(parsed.value());
    Parsed<Message> reparsed = parse(again);
    fail_unless(reparsed.ok() && reparsed.value() == parsed.value(),
                "%s parser: accepted mutation does not survive a round trip: %s", direction, again.c_str());
}

} // namespace

GST_START_TEST(test_mutated_messages_do_not_crash)
{
    const std::vector<std::string> seeds = seed_messages();
    for (const std::string& seed : seeds) {
        Parsed<ClientMessage> c = parse_client_message(seed);
        Parsed<ServerMessage> s = parse_server_message(seed);
        fail_unless(c.ok() || s.ok(), "seed parses in neither direction: %s", seed.c_str());
    }
    Random random(0x5167a1b1);
    size_t accepted = 0;
    constexpr int kMutations = 20000;
    for (int i = 0; i < kMutations; ++i) {
        std::string text = mutate(seeds[static_cast<size_t>(i) % seeds.size()], random);
        Parsed<ClientMessage> c = parse_client_message(text);
        check_outcome("client", text, c, parse_client_message);
        Parsed<ServerMessage> s = parse_server_message(text);
        check_outcome("server", text, s, parse_server_message);
        accepted += c.ok() + s.ok();
    }
    // Some mutations land in string contents and stay valid; most do not.
    fail_unless(accepted > 0 && accepted < kMutations, "implausible number of accepted mutations: %zu", accepted);
}
GST_END_TEST;

// ---- the fast path for peer messages ------------------------------------------

namespace {

// Whatever the fast path accepts, json-glib reads the same way, in both
// directions. Returns whether the fast path accepted.
bool check_fast_path_agrees(const std::string& text)
{
    std::optional<Peer> fast = read_plain_peer(text);
    if (!fast)
        return false;
    Parsed<ClientMessage> c = parse_client_message_with_json_glib(text);
    fail_unless(c.ok() && std::holds_alternative<Peer>(c.value()) && std::get<Peer>(c.value()) == *fast,
                "fast path and json-glib disagree (client) on: %s", text.c_str());
    Parsed<ServerMessage> s = parse_server_message_with_json_glib(text);
    fail_unless(s.ok() && std::holds_alternative<Peer>(s.value()) && std::get<Peer>(s.value()) == *fast,
                "fast path and json-glib disagree (server) on: %s", text.c_str());
    return true;
}

} // namespace

GST_START_TEST(test_peer_fast_path_reads_plain_messages)
{
    std::optional<Peer> p = read_plain_peer(
        " {\n\t\"sessionId\" : \"S\\u00e9\\ud83d\\ude00\\n\" , \"type\":\"peer\",\r\n"
        " \"ice\": {\"sdpMLineIndex\": 4294967295, \"candidate\": \"a\\\"b\\\\c\\/d\", \"sdpMid\": \"\"} } ");
    fail_unless(p.has_value(), "plain peer message with spaces and escapes not read");
    assert_strings_equal(p->session_id, "S\xc3\xa9\xf0\x9f\x98\x80\n");
    const Ice& ice = std::get<Ice>(p->payload);
    assert_strings_equal(ice.candidate, "a\"b\\c/d");
    fail_unless(ice.sdp_mline_index == 4294967295u, "sdpMLineIndex is %u", ice.sdp_mline_index);
    fail_unless(ice.sdp_mid && ice.sdp_mid->empty(), "sdpMid should be an empty string");

    p = read_plain_peer(R"({"type":"peer","sessionId":"S1","sdp":{"sdp":"v=0\r\n","type":"answer"}})");
    fail_unless(p && std::get<Sdp>(p->payload).type == Sdp::Type::Answer, "sdp answer not read");
    assert_strings_equal(std::get<Sdp>(p->payload).sdp, "v=0\r\n");

    // Everything outside the plain shape is left to json-glib, which accepts
    // some of it (and must be the one to judge) and refuses the rest.
    const char* declined[] = {
        R"({"type":"peer","sessionId":"A","sessionId":"B","ice":{"candidate":"c","sdpMLineIndex":0}})",
        R"({"type":"peer","type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","candidate":"d","sdpMLineIndex":0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0,"sdpMid":null}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0,"usernameFragment":"u"}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":-0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":1.0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":1e0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":01}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":4294967296}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c\u0000d","sdpMLineIndex":0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"\ud800","sdpMLineIndex":0}})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0}} {})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0},"sdp":{"type":"offer","sdp":"v"}})",
        R"({"type":"peer","sessionId":"A","sdp":{"type":"pranswer","sdp":"v"}})",
        R"({"type":"peer","sessionId":"A","extra":1,"ice":{"candidate":"c","sdpMLineIndex":0}})",
        R"({"type":"endSession","sessionId":"A"})",
        R"({"type":"peer","sessionId":"A","ice":{"candidate":"c","sdpMLineIndex":0},})",
        "{\"type\":\"peer\",\"sessionId\":\"A\",\"ice\":{\"candidate\":\"c\td\",\"sdpMLineIndex\":0}}",
        "{\"type\":\"peer\",\"sessionId\":\"\xff\",\"ice\":{\"candidate\":\"c\",\"sdpMLineIndex\":0}}",
    };
    for (const char* text : declined)
        fail_unless(!read_plain_peer(text), "fast path should leave this to json-glib: %s", text);
}
GST_END_TEST;

GST_START_TEST(test_peer_writer_escapes)
{
    std::string every_byte;
    for (int c = 1; c < 0x80; ++c)
        every_byte.push_back(static_cast<char>(c));
    const Peer peers[] = {
        Peer {"S1", Ice {every_byte, 7, std::nullopt}},
        Peer {every_byte, Ice {"caf\xc3\xa9 \xf0\x9f\x98\x80", 0, every_byte}},
        Peer {"", Sdp {Sdp::Type::Offer, "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n\"quoted\" \\back\\"}},
        Peer {"S", Sdp {Sdp::Type::Answer, ""}},
    };
    for (const Peer& peer : peers) {
        std::string text = write_peer(peer);
        Parsed<ClientMessage> c = parse_client_message_with_json_glib(text);
        fail_unless(c.ok() && std::get<Peer>(c.value()) == peer, "json-glib reads back something else: %s",
                    text.c_str());
        std::optional<Peer> fast = read_plain_peer(text);
        fail_unless(fast && *fast == peer, "fast path reads back something else: %s", text.c_str());
        assert_strings_equal(serialize(ServerMessage(peer)), text);
    }
}
GST_END_TEST;

GST_START_TEST(test_peer_fast_path_agrees_on_mutations)
{
    std::vector<std::string> seeds = seed_messages();
    size_t fast = 0;
    for (const std::string& seed : seeds)
        fast += check_fast_path_agrees(seed);
    fail_unless(fast >= 2, "the fast path read only %zu of the seed messages", fast);

    // Mutations of every seed, then of peer messages only, where mutations
    // that stay in the plain shape are common enough to matter.
    std::vector<std::string> peers;
    for (const std::string& seed : seeds) {
        if (parse_client_message(seed).ok() && std::holds_alternative<Peer>(parse_client_message(seed).value()))
            peers.push_back(seed);
    }
    peers.push_back(write_peer(Peer {"S\"1\\", Ice {"candidate:1 1 udp 2122260223 127.0.0.1 1 typ host", 1, "1"}}));
    Random random(0xfa57);
    size_t accepted = 0;
    constexpr int kMutations = 20000;
    for (int i = 0; i < kMutations; ++i) {
        const std::vector<std::string>& from = i % 2 ? peers : seeds;
        accepted += check_fast_path_agrees(mutate(from[static_cast<size_t>(i) % from.size()], random));
    }
    fail_unless(accepted > 100, "only %zu mutations stayed in the plain shape: the test proves little", accepted);
}
GST_END_TEST;

static Suite* protocol_suite()
{
    Suite* s = suite_create("protocol");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_client_round_trip);
    tcase_add_test(tc, test_server_round_trip);
    tcase_add_test(tc, test_unicode_and_escapes_round_trip);
    tcase_add_test(tc, test_parse_documented_client_messages);
    tcase_add_test(tc, test_parse_documented_server_messages);
    tcase_add_test(tc, test_unknown_fields_ignored);
    tcase_add_test(tc, test_not_json_or_not_object);
    tcase_add_test(tc, test_bad_type);
    tcase_add_test(tc, test_missing_required_fields);
    tcase_add_test(tc, test_wrong_field_types);
    tcase_add_test(tc, test_peer_needs_exactly_one_payload);
    tcase_add_test(tc, test_deep_nesting_refused);
    tcase_add_test(tc, test_bytes_that_are_not_text);
    tcase_add_test(tc, test_very_long_valid_strings);
    tcase_add_test(tc, test_error_message_names_field);
    tcase_add_test(tc, test_mutated_messages_do_not_crash);
    tcase_add_test(tc, test_peer_fast_path_reads_plain_messages);
    tcase_add_test(tc, test_peer_writer_escapes);
    tcase_add_test(tc, test_peer_fast_path_agrees_on_mutations);
    return s;
}

GST_CHECK_MAIN(protocol);
