// Unit tests of signalbin::server::Hub, the socket-free session logic: every
// flow of the protocol driven through handle()/add_peer()/remove_peer(), with
// an Output that records what would have been sent to whom.
#include "hub.h"

#include <gst/check/gstcheck.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

using namespace signalbin::protocol;
using signalbin::server::Hub;

namespace {

using Payload = std::variant<Sdp, Ice>;

struct Sent {
    std::string to;
    std::string json;
};

Json json(const char* text)
{
    std::optional<Json> parsed = Json::parse(text);
    fail_unless(parsed.has_value(), "test JSON does not parse: %s", text);
    return *parsed;
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

std::string describe(const std::vector<Sent>& sent)
{
    std::string text;
    for (const Sent& s : sent)
        text += "\n  to " + s.to + ": " + s.json;
    return text.empty() ? " (nothing)" : text;
}

// A Hub whose output is recorded. Session ids are S1, S2, ... in order.
class Recorder {
public:
    Recorder()
        : hub_(Hub::Output {[this](const std::string& to, const std::string& json) { sent_.push_back({to, json}); },
                            [this](const std::string& line) { log_.push_back(line); }},
               [this] { return "S" + std::to_string(++sessions_made_); })
    {
    }

    Hub& hub() { return hub_; }
    const std::vector<std::string>& log() const { return log_; }

    // Everything sent since the last take().
    std::vector<Sent> take() { return std::exchange(sent_, {}); }

    void connect(const std::string& id)
    {
        hub_.add_peer(id);
        std::vector<Sent> sent = take();
        fail_unless(sent.size() == 1 && sent[0].to == id, "add_peer(%s) did not send one message to it:%s", id.c_str(),
                    describe(sent).c_str());
        Welcome welcome = as<Welcome>(sent[0]);
        fail_unless(welcome.peer_id == id, "welcome carries \"%s\", not \"%s\"", welcome.peer_id.c_str(), id.c_str());
    }

    void handle(const std::string& id, const ClientMessage& message) { hub_.handle(id, message); }

    // Registers roles and meta and drops the resulting broadcast.
    void set_status(const std::string& id, std::vector<Role> roles, Json meta = {})
    {
        hub_.handle(id, SetPeerStatus {std::move(roles), std::move(meta)});
        for (const Sent& s : take()) {
            fail_unless(std::holds_alternative<PeerStatusChanged>(parse(s)), "setPeerStatus of %s sent %s to %s",
                        id.c_str(), s.json.c_str(), s.to.c_str());
        }
    }

    // Starts a session from `from` to `to` and returns its id.
    std::string start(const std::string& from, const std::string& to)
    {
        hub_.handle(from, StartSessionRequest {to, std::nullopt});
        std::vector<Sent> sent = take();
        fail_unless(sent.size() == 2, "startSession from %s to %s did not send two messages:%s", from.c_str(),
                    to.c_str(), describe(sent).c_str());
        return as<SessionStarted>(sent[0]).session_id;
    }

    static ServerMessage parse(const Sent& sent)
    {
        Parsed<ServerMessage> parsed = parse_server_message(sent.json);
        fail_unless(parsed.ok(), "hub sent something that does not parse to %s: %s (%s)", sent.to.c_str(),
                    sent.json.c_str(), parsed.ok() ? "" : parsed.error().message().c_str());
        return parsed.value();
    }

    template <typename T>
    static T as(const Sent& sent)
    {
        ServerMessage message = parse(sent);
        const T* typed = std::get_if<T>(&message);
        fail_unless(typed != nullptr, "expected another message type, got %s to %s", sent.json.c_str(),
                    sent.to.c_str());
        return *typed;
    }

    // Exactly one message was sent since the last take(), to `to`, of type T.
    template <typename T>
    T only(const std::string& to)
    {
        std::vector<Sent> sent = take();
        fail_unless(sent.size() == 1 && sent[0].to == to, "expected exactly one message to %s, got:%s", to.c_str(),
                    describe(sent).c_str());
        return as<T>(sent[0]);
    }

    // The sender (only) got an error, whose details are returned.
    std::string only_error(const std::string& to) { return only<Error>(to).details; }

    void nothing_sent(const char* after)
    {
        std::vector<Sent> sent = take();
        fail_unless(sent.empty(), "%s sent something:%s", after, describe(sent).c_str());
    }

private:
    std::vector<Sent> sent_;
    std::vector<std::string> log_;
    int sessions_made_ = 0;
    Hub hub_;
};

// Sorts messages by recipient, for broadcasts whose order is not specified.
std::vector<Sent> by_recipient(std::vector<Sent> sent)
{
    std::stable_sort(sent.begin(), sent.end(), [](const Sent& a, const Sent& b) { return a.to < b.to; });
    return sent;
}

std::vector<std::string> recipients(const std::vector<Sent>& sent)
{
    std::vector<std::string> to;
    for (const Sent& s : sent)
        to.push_back(s.to);
    std::sort(to.begin(), to.end());
    return to;
}

std::string join(const std::vector<std::string>& items)
{
    std::string text;
    for (const std::string& item : items)
        text += (text.empty() ? "" : ", ") + item;
    return "[" + text + "]";
}

std::vector<PeerInfo> sorted(std::vector<PeerInfo> peers)
{
    std::sort(peers.begin(), peers.end(), [](const PeerInfo& a, const PeerInfo& b) { return a.id < b.id; });
    return peers;
}

// Checks that `sent` is one identical peerStatusChanged to each of `listeners`.
void check_status_broadcast(const std::vector<Sent>& sent, const std::vector<std::string>& listeners,
                            const PeerStatusChanged& expected)
{
    std::vector<std::string> wanted = listeners;
    std::sort(wanted.begin(), wanted.end());
    fail_unless(recipients(sent) == wanted, "peerStatusChanged went to %s, expected %s:%s",
                join(recipients(sent)).c_str(), join(wanted).c_str(), describe(sent).c_str());
    for (const Sent& s : sent) {
        PeerStatusChanged got = Recorder::as<PeerStatusChanged>(s);
        fail_unless(got == expected, "%s got %s, expected %s", s.to.c_str(), s.json.c_str(),
                    serialize(ServerMessage(expected)).c_str());
    }
}

} // namespace

// ---- connecting and listing ---------------------------------------------------

GST_START_TEST(test_welcome)
{
    Recorder r;
    fail_unless(r.hub().peer_count() == 0, "new hub has peers");
    r.hub().add_peer("3f1c2d6e-0000-4000-8000-000000000001");
    Welcome welcome = r.only<Welcome>("3f1c2d6e-0000-4000-8000-000000000001");
    fail_unless(welcome.peer_id == "3f1c2d6e-0000-4000-8000-000000000001", "welcome has peerId %s",
                welcome.peer_id.c_str());
    r.connect("P2");
    fail_unless(r.hub().peer_count() == 2, "peer_count is %zu, not 2", r.hub().peer_count());
    fail_unless(r.hub().has_peer("P2") && !r.hub().has_peer("P3"), "has_peer is wrong");
    fail_unless(r.hub().session_count() == 0, "sessions exist after connecting");
}
GST_END_TEST;

GST_START_TEST(test_list_and_list_consumers)
{
    Recorder r;
    for (const char* id : {"P1", "P2", "C1", "L1", "N1"})
        r.connect(id);

    r.handle("N1", ListRequest {});
    fail_unless(r.only<List>("N1").producers.empty(), "list is not empty before anyone registered");
    r.handle("N1", ListConsumersRequest {});
    fail_unless(r.only<ListConsumers>("N1").consumers.empty(), "listConsumers is not empty before anyone registered");

    r.set_status("P1", {Role::Producer}, json(R"({"name":"cam"})"));
    r.set_status("P2", {Role::Producer, Role::Listener});
    r.set_status("C1", {Role::Consumer}, json(R"({"display":"tv"})"));
    r.set_status("L1", {Role::Listener});

    r.handle("N1", ListRequest {});
    List list = r.only<List>("N1");
    std::vector<PeerInfo> expected {{"P1", json(R"({"name":"cam"})")}, {"P2", Json()}};
    fail_unless(sorted(list.producers) == expected, "list is %s", serialize(ServerMessage(list)).c_str());

    r.handle("L1", ListConsumersRequest {});
    ListConsumers consumers = r.only<ListConsumers>("L1");
    fail_unless((consumers.consumers == std::vector<PeerInfo> {{"C1", json(R"({"display":"tv"})")}}),
                "listConsumers is %s", serialize(ServerMessage(consumers)).c_str());

    // A producer that leaves is no longer listed.
    r.hub().remove_peer("P1");
    r.take();
    r.handle("N1", ListRequest {});
    list = r.only<List>("N1");
    fail_unless((list.producers == std::vector<PeerInfo> {{"P2", Json()}}), "list after P1 left is %s",
                serialize(ServerMessage(list)).c_str());
}
GST_END_TEST;

// ---- peer status ------------------------------------------------------------

GST_START_TEST(test_peer_status_changed_reaches_listeners)
{
    Recorder r;
    for (const char* id : {"L1", "L2", "N1", "P1"})
        r.connect(id);

    // A new listener hears about itself.
    r.handle("L1", SetPeerStatus {{Role::Listener}, Json()});
    check_status_broadcast(r.take(), {"L1"}, PeerStatusChanged {"L1", {Role::Listener}, Json()});
    r.handle("L2", SetPeerStatus {{Role::Listener}, json(R"({"name":"browser"})")});
    check_status_broadcast(r.take(), {"L1", "L2"},
                           PeerStatusChanged {"L2", {Role::Listener}, json(R"({"name":"browser"})")});

    // A producer that also listens: every listener, the sender included.
    Json meta = json(R"({"name":"cam","codecs":["vp8","h264"],"n":1})");
    r.handle("P1", SetPeerStatus {{Role::Producer, Role::Listener}, meta});
    check_status_broadcast(r.take(), {"L1", "L2", "P1"},
                           PeerStatusChanged {"P1", {Role::Producer, Role::Listener}, meta});

    // The same status again (roles in another order) sends nothing.
    r.handle("P1",
             SetPeerStatus {{Role::Listener, Role::Producer}, json(R"({"n":1,"codecs":["vp8","h264"],"name":"cam"})")});
    r.nothing_sent("an unchanged setPeerStatus");

    // New meta alone is a change.
    r.handle("P1", SetPeerStatus {{Role::Producer, Role::Listener}, json(R"({"name":"cam2"})")});
    check_status_broadcast(r.take(), {"L1", "L2", "P1"},
                           PeerStatusChanged {"P1", {Role::Producer, Role::Listener}, json(R"({"name":"cam2"})")});

    // Stopping to listen: the sender no longer hears, others still do.
    r.handle("P1", SetPeerStatus {{Role::Producer}, json(R"({"name":"cam2"})")});
    check_status_broadcast(r.take(), {"L1", "L2"},
                           PeerStatusChanged {"P1", {Role::Producer}, json(R"({"name":"cam2"})")});

    // Non-listeners hear nothing of a non-listener's registration, and
    // no-one hears N1 set what it already had.
    r.handle("N1", SetPeerStatus {{}, Json()});
    r.nothing_sent("setPeerStatus with no roles for a peer without roles");
    r.handle("L2", SetPeerStatus {{}, Json()});
    check_status_broadcast(r.take(), {"L1"}, PeerStatusChanged {"L2", {}, Json()});
    r.handle("N1", SetPeerStatus {{Role::Consumer}, Json()});
    check_status_broadcast(r.take(), {"L1"}, PeerStatusChanged {"N1", {Role::Consumer}, Json()});
}
GST_END_TEST;

GST_START_TEST(test_producer_and_consumer_at_once)
{
    Recorder r;
    r.connect("L1");
    r.connect("X");
    r.set_status("L1", {Role::Listener});
    r.handle("X", SetPeerStatus {{Role::Producer, Role::Consumer}, json(R"({"name":"both"})")});
    std::string details = r.only_error("X");
    fail_unless(contains(details, "producer") && contains(details, "consumer"), "error does not explain: %s",
                details.c_str());
    // Nothing changed: X is listed nowhere.
    r.handle("L1", ListRequest {});
    fail_unless(r.only<List>("L1").producers.empty(), "the refused producer is listed");
    r.handle("L1", ListConsumersRequest {});
    fail_unless(r.only<ListConsumers>("L1").consumers.empty(), "the refused consumer is listed");
}
GST_END_TEST;

// ---- sessions -----------------------------------------------------------------

GST_START_TEST(test_start_session_from_roleless_consumer)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "L1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    r.set_status("P1", {Role::Producer}, json(R"({"name":"cam"})"));

    r.handle("C1", StartSessionRequest {"P1", std::nullopt});
    std::vector<Sent> sent = r.take();
    fail_unless(sent.size() == 2, "startSession sent %zu messages:%s", sent.size(), describe(sent).c_str());
    fail_unless(sent[0].to == "C1", "first message went to %s, not the consumer:%s", sent[0].to.c_str(),
                describe(sent).c_str());
    SessionStarted started = Recorder::as<SessionStarted>(sent[0]);
    fail_unless((started == SessionStarted {"P1", "S1"}), "consumer got %s", sent[0].json.c_str());
    fail_unless(sent[1].to == "P1", "second message went to %s, not the producer", sent[1].to.c_str());
    StartSession start = Recorder::as<StartSession>(sent[1]);
    fail_unless((start == StartSession {"C1", "S1", std::nullopt}), "producer got %s", sent[1].json.c_str());
    fail_unless(contains(sent[1].json, R"("offer":null)"), "startSession without offer lacks \"offer\":null: %s",
                sent[1].json.c_str());
    fail_unless(r.hub().session_count() == 1, "session_count is %zu", r.hub().session_count());
    fail_unless(!r.log().empty() && contains(r.log().back(), "S1"), "no log line for the session start");

    // A second consumer gets its own session.
    r.connect("C2");
    fail_unless(r.start("C2", "P1") == "S2", "second session is not S2");
    fail_unless(r.hub().session_count() == 2, "session_count is %zu", r.hub().session_count());
}
GST_END_TEST;

GST_START_TEST(test_start_session_from_listener_with_offer)
{
    Recorder r;
    for (const char* id : {"P1", "B1", "L1"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    r.set_status("L1", {Role::Listener});
    r.set_status("B1", {Role::Listener}, json(R"({"name":"WebClient-1"})"));

    const std::string offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
    r.handle("B1", StartSessionRequest {"P1", offer});
    std::vector<Sent> sent = r.take();
    fail_unless(sent.size() == 2, "startSession sent (listeners must hear nothing):%s", describe(sent).c_str());
    fail_unless(sent[0].to == "B1" && sent[1].to == "P1", "wrong order or recipients:%s", describe(sent).c_str());
    fail_unless((Recorder::as<SessionStarted>(sent[0]) == SessionStarted {"P1", "S1"}), "browser got %s",
                sent[0].json.c_str());
    StartSession start = Recorder::as<StartSession>(sent[1]);
    fail_unless((start == StartSession {"B1", "S1", offer}), "producer got %s", sent[1].json.c_str());
}
GST_END_TEST;

GST_START_TEST(test_passive_consumer)
{
    Recorder r;
    for (const char* id : {"P1", "C1"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    r.set_status("C1", {Role::Consumer});

    r.handle("P1", StartSessionRequest {"C1", std::nullopt});
    std::vector<Sent> sent = r.take();
    fail_unless(sent.size() == 2, "startSession to a passive consumer sent:%s", describe(sent).c_str());
    fail_unless(sent[0].to == "C1" && sent[1].to == "P1", "wrong order or recipients:%s", describe(sent).c_str());
    fail_unless((Recorder::as<SessionStarted>(sent[0]) == SessionStarted {"P1", "S1"}), "consumer got %s",
                sent[0].json.c_str());
    fail_unless((Recorder::as<StartSession>(sent[1]) == StartSession {"C1", "S1", std::nullopt}), "producer got %s",
                sent[1].json.c_str());

    // The producer is the producer of that session: giving up the consumer
    // role ends it on the producer's side.
    r.handle("C1", SetPeerStatus {{}, Json()});
    fail_unless((r.only<EndSession>("P1") == EndSession {"S1"}), "producer was not told the session ended");
    fail_unless(r.hub().session_count() == 0, "session survived the consumer role");
}
GST_END_TEST;

GST_START_TEST(test_start_session_errors)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2", "L1", "N1"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    r.set_status("C1", {Role::Consumer});
    r.set_status("L1", {Role::Listener});

    r.handle("N1", StartSessionRequest {"nobody", std::nullopt});
    std::string details = r.only_error("N1");
    fail_unless(contains(details, "nobody"), "unknown-peer error does not name it: %s", details.c_str());

    r.handle("N1", StartSessionRequest {"L1", std::nullopt});
    details = r.only_error("N1");
    fail_unless(contains(details, "not a producer"), "non-producer error is unclear: %s", details.c_str());

    r.handle("N1", StartSessionRequest {"N1", std::nullopt});
    details = r.only_error("N1");
    fail_unless(contains(details, "itself"), "self-session error is unclear: %s", details.c_str());
    r.handle("P1", StartSessionRequest {"P1", std::nullopt});
    details = r.only_error("P1");
    fail_unless(contains(details, "itself"), "producer self-session error is unclear: %s", details.c_str());

    // Only a producer may call a passive consumer.
    r.handle("C2", StartSessionRequest {"C1", std::nullopt});
    details = r.only_error("C2");
    fail_unless(contains(details, "passive consumer"), "passive-consumer error is unclear: %s", details.c_str());
    r.handle("L1", StartSessionRequest {"C1", std::nullopt});
    r.only_error("L1");

    fail_unless(r.hub().session_count() == 0, "a refused startSession made a session");
}
GST_END_TEST;

GST_START_TEST(test_peer_messages_relayed_within_session)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "X", "L1"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    r.set_status("L1", {Role::Listener});
    std::string session = r.start("C1", "P1");

    const std::vector<std::pair<std::string, Peer>> exchange {
        {"P1", Peer {session, Sdp {Sdp::Type::Offer, "v=0\r\ns=offer\r\n"}}},
        {"C1", Peer {session, Sdp {Sdp::Type::Answer, "v=0\r\ns=answer\r\n"}}},
        {"P1", Peer {session, Ice {"candidate:1 1 UDP 2122252543 10.0.0.1 40000 typ host", 0, std::string("video0")}}},
        {"C1", Peer {session, Ice {"candidate:2 1 udp 1677729535 1.2.3.4 46154 typ srflx", 1, std::nullopt}}},
        {"C1", Peer {session, Ice {"", 4294967295u, std::string("")}}},
    };
    for (const auto& [from, message] : exchange) {
        r.handle(from, message);
        const std::string to = from == "P1" ? "C1" : "P1";
        Peer got = r.only<Peer>(to);
        fail_unless(got == message, "%s relayed as %s, sent %s", from.c_str(), serialize(ServerMessage(got)).c_str(),
                    serialize(ServerMessage(message)).c_str());
    }

    // A third peer cannot talk into the session or end it.
    r.handle("X", Peer {session, Sdp {Sdp::Type::Offer, "v=0"}});
    std::string details = r.only_error("X");
    fail_unless(contains(details, session), "outsider peer error does not name the session: %s", details.c_str());
    r.handle("X", Peer {session, Ice {"candidate:x", 0, std::nullopt}});
    r.only_error("X");
    r.handle("X", EndSession {session});
    r.only_error("X");
    r.handle("X", EndSessionV1_1 {session, std::string("hijack")});
    r.only_error("X");
    // Nor can the listener, and an unknown session is an error too.
    r.handle("L1", EndSession {session});
    r.only_error("L1");
    r.handle("P1", Peer {"no-such-session", Sdp {Sdp::Type::Offer, "v=0"}});
    r.only_error("P1");
    r.handle("C1", EndSession {"no-such-session"});
    r.only_error("C1");
    fail_unless(r.hub().session_count() == 1, "outsiders changed the session");

    // The session still works.
    r.handle("C1", Peer {session, Ice {"candidate:3", 0, std::nullopt}});
    r.only<Peer>("P1");
}
GST_END_TEST;

GST_START_TEST(test_peer_between_two_sessions_stays_in_its_session)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    std::string s1 = r.start("C1", "P1");
    std::string s2 = r.start("C2", "P1");
    // C1 cannot use C2's session id even though both talk to P1.
    r.handle("C1", Peer {s2, Sdp {Sdp::Type::Answer, "v=0"}});
    r.only_error("C1");
    r.handle("P1", Peer {s2, Sdp {Sdp::Type::Offer, "v=0"}});
    fail_unless(r.only<Peer>("C2").session_id == s2, "relay went to the wrong session");
    r.handle("P1", Peer {s1, Sdp {Sdp::Type::Offer, "v=0"}});
    fail_unless(r.only<Peer>("C1").session_id == s1, "relay went to the wrong session");
}
GST_END_TEST;

// ---- ending sessions and protocol versions ------------------------------------

GST_START_TEST(test_end_session_v1_0)
{
    Recorder r;
    for (const char* id : {"P1", "C1"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    std::string session = r.start("C1", "P1");

    // A v1_0 receiver gets endSession, even when the sender gave a reason.
    r.handle("C1", EndSessionV1_1 {session, std::string("closing the tab")});
    fail_unless((r.only<EndSession>("P1") == EndSession {session}), "v1_0 producer did not get endSession");
    fail_unless(r.hub().session_count() == 0, "session survived endSession");
    fail_unless(!r.log().empty() && contains(r.log().back(), session), "no log line for the end");

    // The session is gone for both. An endSession that crossed the end
    // (P1 ends it too, not knowing) is ignored, as gstwebrtc-api sends one
    // after the other side left; from a peer that was not in it, or for a
    // session that never was, it is an error still.
    r.handle("P1", Peer {session, Sdp {Sdp::Type::Offer, "v=0"}});
    r.only_error("P1");
    r.handle("P1", EndSession {session});
    r.nothing_sent("a late endSession");
    fail_unless(contains(r.log().back(), "ignored"), "no log line for the late endSession");
    r.connect("C9");
    r.handle("C9", EndSession {session});
    r.only_error("C9");
    r.handle("C1", EndSession {"no-such-session"});
    r.only_error("C1");

    // And a new one can start.
    std::string again = r.start("C1", "P1");
    fail_unless(again != session, "session id reused");
    r.handle("P1", EndSession {again});
    fail_unless((r.only<EndSession>("C1") == EndSession {again}), "consumer did not get endSession");
}
GST_END_TEST;

GST_START_TEST(test_end_session_v1_1)
{
    Recorder r;
    for (const char* id : {"P1", "C1"})
        r.connect(id);
    r.handle("P1", SetProtocolVersion {Version::V1_1});
    r.nothing_sent("setProtocolVersion as the first message");
    r.set_status("P1", {Role::Producer});

    std::string s1 = r.start("C1", "P1");
    r.handle("C1", EndSessionV1_1 {s1, std::string("closing the tab")});
    EndSessionV1_1 got = r.only<EndSessionV1_1>("P1");
    fail_unless((got == EndSessionV1_1 {s1, std::string("closing the tab")}), "v1_1 producer got %s",
                serialize(ServerMessage(got)).c_str());

    std::string s2 = r.start("C1", "P1");
    r.handle("C1", EndSession {s2});
    got = r.only<EndSessionV1_1>("P1");
    fail_unless((got == EndSessionV1_1 {s2, std::nullopt}), "v1_1 producer got %s for a plain endSession",
                serialize(ServerMessage(got)).c_str());

    // The other direction: the v1_1 peer ends, the v1_0 peer gets endSession.
    std::string s3 = r.start("C1", "P1");
    r.handle("P1", EndSessionV1_1 {s3, std::string("pipeline error")});
    fail_unless((r.only<EndSession>("C1") == EndSession {s3}), "v1_0 consumer did not get endSession");

    // Explicit v1_0 behaves as the default.
    r.connect("C2");
    r.handle("C2", SetProtocolVersion {Version::V1_0});
    r.nothing_sent("setProtocolVersion v1_0");
    std::string s4 = r.start("C2", "P1");
    r.handle("P1", EndSessionV1_1 {s4, std::nullopt});
    r.only<EndSession>("C2");
}
GST_END_TEST;

GST_START_TEST(test_set_protocol_version_only_first)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2"})
        r.connect(id);
    r.set_status("P1", {Role::Producer});
    r.handle("P1", SetProtocolVersion {Version::V1_1});
    std::string details = r.only_error("P1");
    fail_unless(contains(details, "first"), "late setProtocolVersion error is unclear: %s", details.c_str());
    // It had no effect: P1 still gets the v1_0 form.
    std::string session = r.start("C1", "P1");
    r.handle("C1", EndSessionV1_1 {session, std::string("x")});
    r.only<EndSession>("P1");

    // Twice is late too.
    r.handle("C2", SetProtocolVersion {Version::V1_1});
    r.nothing_sent("first setProtocolVersion");
    r.handle("C2", SetProtocolVersion {Version::V1_0});
    r.only_error("C2");

    // Text that did not parse counts as a first message.
    r.connect("C3");
    r.hub().handle_invalid("C3", ParseError {"(json)", "valid JSON"});
    r.only_error("C3");
    r.handle("C3", SetProtocolVersion {Version::V1_1});
    r.only_error("C3");
}
GST_END_TEST;

GST_START_TEST(test_handle_invalid)
{
    Recorder r;
    for (const char* id : {"P1", "L1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    r.set_status("P1", {Role::Producer});
    ParseError error {"ice.sdpMLineIndex", "a whole number from 0 to 4294967295, got a string"};
    r.hub().handle_invalid("P1", error);
    std::string details = r.only_error("P1");
    fail_unless(contains(details, "ice.sdpMLineIndex") && contains(details, "got a string"),
                "error does not carry the parse error: %s", details.c_str());
    fail_unless(details == error.message(), "details \"%s\" differ from ParseError::message() \"%s\"",
                details.c_str(), error.message().c_str());
    // An unknown sender is ignored.
    r.hub().handle_invalid("ghost", error);
    r.handle("ghost", ListRequest {});
    r.nothing_sent("messages from an unknown peer");
}
GST_END_TEST;

// ---- leaving ------------------------------------------------------------------

GST_START_TEST(test_producer_disconnect_ends_all_its_sessions)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2", "L1", "N1"})
        r.connect(id);
    r.handle("C2", SetProtocolVersion {Version::V1_1});
    r.set_status("L1", {Role::Listener});
    Json meta = json(R"({"name":"cam"})");
    r.set_status("P1", {Role::Producer}, meta);
    std::string s1 = r.start("C1", "P1");
    std::string s2 = r.start("C2", "P1");
    fail_unless(r.hub().session_count() == 2, "session_count is %zu", r.hub().session_count());

    r.hub().remove_peer("P1");
    std::vector<Sent> sent = by_recipient(r.take());
    fail_unless((recipients(sent) == std::vector<std::string> {"C1", "C2", "L1"}),
                "producer leaving notified %s:%s", join(recipients(sent)).c_str(), describe(sent).c_str());
    fail_unless((Recorder::as<EndSession>(sent[0]) == EndSession {s1}), "C1 got %s", sent[0].json.c_str());
    fail_unless((Recorder::as<EndSessionV1_1>(sent[1]) == EndSessionV1_1 {s2, std::nullopt}), "C2 got %s",
                sent[1].json.c_str());
    fail_unless((Recorder::as<PeerStatusChanged>(sent[2]) == PeerStatusChanged {"P1", {}, meta}), "L1 got %s",
                sent[2].json.c_str());
    fail_unless(r.hub().session_count() == 0, "session_count is %zu after the producer left",
                r.hub().session_count());
    fail_unless(!r.hub().has_peer("P1") && r.hub().peer_count() == 4, "P1 still counted");

    // Its sessions are gone for the consumers too.
    r.handle("C1", Peer {s1, Sdp {Sdp::Type::Answer, "v=0"}});
    r.only_error("C1");

    // Removing it again, or someone never seen, is harmless.
    r.hub().remove_peer("P1");
    r.hub().remove_peer("never-connected");
    r.nothing_sent("removing unknown peers");
}
GST_END_TEST;

GST_START_TEST(test_listening_producer_disconnect)
{
    // The leaving peer is a listener itself: it must not be sent anything.
    Recorder r;
    for (const char* id : {"P1", "C1", "L1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    r.set_status("P1", {Role::Producer, Role::Listener});
    std::string session = r.start("C1", "P1");
    r.hub().remove_peer("P1");
    std::vector<Sent> sent = by_recipient(r.take());
    fail_unless((recipients(sent) == std::vector<std::string> {"C1", "L1"}), "notified %s:%s",
                join(recipients(sent)).c_str(), describe(sent).c_str());
    fail_unless((Recorder::as<EndSession>(sent[0]) == EndSession {session}), "C1 got %s", sent[0].json.c_str());
    fail_unless((Recorder::as<PeerStatusChanged>(sent[1]) == PeerStatusChanged {"P1", {}, Json()}), "L1 got %s",
                sent[1].json.c_str());
}
GST_END_TEST;

GST_START_TEST(test_consumer_disconnect_ends_its_session)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2", "L1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    r.set_status("P1", {Role::Producer});
    std::string s1 = r.start("C1", "P1");
    std::string s2 = r.start("C2", "P1");

    // C1 has no roles: listeners hear nothing, the producer gets endSession.
    r.hub().remove_peer("C1");
    fail_unless((r.only<EndSession>("P1") == EndSession {s1}), "producer was not told C1's session ended");
    fail_unless(r.hub().session_count() == 1, "session_count is %zu", r.hub().session_count());

    // The other session is untouched.
    r.handle("P1", Peer {s2, Sdp {Sdp::Type::Offer, "v=0"}});
    r.only<Peer>("C2");

    // A registered passive consumer leaving is announced.
    r.connect("C3");
    r.set_status("C3", {Role::Consumer}, json(R"({"room":"a"})"));
    std::string s3 = r.start("P1", "C3");
    r.hub().remove_peer("C3");
    std::vector<Sent> sent = by_recipient(r.take());
    fail_unless((recipients(sent) == std::vector<std::string> {"L1", "P1"}), "notified %s:%s",
                join(recipients(sent)).c_str(), describe(sent).c_str());
    fail_unless((Recorder::as<PeerStatusChanged>(sent[0]) == PeerStatusChanged {"C3", {}, json(R"({"room":"a"})")}),
                "L1 got %s", sent[0].json.c_str());
    fail_unless((Recorder::as<EndSession>(sent[1]) == EndSession {s3}), "P1 got %s", sent[1].json.c_str());
}
GST_END_TEST;

GST_START_TEST(test_roleless_peer_leaving_is_silent)
{
    Recorder r;
    for (const char* id : {"L1", "N1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    r.hub().remove_peer("N1");
    r.nothing_sent("a peer without roles and sessions leaving");
    fail_unless(r.hub().peer_count() == 1, "peer_count is %zu", r.hub().peer_count());
    // A listener that leaves does not hear about itself.
    r.hub().remove_peer("L1");
    r.nothing_sent("the last listener leaving");
    fail_unless(r.hub().peer_count() == 0, "peer_count is %zu", r.hub().peer_count());
}
GST_END_TEST;

GST_START_TEST(test_giving_up_producer_role_ends_sessions)
{
    Recorder r;
    for (const char* id : {"P1", "C1", "C2", "L1"})
        r.connect(id);
    r.set_status("L1", {Role::Listener});
    Json meta = json(R"({"name":"cam"})");
    r.set_status("P1", {Role::Producer}, meta);
    std::string s1 = r.start("C1", "P1");
    std::string s2 = r.start("C2", "P1");

    r.handle("P1", SetPeerStatus {{Role::Listener}, meta});
    std::vector<Sent> sent = r.take();
    // Both consumers are told first, then the listeners (P1 now among them).
    fail_unless(sent.size() == 4, "giving up the producer role sent:%s", describe(sent).c_str());
    std::vector<Sent> ends = by_recipient({sent[0], sent[1]});
    fail_unless(ends[0].to == "C1" && ends[1].to == "C2", "endSession went to the wrong peers:%s",
                describe(sent).c_str());
    fail_unless((Recorder::as<EndSession>(ends[0]) == EndSession {s1}), "C1 got %s", ends[0].json.c_str());
    fail_unless((Recorder::as<EndSession>(ends[1]) == EndSession {s2}), "C2 got %s", ends[1].json.c_str());
    check_status_broadcast({sent[2], sent[3]}, {"L1", "P1"}, PeerStatusChanged {"P1", {Role::Listener}, meta});
    fail_unless(r.hub().session_count() == 0, "session_count is %zu", r.hub().session_count());

    // It is no longer a producer.
    r.handle("C1", StartSessionRequest {"P1", std::nullopt});
    r.only_error("C1");

    // Changing only meta keeps sessions.
    r.set_status("P1", {Role::Producer}, meta);
    std::string s3 = r.start("C1", "P1");
    r.set_status("P1", {Role::Producer}, json(R"({"name":"renamed"})"));
    fail_unless(r.hub().session_count() == 1, "a meta change ended session %s", s3.c_str());
}
GST_END_TEST;

static Suite* hub_suite()
{
    Suite* s = suite_create("hub");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_welcome);
    tcase_add_test(tc, test_list_and_list_consumers);
    tcase_add_test(tc, test_peer_status_changed_reaches_listeners);
    tcase_add_test(tc, test_producer_and_consumer_at_once);
    tcase_add_test(tc, test_start_session_from_roleless_consumer);
    tcase_add_test(tc, test_start_session_from_listener_with_offer);
    tcase_add_test(tc, test_passive_consumer);
    tcase_add_test(tc, test_start_session_errors);
    tcase_add_test(tc, test_peer_messages_relayed_within_session);
    tcase_add_test(tc, test_peer_between_two_sessions_stays_in_its_session);
    tcase_add_test(tc, test_end_session_v1_0);
    tcase_add_test(tc, test_end_session_v1_1);
    tcase_add_test(tc, test_set_protocol_version_only_first);
    tcase_add_test(tc, test_handle_invalid);
    tcase_add_test(tc, test_producer_disconnect_ends_all_its_sessions);
    tcase_add_test(tc, test_listening_producer_disconnect);
    tcase_add_test(tc, test_consumer_disconnect_ends_its_session);
    tcase_add_test(tc, test_roleless_peer_leaving_is_silent);
    tcase_add_test(tc, test_giving_up_producer_role_ends_sessions);
    return s;
}

GST_CHECK_MAIN(hub);
