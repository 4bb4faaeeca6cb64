// Integration tests of the signalling server and client: the real server
// in-process on a free port of 127.0.0.1, real clients over loopback, every
// wait driven by events with a timeout.
#include "test-peer.h"

#include <gst/check/gstcheck.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

using namespace signalbin;
using namespace signalbin::test;
using protocol::Role;
using client::State;

namespace {

std::unique_ptr<server::Server> must_start(GMainContext* context, server::ServerOptions options = server_options())
{
    Expected<std::unique_ptr<server::Server>> started = start_server(context, std::move(options));
    fail_unless(started.ok(), "the server did not start: %s", started.ok() ? "" : started.error().c_str());
    return std::move(started.value());
}

// Connects and fails the test if there is no welcome.
std::string must_connect(TestPeer& peer)
{
    std::optional<std::string> id = peer.connect();
    fail_unless(id && !id->empty(), "no welcome:\n%s", peer.describe().c_str());
    return *id;
}

protocol::Json json(const char* text)
{
    std::optional<protocol::Json> parsed = protocol::Json::parse(text);
    fail_unless(parsed.has_value(), "bad JSON in the test: %s", text);
    return *parsed;
}

// {"name": name, "blob": blob}
protocol::Json meta_with(const std::string& name, const std::string& blob = {})
{
    GRef<JsonObject> object = adopt_ref(json_object_new());
    json_object_set_string_member(object.get(), "name", name.c_str());
    if (!blob.empty())
        json_object_set_string_member(object.get(), "blob", blob.c_str());
    return protocol::Json::object(object.get());
}

std::string meta_name(const protocol::Json& meta)
{
    return meta.string_member("name").value_or("(none)");
}

// Registers `peer` in `roles` and, when `listener` is given, waits until it
// has heard of it (so that the server has processed it).
void set_status(TestPeer& peer, std::vector<Role> roles, protocol::Json meta, TestPeer* listener = nullptr)
{
    std::vector<Role> expected = roles;
    fail_unless(peer.send(protocol::SetPeerStatus {std::move(roles), meta}), "not connected");
    if (!listener)
        return;
    std::string id = peer.id();
    auto seen = listener->wait_message<protocol::PeerStatusChanged>(
        [&](const protocol::PeerStatusChanged& m) { return m.peer_id == id && m.roles == expected && m.meta == meta; });
    fail_unless(seen.has_value(), "the listener never heard of %s:\n%s", id.c_str(), listener->describe().c_str());
}

// `consumer` starts a session with `producer`; both sides must hear of it.
std::string start_session(TestPeer& consumer, TestPeer& producer, std::optional<std::string> offer = std::nullopt)
{
    fail_unless(consumer.send(protocol::StartSessionRequest {producer.id(), offer}), "not connected");
    auto started = consumer.expect_next<protocol::SessionStarted>();
    fail_unless(started.has_value(), "no sessionStarted:\n%s", consumer.describe().c_str());
    fail_unless(started->peer_id == producer.id(), "sessionStarted names %s, not the producer %s",
                started->peer_id.c_str(), producer.id().c_str());
    fail_unless(!started->session_id.empty(), "empty session id");
    auto start = producer.wait_message<protocol::StartSession>(
        [&](const protocol::StartSession& m) { return m.session_id == started->session_id; });
    fail_unless(start.has_value(), "the producer got no startSession:\n%s", producer.describe().c_str());
    fail_unless(start->peer_id == consumer.id(), "startSession names %s, not the consumer %s",
                start->peer_id.c_str(), consumer.id().c_str());
    fail_unless(start->offer == offer, "the offer changed on the way");
    return started->session_id;
}

// Sends `list`; the next thing heard must be the reply. Its producers.
std::vector<protocol::PeerInfo> must_list(Inbox& inbox, const std::function<bool(const protocol::ClientMessage&)>& send)
{
    fail_unless(send(protocol::ListRequest {}), "not connected");
    auto list = inbox.expect_next<protocol::List>();
    fail_unless(list.has_value(), "no list reply:\n%s", inbox.describe().c_str());
    return list->producers;
}

std::vector<protocol::PeerInfo> must_list(TestPeer& peer)
{
    return must_list(peer, [&](const protocol::ClientMessage& m) { return peer.send(m); });
}

std::vector<protocol::PeerInfo> must_list(RawWebSocket& ws)
{
    return must_list(ws, [&](const protocol::ClientMessage& m) {
        ws.send(m);
        return !ws.closed();
    });
}

// "... retrying in 250 ms" -> 250
int retry_delay_ms(const std::string& detail)
{
    size_t at = detail.rfind("retrying in ");
    if (at == std::string::npos)
        return -1;
    return atoi(detail.c_str() + at + strlen("retrying in "));
}

const char* const kOffer =
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:video0\r\na=sendonly\r\n"
    "a=rtpmap:96 VP8/90000\r\na=x-test:\"quoted\" \\backslash\\ \xc3\xa9t\xc3\xa9 \t{}[]\r\n";
const char* const kAnswer =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:video0\r\na=recvonly\r\n";


// signalbin-server as a program (SIGNALBIN_SERVER), its output read line by
// line on the test's context. Killed, if still running, when the test ends.
class ServerProgram {
public:
    ServerProgram(GMainContext* context, const std::vector<std::string>& args) : context_(context)
    {
        const char* program = g_getenv("SIGNALBIN_SERVER");
        fail_unless(program != nullptr, "SIGNALBIN_SERVER is not set (meson test sets it)");
        std::vector<const char*> argv = {program};
        for (const std::string& a : args)
            argv.push_back(a.c_str());
        argv.push_back(nullptr);
        GErrorPtr error;
        process_ = adopt_ref(g_subprocess_newv(argv.data(),
                                               static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                             G_SUBPROCESS_FLAGS_STDERR_MERGE),
                                               GErrorOut(error)));
        fail_unless(process_ != nullptr, "cannot start %s: %s", program, error ? error->message : "");
        lines_in_ = adopt_ref(g_data_input_stream_new(g_subprocess_get_stdout_pipe(process_.get())));
        ThreadDefaultContext scope(context_);
        read_next();
    }
    ~ServerProgram()
    {
        if (!ended_)
            g_subprocess_force_exit(process_.get());
        g_cancellable_cancel(cancel_.get());
        wait_until(context_, [&] { return reading_ == false; }, 5000);
    }
    ServerProgram(const ServerProgram&) = delete;
    ServerProgram& operator=(const ServerProgram&) = delete;

    void signal(int number) { g_subprocess_send_signal(process_.get(), number); }
    // Waits for a line holding `part`; returns it, or nothing after 20 s.
    std::optional<std::string> wait_line(const std::string& part)
    {
        std::optional<std::string> found;
        wait_until(context_, [&] {
            for (size_t i = seen_; i < lines_.size(); ++i)
                if (lines_[i].find(part) != std::string::npos) {
                    found = lines_[i];
                    seen_ = i + 1;
                    return true;
                }
            return ended_;
        }, 20000);
        return found;
    }
    // The exit status once the output has ended, or -1 after 20 s.
    int wait_exit()
    {
        wait_until(context_, [&] { return ended_; }, 20000);
        if (!ended_)
            return -1;
        g_subprocess_wait(process_.get(), nullptr, nullptr);
        return g_subprocess_get_if_exited(process_.get()) ? g_subprocess_get_exit_status(process_.get()) : -1;
    }
    std::string output() const
    {
        std::string out;
        for (const std::string& l : lines_)
            out += l + "\n";
        return out;
    }

private:
    void read_next()
    {
        reading_ = true;
        g_data_input_stream_read_line_async(lines_in_.get(), G_PRIORITY_DEFAULT, cancel_.get(), &ServerProgram::on_line,
                                            this);
    }
    static void on_line(GObject* source, GAsyncResult* result, gpointer data)
    {
        auto* self = static_cast<ServerProgram*>(data);
        self->reading_ = false;
        char* line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), result, nullptr, nullptr);
        if (!line) {
            self->ended_ = true;
            return;
        }
        g_debug("signalbin-server: %s", line);
        self->lines_.emplace_back(line);
        g_free(line);
        ThreadDefaultContext scope(self->context_);
        self->read_next();
    }

    GMainContext* context_;
    GRef<GSubprocess> process_;
    GRef<GDataInputStream> lines_in_;
    GRef<GCancellable> cancel_ = adopt_ref(g_cancellable_new());
    std::vector<std::string> lines_;
    size_t seen_ = 0;
    bool reading_ = false;
    bool ended_ = false;
};

// Copies `from` over `to` as a renewal does: a new file renamed into place.
void replace_file(const TempDir& dir, const std::string& from, const std::string& to)
{
    char* contents = nullptr;
    gsize length = 0;
    fail_unless(g_file_get_contents(dir.file(from).c_str(), &contents, &length, nullptr), "read %s", from.c_str());
    GCharPtr owner(contents);
    fail_unless(dir.write(to + ".new", std::string(contents, length)), "write %s", to.c_str());
    fail_unless(g_rename(dir.file(to + ".new").c_str(), dir.file(to).c_str()) == 0, "rename %s", to.c_str());
}

// cert-a/key-a.pem and cert-b/key-b.pem, two different self-signed pairs;
// a's in place as cert.pem and key.pem.
void make_two_certificates(const TempDir& dir)
{
    for (const char* name : {"a", "b"}) {
        Expected<bool> made =
            make_self_signed_certificate(dir, std::string("cert-") + name + ".pem", std::string("key-") + name + ".pem");
        fail_unless(made.ok(), "%s", made.ok() ? "" : made.error().c_str());
    }
    replace_file(dir, "cert-a.pem", "cert.pem");
    replace_file(dir, "key-a.pem", "key.pem");
}

// A peer that trusts only `ca` (a certificate file): connects, or says why not.
std::optional<std::string> connect_trusting(GMainContext* context, const std::string& url, const std::string& ca,
                                            const std::string& token = "")
{
    client::ClientOptions options = TestPeer::options(url);
    options.ca_file = ca;
    options.token = token;
    TestPeer peer(context, options);
    std::optional<std::string> id = peer.connect();
    if (id && !id->empty())
        return std::nullopt;
    return peer.describe();
}
} // namespace

// ---- Registration, listing ----------------------------------------------------

GST_START_TEST(test_welcome_and_listing)
{
    TestContext context;
    auto server = must_start(context);
    fail_unless(server->url() == "ws://127.0.0.1:" + std::to_string(server->port()) + "/", "url() is %s",
                server->url().c_str());
    fail_unless(server->port() != 0, "no port");

    TestPeer listener(context, server->url());
    std::string listener_id = must_connect(listener);
    set_status(listener, {Role::Listener}, {}, &listener);

    TestPeer producer(context, server->url());
    std::string producer_id = must_connect(producer);
    fail_unless(producer_id != listener_id, "two peers got the same id %s", producer_id.c_str());
    fail_unless(producer.all_messages().size() == 1, "more than a welcome:\n%s", producer.describe().c_str());

    fail_unless(producer.send(protocol::SetPeerStatus {{Role::Producer}, json(R"({"name":"cam"})")}), "send");
    auto changed = listener.expect_next<protocol::PeerStatusChanged>();
    fail_unless(changed.has_value(), "no peerStatusChanged:\n%s", listener.describe().c_str());
    fail_unless(changed->peer_id == producer_id, "peerStatusChanged for %s", changed->peer_id.c_str());
    fail_unless(changed->roles == std::vector<Role> {Role::Producer}, "roles changed");
    fail_unless(meta_name(changed->meta) == "cam", "meta is %s", changed->meta.to_string().c_str());

    // The producer is not a listener: it hears nothing of itself.
    std::vector<protocol::PeerInfo> producers = must_list(producer);
    fail_unless(producers.size() == 1, "%zu producers listed", producers.size());
    fail_unless(producers[0].id == producer_id, "listed %s", producers[0].id.c_str());
    fail_unless(meta_name(producers[0].meta) == "cam", "listed meta %s", producers[0].meta.to_string().c_str());

    producers = must_list(listener);
    fail_unless(producers.size() == 1 && producers[0].id == producer_id, "the listener's list differs");

    fail_unless(server->peer_count() == 2, "peer_count() is %zu", server->peer_count());
    fail_unless(producer.invalid().empty() && listener.invalid().empty(), "invalid frames from the server");
}
GST_END_TEST;

// ---- Sessions -------------------------------------------------------------------

GST_START_TEST(test_session_relay)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer producer(context, server->url());
    TestPeer consumer(context, server->url());
    TestPeer listener(context, server->url());
    must_connect(producer);
    must_connect(consumer);
    must_connect(listener);
    set_status(listener, {Role::Listener}, {}, &listener);
    set_status(producer, {Role::Producer}, meta_with("cam"), &listener);

    std::string session = start_session(consumer, producer);
    fail_unless(server->session_count() == 1, "session_count() is %zu", server->session_count());

    const protocol::Peer offer {session, protocol::Sdp {protocol::Sdp::Type::Offer, kOffer}};
    fail_unless(producer.send(offer), "send");
    auto got_offer = consumer.expect_next<protocol::Peer>();
    fail_unless(got_offer.has_value() && *got_offer == offer, "the offer arrived changed or not at all:\n%s",
                consumer.describe().c_str());

    const protocol::Peer answer {session, protocol::Sdp {protocol::Sdp::Type::Answer, kAnswer}};
    fail_unless(consumer.send(answer), "send");
    auto got_answer = producer.expect_next<protocol::Peer>();
    fail_unless(got_answer.has_value() && *got_answer == answer, "the answer arrived changed or not at all:\n%s",
                producer.describe().c_str());

    const protocol::Peer ice_down {
        session, protocol::Ice {"candidate:1 1 UDP 2122252543 192.0.2.1 40000 typ host", 0, std::string("video0")}};
    const protocol::Peer ice_up {session,
                                 protocol::Ice {"candidate:2 1 UDP 1686052607 198.51.100.7 50000 typ srflx raddr "
                                                "0.0.0.0 rport 0",
                                                3, std::nullopt}};
    fail_unless(producer.send(ice_down), "send");
    fail_unless(consumer.send(ice_up), "send");
    auto got_down = consumer.expect_next<protocol::Peer>();
    auto got_up = producer.expect_next<protocol::Peer>();
    fail_unless(got_down.has_value() && *got_down == ice_down, "ICE to the consumer:\n%s", consumer.describe().c_str());
    fail_unless(got_up.has_value() && *got_up == ice_up, "ICE to the producer:\n%s", producer.describe().c_str());

    // A consumer with its own offer: the producer receives it unchanged.
    TestPeer consumer2(context, server->url());
    must_connect(consumer2);
    std::string session2 = start_session(consumer2, producer, std::string(kOffer));
    fail_unless(session2 != session, "two sessions share id %s", session.c_str());
    fail_unless(server->session_count() == 2, "session_count() is %zu", server->session_count());

    // Nobody outside a session heard any of it.
    fail_unless(listener.unread() == 0, "the listener heard more:\n%s", listener.describe().c_str());
    fail_unless(consumer.unread() == 0 && producer.unread() == 0, "extra messages:\n%s\n%s",
                consumer.describe().c_str(), producer.describe().c_str());
}
GST_END_TEST;

GST_START_TEST(test_end_session_versions)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer producer(context, server->url());
    TestPeer old_consumer(context, server->url()); // stays on v1_0
    TestPeer new_consumer(context, server->url()); // v1_1
    must_connect(producer);
    must_connect(old_consumer);
    must_connect(new_consumer);
    fail_unless(new_consumer.send(protocol::SetProtocolVersion {protocol::Version::V1_1}), "send");
    fail_unless(producer.send(protocol::SetPeerStatus {{Role::Producer}, meta_with("cam")}), "send");

    // endSession to a v1_0 peer.
    std::string s1 = start_session(old_consumer, producer);
    fail_unless(producer.send(protocol::EndSession {s1}), "send");
    auto end1 = old_consumer.next_message();
    fail_unless(end1 && std::holds_alternative<protocol::EndSession>(*end1) &&
                    std::get<protocol::EndSession>(*end1).session_id == s1,
                "the v1_0 peer did not get endSession:\n%s", old_consumer.describe().c_str());

    // endSessionV1_1 from the producer still reaches a v1_0 peer as endSession.
    std::string s2 = start_session(old_consumer, producer);
    fail_unless(producer.send(protocol::EndSessionV1_1 {s2, std::string("going away")}), "send");
    auto end2 = old_consumer.expect_next<protocol::EndSession>();
    fail_unless(end2 && end2->session_id == s2, "the v1_0 peer did not get endSession:\n%s",
                old_consumer.describe().c_str());

    // A v1_1 peer gets endSessionV1_1, with the reason when there is one.
    std::string s3 = start_session(new_consumer, producer);
    fail_unless(producer.send(protocol::EndSession {s3}), "send");
    auto end3 = new_consumer.next_message();
    fail_unless(end3 && std::holds_alternative<protocol::EndSessionV1_1>(*end3), "the v1_1 peer got:\n%s",
                new_consumer.describe().c_str());
    fail_unless(std::get<protocol::EndSessionV1_1>(*end3) == (protocol::EndSessionV1_1 {s3, std::nullopt}),
                "wrong endSessionV1_1: %s", protocol::serialize(*end3).c_str());

    std::string s4 = start_session(new_consumer, producer);
    fail_unless(producer.send(protocol::EndSessionV1_1 {s4, std::string("pipeline error")}), "send");
    auto end4 = new_consumer.expect_next<protocol::EndSessionV1_1>();
    fail_unless(end4 && *end4 == (protocol::EndSessionV1_1 {s4, std::string("pipeline error")}),
                "the reason was lost:\n%s", new_consumer.describe().c_str());

    // The other way: the consumer ends, the (v1_0) producer hears endSession.
    std::string s5 = start_session(new_consumer, producer);
    fail_unless(new_consumer.send(protocol::EndSessionV1_1 {s5, std::nullopt}), "send");
    auto end5 = producer.expect_next<protocol::EndSession>();
    fail_unless(end5 && end5->session_id == s5, "the producer did not get endSession:\n%s",
                producer.describe().c_str());

    fail_unless(wait_until(context, [&] { return server->session_count() == 0; }), "%zu sessions left",
                server->session_count());
    // The side that ended a session hears nothing back.
    fail_unless(producer.unread() == 0 && new_consumer.unread() == 0 && old_consumer.unread() == 0,
                "extra messages:\n%s\n%s\n%s", producer.describe().c_str(), new_consumer.describe().c_str(),
                old_consumer.describe().c_str());
}
GST_END_TEST;

GST_START_TEST(test_disconnect_cleanup)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer listener(context, server->url());
    TestPeer producer(context, server->url());
    TestPeer consumer(context, server->url());
    must_connect(listener);
    must_connect(producer);
    must_connect(consumer);
    set_status(listener, {Role::Listener}, {}, &listener);
    set_status(producer, {Role::Producer}, meta_with("cam"), &listener);
    std::string session = start_session(consumer, producer);
    std::string producer_id = producer.id();

    // An orderly close.
    producer.stop();
    auto ended = consumer.expect_next<protocol::EndSession>();
    fail_unless(ended && ended->session_id == session, "the consumer did not get endSession:\n%s",
                consumer.describe().c_str());
    auto gone = listener.expect_next<protocol::PeerStatusChanged>();
    fail_unless(gone && gone->peer_id == producer_id && gone->roles.empty(),
                "the listener did not hear the producer leave:\n%s", listener.describe().c_str());
    fail_unless(meta_name(gone->meta) == "cam", "the last meta is missing: %s", gone->meta.to_string().c_str());
    fail_unless(wait_until(context, [&] { return server->peer_count() == 2 && server->session_count() == 0; }),
                "peer_count() %zu, session_count() %zu", server->peer_count(), server->session_count());
    fail_unless(must_list(consumer).empty(), "the producer is still listed");

    // A producer that vanishes without a close frame.
    auto raw = std::make_unique<RawTcp>(context);
    Expected<bool> connected = raw->connect(server->port());
    fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
    Expected<unsigned> status = raw->websocket_handshake();
    fail_unless(status.ok() && status.value() == 101, "handshake: %s",
                status.ok() ? std::to_string(status.value()).c_str() : status.error().c_str());
    Expected<bool> sent =
        raw->send_text_frame(R"({"type":"setPeerStatus","roles":["producer"],"meta":{"name":"raw"}})");
    fail_unless(sent.ok(), "%s", sent.ok() ? "" : sent.error().c_str());
    auto raw_status = listener.expect_next<protocol::PeerStatusChanged>();
    fail_unless(raw_status && meta_name(raw_status->meta) == "raw", "no status of the raw producer:\n%s",
                listener.describe().c_str());
    std::string raw_id = raw_status->peer_id;
    TestPeer consumer2(context, server->url());
    must_connect(consumer2);
    fail_unless(consumer2.send(protocol::StartSessionRequest {raw_id, std::nullopt}), "send");
    auto started = consumer2.expect_next<protocol::SessionStarted>();
    fail_unless(started.has_value(), "no session with the raw producer:\n%s", consumer2.describe().c_str());

    raw.reset(); // closes the socket, no close frame
    auto ended2 = consumer2.expect_next<protocol::EndSession>();
    fail_unless(ended2 && ended2->session_id == started->session_id, "no endSession after an abrupt close:\n%s",
                consumer2.describe().c_str());
    auto gone2 = listener.expect_next<protocol::PeerStatusChanged>();
    fail_unless(gone2 && gone2->peer_id == raw_id && gone2->roles.empty(), "the raw producer is not gone:\n%s",
                listener.describe().c_str());
    fail_unless(wait_until(context, [&] { return server->peer_count() == 3 && server->session_count() == 0; }),
                "peer_count() %zu, session_count() %zu", server->peer_count(), server->session_count());
}
GST_END_TEST;

// ---- Bad input ------------------------------------------------------------------

GST_START_TEST(test_bad_input)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer listener(context, server->url());
    TestPeer producer(context, server->url());
    TestPeer consumer(context, server->url());
    must_connect(listener);
    must_connect(producer);
    must_connect(consumer);
    set_status(listener, {Role::Listener}, {}, &listener);
    set_status(producer, {Role::Producer}, meta_with("cam"), &listener);
    std::string session = start_session(consumer, producer);
    fail_unless(listener.unread() == 0, "unexpected:\n%s", listener.describe().c_str());

    RawWebSocket sender(context);
    Expected<bool> connected = sender.connect(server->url());
    fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
    // A first message, so that setProtocolVersion below is out of place.
    must_list(sender);

    struct Case {
        std::string text;
        std::vector<std::string> details; // each must appear in the error
    };
    const std::vector<Case> cases = {
        {R"({"type":"list")", {"JSON"}},
        {"not json at all", {"JSON"}},
        {"", {"JSON"}},
        {"[1,2,3]", {"object", "array"}},
        {R"({"sessionId":"x"})", {"\"type\"", "missing"}},
        {R"({"type":"bogus"})", {"\"type\"", "bogus"}},
        {R"({"type":42})", {"\"type\"", "number"}},
        {R"({"type":"startSession"})", {"peerId", "missing"}},
        {R"({"type":"startSession","peerId":42})", {"peerId", "number"}},
        {R"({"type":"setPeerStatus","roles":"producer"})", {"roles"}},
        {R"({"type":"setPeerStatus","roles":["boss"]})", {"roles[0]"}},
        {R"({"type":"peer","sessionId":"x","sdp":{"type":"pranswer","sdp":"v=0"}})", {"sdp.type", "pranswer"}},
        {R"({"type":"peer","sessionId":"x","ice":{"candidate":"c","sdpMLineIndex":-1}})", {"sdpMLineIndex"}},
        {R"({"type":"peer","sessionId":"x"})", {"sdp", "ice"}},
        {R"({"type":"setProtocolVersion","version":"v1_1"})", {"setProtocolVersion", "first"}},
        {R"({"type":"peer","sessionId":")" + session + R"(","sdp":{"type":"offer","sdp":"v=0"}})",
         {"not in a session", session}},
        {R"({"type":"peer","sessionId":")" + session + R"(","ice":{"candidate":"c","sdpMLineIndex":0}})",
         {"not in a session", session}},
        {R"({"type":"endSession","sessionId":")" + session + R"("})", {"endSession", "not in a session", session}},
        {R"({"type":"endSessionV1_1","sessionId":")" + session + R"(","error":"no"})",
         {"endSession", "not in a session", session}},
        {R"({"type":"endSession","sessionId":"no-such-session"})", {"no-such-session"}},
        {R"({"type":"startSession","peerId":"no-such-peer"})", {"no peer", "no-such-peer"}},
        {R"({"type":"startSession","peerId":")" + listener.id() + R"("})", {"not a producer", listener.id()}},
        {R"({"type":"startSession","peerId":")" + consumer.id() + R"("})", {"not a producer", consumer.id()}},
        {R"({"type":"startSession","peerId":")" + sender.id() + R"("})", {"itself"}},
    };
    for (const Case& c : cases) {
        sender.send_text(c.text);
        auto error = sender.expect_next<protocol::Error>();
        fail_unless(error.has_value(), "no error for %s:\n%s", c.text.c_str(), sender.describe().c_str());
        for (const std::string& part : c.details)
            fail_unless(contains(error->details, part), "the error for %s does not mention %s: %s", c.text.c_str(),
                        part.c_str(), error->details.c_str());
        // The connection stays open and usable.
        must_list(sender);
    }
    sender.send_binary("\x01\x02\x03");
    auto binary_error = sender.expect_next<protocol::Error>();
    fail_unless(binary_error && contains(binary_error->details, "binary"), "no error for a binary frame:\n%s",
                sender.describe().c_str());
    must_list(sender);
    fail_unless(!sender.closed(), "the server closed the connection (code %u)", sender.close_code());
    fail_unless(sender.invalid().empty(), "the server sent invalid frames:\n%s", sender.describe().c_str());

    // Nobody else heard anything. Each of them now gets one message sent after
    // all of the above: it must be the very next one they see.
    const protocol::Peer down {session, protocol::Ice {"candidate:barrier 1", 0, std::nullopt}};
    const protocol::Peer up {session, protocol::Ice {"candidate:barrier 2", 0, std::nullopt}};
    fail_unless(producer.send(down), "send");
    auto got_down = consumer.next_message();
    fail_unless(got_down && std::holds_alternative<protocol::Peer>(*got_down) &&
                    std::get<protocol::Peer>(*got_down) == down,
                "the consumer heard something else first:\n%s", consumer.describe().c_str());
    fail_unless(consumer.send(up), "send");
    auto got_up = producer.next_message();
    fail_unless(got_up && std::holds_alternative<protocol::Peer>(*got_up) && std::get<protocol::Peer>(*got_up) == up,
                "the producer heard something else first:\n%s", producer.describe().c_str());
    fail_unless(producer.send(protocol::SetPeerStatus {{Role::Producer}, meta_with("barrier")}), "send");
    auto got_status = listener.next_message();
    fail_unless(got_status && std::holds_alternative<protocol::PeerStatusChanged>(*got_status) &&
                    meta_name(std::get<protocol::PeerStatusChanged>(*got_status).meta) == "barrier",
                "the listener heard something else first:\n%s", listener.describe().c_str());
    fail_unless(server->peer_count() == 4 && server->session_count() == 1, "peer_count() %zu, session_count() %zu",
                server->peer_count(), server->session_count());
}
GST_END_TEST;

// ---- Limits -----------------------------------------------------------------------

GST_START_TEST(test_frame_too_large)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.max_message_bytes = 4096;
    auto server = must_start(context, options);
    TestPeer other(context, server->url());
    must_connect(other);

    // A frame of exactly the limit is fine (unknown fields are ignored)...
    RawWebSocket raw(context);
    Expected<bool> connected = raw.connect(server->url());
    fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
    const std::string head = R"({"type":"list","pad":")";
    const std::string tail = R"("})";
    std::string at_limit = head + std::string(4096 - head.size() - tail.size(), 'x') + tail;
    fail_unless(at_limit.size() == 4096, "size %zu", at_limit.size());
    raw.send_text(at_limit);
    fail_unless(raw.expect_next<protocol::List>().has_value(), "a frame at the limit was refused:\n%s",
                raw.describe().c_str());
    // ...one byte more closes the connection with 1009.
    std::string over = head + std::string(4097 - head.size() - tail.size(), 'x') + tail;
    raw.send_text(over);
    fail_unless(raw.wait_closed(), "not closed after %zu bytes:\n%s", over.size(), raw.describe().c_str());
    fail_unless(raw.close_code() == SOUP_WEBSOCKET_CLOSE_TOO_BIG, "close code %u, expected 1009", raw.close_code());

    // Far over the limit: most of it is still unread when the server closes.
    RawWebSocket huge(context);
    connected = huge.connect(server->url());
    fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
    huge.send_text(head + std::string(1024 * 1024, 'x') + tail);
    fail_unless(huge.wait_closed(), "not closed after 1 MiB:\n%s", huge.describe().c_str());
    fail_unless(huge.close_code() == SOUP_WEBSOCKET_CLOSE_TOO_BIG, "close code %u after 1 MiB, expected 1009",
                huge.close_code());

    // The same through the client: the state says why.
    TestPeer big(context, server->url());
    must_connect(big);
    fail_unless(big.send(protocol::SetPeerStatus {{Role::Producer}, meta_with("big", std::string(8000, 'b'))}),
                "send");
    std::optional<std::string> detail = big.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "code 1009"), "no 1009 close:\n%s", big.describe().c_str());

    fail_unless(wait_until(context, [&] { return server->peer_count() == 1; }), "peer_count() is %zu",
                server->peer_count());
    fail_unless(must_list(other).empty(), "the oversized status was applied");
    fail_unless(other.state() == State::Connected, "the other peer suffered");
}
GST_END_TEST;

GST_START_TEST(test_rate_limit)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.rate_limit = 5;
    options.rate_burst = 5;
    options.rate_limit_grace_ms = 300;
    auto server = must_start(context, options);
    TestPeer flooder(context, server->url());
    TestPeer other(context, server->url());
    must_connect(flooder);
    must_connect(other);

    const int burst = 40;
    for (int i = 0; i < burst; ++i)
        fail_unless(flooder.send(protocol::ListRequest {}), "send");
    auto error = flooder.wait_message<protocol::Error>();
    fail_unless(error && contains(error->details, "rate limit"), "no rate limit error:\n%s",
                flooder.describe().c_str());
    size_t answered = 0;
    for (const auto& m : flooder.all_messages())
        answered += std::holds_alternative<protocol::List>(m) ? 1 : 0;
    fail_unless(answered < size_t(burst), "all %d messages were answered", burst);
    fail_unless(flooder.state() == State::Connected, "closed at once instead of warned");

    // Someone else is not limited by it.
    must_list(other);

    // Going on past the grace period closes the connection with 1008.
    ScopedSource flood = ScopedSource::timeout(context, 10, [&] { return flooder.send(protocol::ListRequest {}); });
    std::optional<std::string> detail = flooder.wait_state(State::Closed);
    flood.cancel();
    fail_unless(detail && contains(*detail, "code 1008"), "no 1008 close:\n%s", flooder.describe().c_str());
    size_t errors = 0;
    for (const auto& m : flooder.all_messages())
        errors += std::holds_alternative<protocol::Error>(m) ? 1 : 0;
    fail_unless(errors == 1, "%zu rate limit errors, expected one warning", errors);

    must_list(other);
    fail_unless(other.state() == State::Connected, "the other peer suffered");
    fail_unless(wait_until(context, [&] { return server->peer_count() == 1; }), "peer_count() is %zu",
                server->peer_count());
}
GST_END_TEST;

GST_START_TEST(test_slow_reader)
{
    TestContext context;
    server::ServerOptions options = server_options();
    // Several broadcasts' worth, so a fast peer whose acknowledgements lag
    // a little (a loaded machine defers loopback's softirq work) is never
    // taken for a slow one: it has at most two 32 KiB messages in flight.
    options.max_outbound_bytes = 256 * 1024;
    options.rate_limit = 100000;
    options.rate_burst = 100000;
    auto server = must_start(context, options);
    TestPeer listener(context, server->url());
    TestPeer producer(context, server->url());
    must_connect(listener);
    must_connect(producer);
    set_status(listener, {Role::Listener}, {}, &listener);

    // A listener with a tiny receive window that never reads.
    RawTcp slow(context);
    Expected<bool> connected = slow.connect(server->port(), 4096);
    fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
    Expected<unsigned> status = slow.websocket_handshake();
    fail_unless(status.ok() && status.value() == 101, "handshake: %s",
                status.ok() ? std::to_string(status.value()).c_str() : status.error().c_str());
    Expected<bool> sent = slow.send_text_frame(R"({"type":"setPeerStatus","roles":["listener"],"meta":null})");
    fail_unless(sent.ok(), "%s", sent.ok() ? "" : sent.error().c_str());
    std::string listener_id = listener.id();
    auto slow_status = listener.wait_message<protocol::PeerStatusChanged>(
        [&](const protocol::PeerStatusChanged& m) { return m.peer_id != listener_id; });
    fail_unless(slow_status.has_value(), "the slow peer did not register:\n%s", listener.describe().c_str());
    fail_unless(server->peer_count() == 3, "peer_count() is %zu", server->peer_count());

    // Large broadcasts until the server gives up on the slow peer; each one
    // is awaited at the fast listener, so the server has sent it to both.
    const std::string blobs[2] = {std::string(32 * 1024, 'a'), std::string(32 * 1024, 'b')};
    const int64_t deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    int sent_count = 0;
    while (server->peer_count() == 3 && sent_count < 500 && g_get_monotonic_time() < deadline) {
        std::string name = "n" + std::to_string(sent_count);
        set_status(producer, {Role::Producer}, meta_with(name, blobs[sent_count % 2]), &listener);
        ++sent_count;
    }
    g_debug("slow peer dropped after %d broadcasts of 32 KiB", sent_count);
    fail_unless(server->peer_count() == 2, "the slow peer was not dropped after %d broadcasts of 32 KiB",
                sent_count);

    // The fast peers keep working.
    set_status(producer, {Role::Producer}, meta_with("after"), &listener);
    fail_unless(must_list(producer).size() == 1, "the producer is not listed");
    fail_unless(listener.state() == State::Connected && producer.state() == State::Connected, "a fast peer suffered");

    // And the slow peer's socket was closed: once it reads, it reaches the end.
    fail_unless(slow.read_until([&] { return slow.at_end(); }), "the slow peer's socket is still open after %zu bytes",
                slow.received().size());
}
GST_END_TEST;

GST_START_TEST(test_max_peers)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.max_peers = 2;
    auto server = must_start(context, options);
    TestPeer first(context, server->url());
    TestPeer second(context, server->url());
    TestPeer third(context, server->url());
    must_connect(first);
    must_connect(second);

    third.start();
    std::optional<std::string> detail = third.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "503"), "the third peer was not refused with 503:\n%s",
                third.describe().c_str());
    fail_unless(third.all_messages().empty(), "the third peer heard something");
    fail_unless(server->peer_count() == 2, "peer_count() is %zu", server->peer_count());
    must_list(first);
    must_list(second);

    // Room again once one leaves.
    first.stop();
    fail_unless(wait_until(context, [&] { return server->peer_count() == 1; }), "peer_count() is %zu",
                server->peer_count());
    TestPeer fourth(context, server->url());
    must_connect(fourth);
    must_list(fourth);
}
GST_END_TEST;

// ---- Authentication, TLS ------------------------------------------------------

GST_START_TEST(test_token)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.token = "s3cret-token";
    auto server = must_start(context, options);

    TestPeer none(context, server->url());
    none.start();
    std::optional<std::string> detail = none.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "401"), "no token but not refused with 401:\n%s", none.describe().c_str());

    client::ClientOptions wrong_options = TestPeer::options(server->url());
    wrong_options.token = "s3cret-tokeX";
    TestPeer wrong(context, wrong_options);
    wrong.start();
    detail = wrong.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "401"), "wrong token but not refused with 401:\n%s",
                wrong.describe().c_str());

    client::ClientOptions prefix_options = TestPeer::options(server->url());
    prefix_options.token = "s3cret";
    TestPeer prefix(context, prefix_options);
    prefix.start();
    detail = prefix.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "401"), "a prefix of the token was accepted:\n%s",
                prefix.describe().c_str());

    client::ClientOptions right_options = TestPeer::options(server->url());
    right_options.token = "s3cret-token";
    TestPeer right(context, right_options);
    must_connect(right);

    TestPeer query(context, server->url() + "?token=s3cret-token");
    must_connect(query);
    TestPeer wrong_query(context, server->url() + "?token=nope");
    wrong_query.start();
    detail = wrong_query.wait_state(State::Closed);
    fail_unless(detail && contains(*detail, "401"), "wrong ?token= but not refused with 401:\n%s",
                wrong_query.describe().c_str());

    fail_unless(server->peer_count() == 2, "peer_count() is %zu", server->peer_count());
    must_list(right);
    must_list(query);
}
GST_END_TEST;

GST_START_TEST(test_tls)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    Expected<bool> made = make_self_signed_certificate(dir);
    fail_unless(made.ok(), "%s", made.ok() ? "" : made.error().c_str());
    server::ServerOptions options = server_options();
    options.cert_file = dir.file("cert.pem");
    options.key_file = dir.file("key.pem");
    auto server = must_start(context, options);
    fail_unless(server->tls(), "tls() is false");
    fail_unless(g_str_has_prefix(server->url().c_str(), "wss://127.0.0.1:"), "url() is %s", server->url().c_str());

    client::ClientOptions trusted = TestPeer::options(server->url());
    trusted.ca_file = dir.file("cert.pem");
    TestPeer with_ca(context, trusted);
    must_connect(with_ca);
    must_list(with_ca);

    TestPeer untrusted(context, server->url());
    untrusted.start();
    std::optional<std::string> detail = untrusted.wait_state(State::Closed);
    fail_unless(detail && contains_nocase(*detail, "certificate"), "an unknown certificate was accepted:\n%s",
                untrusted.describe().c_str());

    client::ClientOptions insecure = TestPeer::options(server->url());
    insecure.insecure = true;
    TestPeer anything_goes(context, insecure);
    must_connect(anything_goes);

    // Plain ws:// to a TLS port gets nowhere.
    std::string plain_url = "ws://127.0.0.1:" + std::to_string(server->port()) + "/";
    TestPeer plain(context, plain_url);
    plain.start();
    fail_unless(plain.wait_state(State::Closed).has_value(), "plain ws on a TLS port:\n%s", plain.describe().c_str());
    fail_unless(plain.all_messages().empty(), "plain ws on a TLS port got messages");
    fail_unless(server->peer_count() == 2, "peer_count() is %zu", server->peer_count());
}
GST_END_TEST;

GST_START_TEST(test_tls_bad_files)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    Expected<bool> made = make_self_signed_certificate(dir);
    fail_unless(made.ok(), "%s", made.ok() ? "" : made.error().c_str());
    fail_unless(dir.write("garbage.pem", "this is not a certificate\n"), "write");

    // A port known to be free: nothing may listen on it after a failure.
    unsigned port = 0;
    {
        auto probe = must_start(context);
        port = probe->port();
    }

    struct Case {
        std::string cert, key, named;
    };
    const std::vector<Case> cases = {
        {dir.file("missing.pem"), dir.file("key.pem"), dir.file("missing.pem")},
        {dir.file("cert.pem"), dir.file("missing-key.pem"), dir.file("missing-key.pem")},
        {dir.file("garbage.pem"), dir.file("key.pem"), dir.file("garbage.pem")},
        {dir.file("cert.pem"), dir.file("garbage.pem"), dir.file("garbage.pem")},
    };
    for (const Case& c : cases) {
        server::ServerOptions options = server_options();
        options.port = port;
        options.cert_file = c.cert;
        options.key_file = c.key;
        Expected<std::unique_ptr<server::Server>> started = start_server(context, options);
        fail_unless(!started.ok(), "the server started with cert %s, key %s", c.cert.c_str(), c.key.c_str());
        fail_unless(contains(started.error(), c.named), "the error does not name %s: %s", c.named.c_str(),
                    started.error().c_str());

        // No fallback to plain ws.
        TestPeer peer(context, "ws://127.0.0.1:" + std::to_string(port) + "/");
        peer.start();
        std::optional<std::string> detail = peer.wait_state(State::Closed);
        fail_unless(detail.has_value() && peer.all_messages().empty(), "something listens on %u:\n%s", port,
                    peer.describe().c_str());
    }

    // A certificate without a key, or the other way round.
    server::ServerOptions half = server_options();
    half.cert_file = dir.file("cert.pem");
    Expected<std::unique_ptr<server::Server>> started = start_server(context, half);
    fail_unless(!started.ok(), "the server started with a certificate but no key");
}
GST_END_TEST;

// A renewed certificate (mkcert, ACME) is picked up without dropping anyone.
GST_START_TEST(test_tls_reload)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    make_two_certificates(dir);
    server::ServerOptions options = server_options();
    options.cert_file = dir.file("cert.pem");
    options.key_file = dir.file("key.pem");
    auto server = must_start(context, options);

    client::ClientOptions trusts_a = TestPeer::options(server->url());
    trusts_a.ca_file = dir.file("cert-a.pem");
    TestPeer kept(context, trusts_a);
    must_connect(kept);

    replace_file(dir, "cert-b.pem", "cert.pem");
    replace_file(dir, "key-b.pem", "key.pem");
    Expected<bool> reloaded = server->reload_certificate();
    fail_unless(reloaded.ok(), "reload failed: %s", reloaded.ok() ? "" : reloaded.error().c_str());
    std::optional<std::string> refused = connect_trusting(context, server->url(), dir.file("cert-b.pem"));
    fail_unless(!refused, "a peer trusting the new certificate was refused:\n%s", refused ? refused->c_str() : "");
    refused = connect_trusting(context, server->url(), dir.file("cert-a.pem"));
    fail_unless(refused && contains_nocase(*refused, "certificate"), "a new connection still got the old certificate");
    must_list(kept);

    // A broken renewal changes nothing.
    fail_unless(dir.write("key.pem", "not a key\n"), "write");
    reloaded = server->reload_certificate();
    fail_unless(!reloaded.ok() && contains(reloaded.error(), dir.file("key.pem")) &&
                    contains(reloaded.error(), "previous certificate stays"),
                "a broken key was not refused clearly: %s", reloaded.ok() ? "(accepted)" : reloaded.error().c_str());
    refused = connect_trusting(context, server->url(), dir.file("cert-b.pem"));
    fail_unless(!refused, "after a failed reload:\n%s", refused ? refused->c_str() : "");
    must_list(kept);

    // Plain servers have nothing to reload and say so.
    auto plain = must_start(context);
    reloaded = plain->reload_certificate();
    fail_unless(!reloaded.ok() && contains(reloaded.error(), "does not serve TLS"), "plain server reload");
}
GST_END_TEST;

// The program: a configuration file, the command line over it, SIGHUP
// reloading the certificate, SIGTERM ending it with 0.
GST_START_TEST(test_server_program)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    make_two_certificates(dir);
    fail_unless(dir.write("server.conf", "# as /etc/signalbin/server.conf\n[server]\nhost=127.0.0.1\nport=0\n"
                                         "cert=" + dir.file("cert.pem") + "\nkey=" + dir.file("key.pem") +
                                         "\ntoken=from-the-file\nmax-peers=3\n"),
                "write");
    ServerProgram program(context, {"--config", dir.file("server.conf"), "--token", "from-the-command-line"});
    std::optional<std::string> listening = program.wait_line("listening on wss://127.0.0.1:");
    fail_unless(listening.has_value(), "no listening line:\n%s", program.output().c_str());
    std::string url = listening->substr(listening->find("wss://"));

    std::optional<std::string> refused = connect_trusting(context, url, dir.file("cert-a.pem"), "from-the-file");
    fail_unless(refused && contains(*refused, "401"), "the file's token was used over the command line's");
    client::ClientOptions options = TestPeer::options(url);
    options.ca_file = dir.file("cert-a.pem");
    options.token = "from-the-command-line";
    TestPeer kept(context, options);
    must_connect(kept);

    replace_file(dir, "cert-b.pem", "cert.pem");
    replace_file(dir, "key-b.pem", "key.pem");
    program.signal(SIGHUP);
    fail_unless(program.wait_line("SIGHUP: reloaded the TLS certificate").has_value(), "no reload line:\n%s",
                program.output().c_str());
    refused = connect_trusting(context, url, dir.file("cert-b.pem"), "from-the-command-line");
    fail_unless(!refused, "the renewed certificate is not served:\n%s", refused ? refused->c_str() : "");
    must_list(kept);

    fail_unless(dir.write("cert.pem", "half-written\n"), "write");
    program.signal(SIGHUP);
    std::optional<std::string> failed = program.wait_line("SIGHUP: cannot load the TLS certificate");
    fail_unless(failed && contains(*failed, "previous certificate stays"), "no clear reload error:\n%s",
                program.output().c_str());
    must_list(kept);

    program.signal(SIGTERM);
    fail_unless(program.wait_exit() == 0, "SIGTERM did not end it with 0:\n%s", program.output().c_str());
}
GST_END_TEST;

// Mistakes in the file stop the program before it listens, naming the key.
GST_START_TEST(test_server_program_bad_config)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    fail_unless(dir.write("server.conf", "[server]\nport=0\nmax-peer=10\n"), "write");
    ServerProgram program(context, {"--config", dir.file("server.conf")});
    std::optional<std::string> line = program.wait_line("unknown key \"max-peer\"");
    fail_unless(line && contains(*line, dir.file("server.conf")), "no clear error:\n%s", program.output().c_str());
    fail_unless(program.wait_exit() == 2, "exit status is not 2:\n%s", program.output().c_str());

    // Values out of range on the command line too, never taken for "not given".
    for (const char* bad : {"--port=-1", "--max-peers=-1", "--rate-limit=-1", "--rate-burst=0"}) {
        ServerProgram refused(context, {"--port=0", bad});
        fail_unless(refused.wait_line("must be").has_value(), "%s: no clear error:\n%s", bad, refused.output().c_str());
        fail_unless(refused.wait_exit() == 2, "%s: exit status is not 2", bad);
    }

    ServerProgram missing(context, {"--config", dir.file("absent.conf")});
    fail_unless(missing.wait_line("cannot read the configuration file").has_value(), "no clear error:\n%s",
                missing.output().c_str());
    fail_unless(missing.wait_exit() == 2, "exit status is not 2");
}
GST_END_TEST;

// ---- WHEP ---------------------------------------------------------------------

const char* kWhepOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
                         "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
                         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
                         "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n";
const char* kWhepAnswer = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
                          "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
                          "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n";

std::string http_url(const server::Server& server, const std::string& path)
{
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
}

// A producer named `name`, registered once the server has processed it.
void must_produce(TestPeer& producer, const std::string& name)
{
    must_connect(producer);
    fail_unless(producer.send(protocol::SetPeerStatus {{Role::Producer}, meta_with(name)}), "send");
    must_list(producer); // in order on its connection: the status is in
}

// The producer's side of a WHEP session: the startSession with the player's
// offer; returns its session id.
std::string must_be_asked(TestPeer& producer)
{
    auto start = producer.expect_next<protocol::StartSession>();
    fail_unless(start.has_value(), "the producer was not asked:\n%s", producer.describe().c_str());
    fail_unless(start->offer == std::optional<std::string>(kWhepOffer), "the player's offer did not reach it");
    fail_unless(g_str_has_prefix(start->peer_id.c_str(), "whep-"), "the player's peer id is %s",
                start->peer_id.c_str());
    return start->session_id;
}

GST_START_TEST(test_whep_session)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer producer(context, server->url());
    must_produce(producer, "cam");

    HttpCall post(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
    std::string session = must_be_asked(producer);
    fail_unless(!post.done(), "the POST was answered before the producer answered");
    fail_unless(producer.send(protocol::Peer {session, protocol::Sdp {protocol::Sdp::Type::Answer, kWhepAnswer}}),
                "send");
    fail_unless(producer.send(protocol::Peer {session, protocol::Ice {"candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host", 0, std::nullopt}}), "send");
    fail_unless(producer.send(protocol::Peer {session, protocol::Ice {"candidate:2 1 UDP 2015363327 127.0.0.1 40002 typ host", 1, std::nullopt}}), "send");
    fail_unless(producer.send(protocol::Peer {session, protocol::Ice {"", 0, std::nullopt}}), "send");
    Expected<HttpResponse> created = post.wait();
    fail_unless(created.ok(), "%s", created.ok() ? "" : created.error().c_str());
    const HttpResponse& r = created.value();
    fail_unless(r.status == 201, "POST answered %u: %s", r.status, r.body.c_str());
    fail_unless(r.content_type == "application/sdp", "content type %s", r.content_type.c_str());
    std::string location = r.header("location");
    fail_unless(g_str_has_prefix(location.c_str(), "/whep/session/"), "Location: %s", location.c_str());
    fail_unless(r.header("access-control-allow-origin") == "*", "no CORS header");
    fail_unless(contains(r.header("access-control-expose-headers"), "Location"), "Location not exposed to scripts");
    size_t audio = r.body.find("m=audio");
    fail_unless(r.body.find("a=candidate:1 ") < audio && r.body.find("a=candidate:2 ") > audio,
                "the candidates are not in their sections:\n%s", r.body.c_str());
    fail_unless(contains(r.body, "a=end-of-candidates"), "no end-of-candidates:\n%s", r.body.c_str());

    // Trickle from the player to the producer.
    HttpCall patch(context, "PATCH", http_url(*server, location), "application/trickle-ice-sdpfrag",
                   "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                   "a=mid:1\r\na=candidate:7 1 udp 2122260223 10.0.0.2 50000 typ host\r\n");
    Expected<HttpResponse> patched = patch.wait();
    fail_unless(patched.ok() && patched.value().status == 204, "PATCH: %s",
                patched.ok() ? patched.value().body.c_str() : patched.error().c_str());
    auto ice = producer.expect_next<protocol::Peer>();
    fail_unless(ice.has_value(), "no candidate reached the producer:\n%s", producer.describe().c_str());
    const auto* candidate = std::get_if<protocol::Ice>(&ice->payload);
    fail_unless(candidate && candidate->sdp_mline_index == 1 &&
                    candidate->candidate == "candidate:7 1 udp 2122260223 10.0.0.2 50000 typ host",
                "the candidate arrived wrong");

    // CORS preflight, as a browser on another origin sends it.
    HttpCall options(context, "OPTIONS", http_url(*server, location));
    Expected<HttpResponse> preflight = options.wait();
    fail_unless(preflight.ok() && preflight.value().status == 204 &&
                    contains(preflight.value().header("access-control-allow-methods"), "PATCH") &&
                    contains(preflight.value().header("access-control-allow-headers"), "Content-Type"),
                "preflight");

    HttpCall del(context, "DELETE", http_url(*server, location));
    Expected<HttpResponse> deleted = del.wait();
    fail_unless(deleted.ok() && deleted.value().status == 200, "DELETE");
    auto ended = producer.expect_next<protocol::EndSession>();
    fail_unless(ended && ended->session_id == session, "the producer did not hear the end:\n%s",
                producer.describe().c_str());
    HttpCall gone(context, "PATCH", http_url(*server, location), "application/trickle-ice-sdpfrag", "a=mid:0\r\n");
    Expected<HttpResponse> after = gone.wait();
    fail_unless(after.ok() && after.value().status == 404, "a deleted session still takes PATCH");
    fail_unless(wait_until(context, [&] { return server->session_count() == 0; }), "sessions left");
}
GST_END_TEST;

// Every way a WHEP request goes wrong gets its status and a reason.
GST_START_TEST(test_whep_refusals)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.whep_answer_timeout_ms = 300;
    options.max_peers = 3;
    auto server = must_start(context, options);
    TestPeer producer(context, server->url());
    must_produce(producer, "cam");

    struct Case {
        const char* method;
        const char* path;
        const char* type;
        const char* body;
        unsigned status;
        const char* says;
    };
    const Case cases[] = {
        {"POST", "/whep/nobody", "application/sdp", kWhepOffer, 404, "no producer named \"nobody\""},
        {"POST", "/whep/cam", "application/json", "{}", 415, "application/sdp"},
        {"POST", "/whep/cam", "application/sdp", "hello", 400, "v=0"},
        {"GET", "/whep/cam", "", "", 405, "POST an SDP offer"},
        {"POST", "/whep/", "application/sdp", kWhepOffer, 404, "/whep/<producer name or id>"},
        {"PATCH", "/whep/session/nope", "application/trickle-ice-sdpfrag", "a=mid:0\r\n", 404, "no WHEP session"},
    };
    for (const Case& c : cases) {
        HttpCall call(context, c.method, http_url(*server, c.path), c.type, c.body);
        Expected<HttpResponse> r = call.wait();
        fail_unless(r.ok(), "%s %s: %s", c.method, c.path, r.ok() ? "" : r.error().c_str());
        fail_unless(r.value().status == c.status && contains(r.value().body, c.says), "%s %s: %u %s", c.method,
                    c.path, r.value().status, r.value().body.c_str());
    }

    // The producer refuses (nothing it can send was offered): 422 with its reason.
    {
        HttpCall post(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        std::string session = must_be_asked(producer);
        fail_unless(producer.send(protocol::EndSessionV1_1 {session, "no codec in common"}), "send");
        Expected<HttpResponse> r = post.wait();
        fail_unless(r.ok() && r.value().status == 422 && contains(r.value().body, "the producer ended the session"),
                    "refusal: %s", r.ok() ? r.value().body.c_str() : r.error().c_str());
    }
    // No answer in time: 504, and the producer hears the end.
    {
        HttpCall post(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        std::string session = must_be_asked(producer);
        Expected<HttpResponse> r = post.wait();
        fail_unless(r.ok() && r.value().status == 504 && contains(r.value().body, "did not answer"), "timeout: %s",
                    r.ok() ? r.value().body.c_str() : r.error().c_str());
        auto ended = producer.expect_next<protocol::EndSession>();
        fail_unless(ended && ended->session_id == session, "no endSession after the timeout");
    }
    // A player that goes away before its answer ends its session.
    {
        auto post = std::make_unique<HttpCall>(context, "POST", http_url(*server, "/whep/cam"), "application/sdp",
                                               kWhepOffer);
        std::string session = must_be_asked(producer);
        post->cancel();
        auto ended = producer.expect_next<protocol::EndSession>();
        fail_unless(ended && ended->session_id == session, "no endSession after the player left");
    }
    // The limit: 503 with Retry-After.
    {
        HttpCall a(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        must_be_asked(producer);
        HttpCall b(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        must_be_asked(producer);
        HttpCall c(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        must_be_asked(producer);
        HttpCall d(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
        Expected<HttpResponse> r = d.wait();
        fail_unless(r.ok() && r.value().status == 503 && r.value().header("retry-after") == "5" &&
                        contains(r.value().body, "too many WHIP and WHEP sessions"),
                    "limit: %s", r.ok() ? r.value().body.c_str() : r.error().c_str());
    }
    fail_unless(wait_until(context, [&] { return server->session_count() == 0; }), "%zu sessions left",
                server->session_count());
}
GST_END_TEST;

// The WHIP publisher as a producer: its peer id once a listener hears it
// register as `name`.
std::string must_hear_publisher(TestPeer& listener, const std::string& name)
{
    auto seen = listener.wait_message<protocol::PeerStatusChanged>([&](const protocol::PeerStatusChanged& m) {
        return m.meta.string_member("name") == name && m.roles == std::vector<Role> {Role::Producer};
    });
    fail_unless(seen.has_value(), "no producer \"%s\" appeared:\n%s", name.c_str(), listener.describe().c_str());
    fail_unless(g_str_has_prefix(seen->peer_id.c_str(), "whip-"), "its peer id is %s", seen->peer_id.c_str());
    return seen->peer_id;
}

// `consumer` starts a session with the publisher and gets its held offer.
std::string must_get_offer(TestPeer& consumer, const std::string& publisher)
{
    fail_unless(consumer.send(protocol::StartSessionRequest {publisher, std::nullopt}), "send");
    auto started = consumer.expect_next<protocol::SessionStarted>();
    fail_unless(started.has_value(), "no sessionStarted:\n%s", consumer.describe().c_str());
    auto offer = consumer.expect_next<protocol::Peer>();
    fail_unless(offer.has_value() && offer->session_id == started->session_id, "no offer:\n%s",
                consumer.describe().c_str());
    const auto* sdp = std::get_if<protocol::Sdp>(&offer->payload);
    fail_unless(sdp && sdp->type == protocol::Sdp::Type::Offer && sdp->sdp == kWhepOffer,
                "the publisher's offer did not arrive as it was sent");
    return started->session_id;
}

void must_answer(TestPeer& consumer, const std::string& session)
{
    fail_unless(consumer.send(protocol::Peer {session, protocol::Sdp {protocol::Sdp::Type::Answer, kWhepAnswer}}),
                "send");
    fail_unless(consumer.send(protocol::Peer {session, protocol::Ice {"candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host", 0, std::nullopt}}), "send");
    fail_unless(consumer.send(protocol::Peer {session, protocol::Ice {"", 0, std::nullopt}}), "send");
}

GST_START_TEST(test_whip_session)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer listener(context, server->url());
    must_connect(listener);
    set_status(listener, {Role::Listener}, protocol::Json());

    HttpCall post(context, "POST", http_url(*server, "/whip/phone"), "application/sdp", kWhepOffer);
    std::string publisher = must_hear_publisher(listener, "phone");

    // Nobody watches yet: the POST waits; the name is taken.
    HttpCall early(context, "POST", http_url(*server, "/whip/phone"), "application/sdp", kWhepOffer);
    Expected<HttpResponse> taken = early.wait();
    fail_unless(taken.ok() && taken.value().status == 409 && contains(taken.value().body, "already publishing"),
                "a second publisher with the name: %s", taken.ok() ? taken.value().body.c_str() : taken.error().c_str());
    fail_unless(!post.done(), "the POST was answered with no consumer");

    // A WHEP player offers too: it cannot be served, and the publisher waits on.
    HttpCall player(context, "POST", http_url(*server, "/whep/phone"), "application/sdp", kWhepOffer);
    Expected<HttpResponse> refused_player = player.wait();
    fail_unless(refused_player.ok() && refused_player.value().status == 422 &&
                    contains(refused_player.value().body, "cannot answer"),
                "a WHEP player of a WHIP publisher: %s",
                refused_player.ok() ? refused_player.value().body.c_str() : refused_player.error().c_str());
    fail_unless(!post.done(), "the WHIP POST was answered after the WHEP player");

    // A consumer that leaves before answering: the publisher waits for the next.
    {
        TestPeer quitter(context, server->url());
        must_connect(quitter);
        must_get_offer(quitter, publisher);
    }
    TestPeer consumer(context, server->url());
    must_connect(consumer);
    std::string session = must_get_offer(consumer, publisher);
    must_answer(consumer, session);
    Expected<HttpResponse> created = post.wait();
    fail_unless(created.ok(), "%s", created.ok() ? "" : created.error().c_str());
    const HttpResponse& r = created.value();
    fail_unless(r.status == 201, "POST answered %u: %s", r.status, r.body.c_str());
    std::string location = r.header("location");
    fail_unless(g_str_has_prefix(location.c_str(), "/whip/session/"), "Location: %s", location.c_str());
    fail_unless(contains(r.body, "a=sendonly") && contains(r.body, "a=candidate:1 ") &&
                    contains(r.body, "a=end-of-candidates"),
                "the consumer's answer with its candidates:\n%s", r.body.c_str());

    // Trickle from the publisher reaches its consumer.
    HttpCall trickle(context, "PATCH", http_url(*server, location), "application/trickle-ice-sdpfrag",
                     "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=candidate:8 1 udp 2122260223 10.0.0.3 50000 typ host\r\n");
    Expected<HttpResponse> patched = trickle.wait();
    fail_unless(patched.ok() && patched.value().status == 204, "PATCH");
    auto ice = consumer.expect_next<protocol::Peer>();
    fail_unless(ice && std::get_if<protocol::Ice>(&ice->payload) &&
                    std::get<protocol::Ice>(ice->payload).candidate ==
                        "candidate:8 1 udp 2122260223 10.0.0.3 50000 typ host",
                "the trickled candidate:\n%s", consumer.describe().c_str());

    // One RTCPeerConnection, one consumer.
    TestPeer second(context, server->url());
    must_connect(second);
    fail_unless(second.send(protocol::StartSessionRequest {publisher, std::nullopt}), "send");
    fail_unless(second.expect_next<protocol::SessionStarted>().has_value(), "no sessionStarted");
    auto refused = second.expect_next<protocol::EndSession>();
    fail_unless(refused.has_value(), "a second consumer was not turned away:\n%s", second.describe().c_str());

    HttpCall del(context, "DELETE", http_url(*server, location));
    Expected<HttpResponse> deleted = del.wait();
    fail_unless(deleted.ok() && deleted.value().status == 200, "DELETE");
    auto ended = consumer.expect_next<protocol::EndSession>();
    fail_unless(ended && ended->session_id == session, "the consumer did not hear the end:\n%s",
                consumer.describe().c_str());
    auto gone = listener.wait_message<protocol::PeerStatusChanged>(
        [&](const protocol::PeerStatusChanged& m) { return m.peer_id == publisher && m.roles.empty(); });
    fail_unless(gone.has_value(), "the publisher is still listed:\n%s", listener.describe().c_str());
    fail_unless(wait_until(context, [&] { return server->session_count() == 0; }), "sessions left");
}
GST_END_TEST;

// A WHIP publisher that hangs up while nobody watches is gone at once (not
// after the 5 minutes its POST may wait), and its name is free again.
GST_START_TEST(test_whip_hangup)
{
    TestContext context;
    auto server = must_start(context); // default, long timeouts
    TestPeer listener(context, server->url());
    must_connect(listener);
    set_status(listener, {Role::Listener}, protocol::Json());
    auto post = std::make_unique<HttpCall>(context, "POST", http_url(*server, "/whip/phone"), "application/sdp",
                                           kWhepOffer);
    std::string publisher = must_hear_publisher(listener, "phone");
    post->cancel();
    auto gone = listener.wait_message<protocol::PeerStatusChanged>(
        [&](const protocol::PeerStatusChanged& m) { return m.peer_id == publisher && m.roles.empty(); });
    fail_unless(gone.has_value(), "the publisher that hung up is still listed:\n%s", listener.describe().c_str());
    HttpCall again(context, "POST", http_url(*server, "/whip/phone"), "application/sdp", kWhepOffer);
    std::string second = must_hear_publisher(listener, "phone");
    fail_unless(second != publisher, "the same peer again");
    // Names are percent-decoded: a producer named "Living room".
    HttpCall spaced(context, "POST", http_url(*server, "/whip/Living%20room"), "application/sdp", kWhepOffer);
    must_hear_publisher(listener, "Living room");
}
GST_END_TEST;

// With a token, WHEP requests need it as a bearer token too.
GST_START_TEST(test_whep_token)
{
    TestContext context;
    server::ServerOptions options = server_options();
    options.token = "s3cret";
    auto server = must_start(context, options);
    HttpCall none(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer);
    Expected<HttpResponse> r = none.wait();
    fail_unless(r.ok() && r.value().status == 401 && contains(r.value().header("www-authenticate"), "Bearer"),
                "no token: %s", r.ok() ? r.value().body.c_str() : r.error().c_str());
    HttpCall wrong(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer,
                   {{"Authorization", "Bearer s3creX"}});
    r = wrong.wait();
    fail_unless(r.ok() && r.value().status == 401, "wrong token");
    HttpCall right(context, "POST", http_url(*server, "/whep/cam"), "application/sdp", kWhepOffer,
                   {{"Authorization", "Bearer s3cret"}});
    r = right.wait();
    fail_unless(r.ok() && r.value().status == 404, "the right token did not get past: %u",
                r.ok() ? r.value().status : 0);
    // A preflight carries no credentials: it is answered.
    HttpCall preflight(context, "OPTIONS", http_url(*server, "/whep/cam"));
    r = preflight.wait();
    fail_unless(r.ok() && r.value().status == 204 && r.value().header("accept-post") == "application/sdp",
                "preflight with a token");
}
GST_END_TEST;

// ---- Lifecycle ------------------------------------------------------------------

GST_START_TEST(test_reconnect)
{
    TestContext context;
    auto server = must_start(context);
    unsigned port = server->port();
    client::ClientOptions options = TestPeer::options(server->url());
    options.reconnect = true;
    options.backoff_initial_ms = 50;
    options.backoff_max_ms = 200;
    TestPeer peer(context, options);
    std::string first_id = must_connect(peer);

    server.reset();
    std::vector<int> delays;
    for (int i = 0; i < 4; ++i) {
        std::optional<std::string> detail = peer.wait_state(State::Reconnecting);
        fail_unless(detail.has_value(), "no Reconnecting after the server went away:\n%s", peer.describe().c_str());
        delays.push_back(retry_delay_ms(*detail));
        fail_unless(delays.back() > 0, "no retry delay in \"%s\"", detail->c_str());
    }
    fail_unless(delays[0] == 50 && delays[1] == 100 && delays[2] == 200 && delays[3] == 200,
                "backoff %d, %d, %d, %d ms; expected 50, 100, 200, 200", delays[0], delays[1], delays[2], delays[3]);
    fail_unless(peer.client().failed_attempts() >= 4, "failed_attempts() is %u", peer.client().failed_attempts());
    fail_unless(!peer.send(protocol::ListRequest {}), "send() worked while disconnected");

    server::ServerOptions same_port = server_options();
    same_port.port = port;
    server = must_start(context, same_port);
    fail_unless(server->port() == port, "port %u, not %u", server->port(), port);
    fail_unless(peer.wait_state(State::Connected).has_value(), "did not reconnect:\n%s", peer.describe().c_str());
    auto welcome = peer.wait_message<protocol::Welcome>();
    fail_unless(welcome && !welcome->peer_id.empty() && welcome->peer_id != first_id,
                "no new welcome after reconnecting:\n%s", peer.describe().c_str());
    fail_unless(peer.client().failed_attempts() == 0, "failed_attempts() is %u", peer.client().failed_attempts());
    must_list(peer);

    // A client that is stopped stays closed.
    peer.stop();
    fail_unless(peer.wait_state(State::Closed).has_value(), "stop() did not close");
    fail_unless(wait_until(context, [&] { return server->peer_count() == 0; }), "peer_count() is %zu",
                server->peer_count());
}
GST_END_TEST;

GST_START_TEST(test_shutdown)
{
    TestContext context;
    auto server = must_start(context);
    TestPeer a(context, server->url());
    TestPeer b(context, server->url());
    must_connect(a);
    must_connect(b);
    fail_unless(a.send(protocol::SetPeerStatus {{Role::Producer}, meta_with("cam")}), "send");
    start_session(b, a);

    bool done = false;
    server->shutdown([&] { done = true; }, 60000);
    for (TestPeer* peer : {&a, &b}) {
        std::optional<std::string> detail = peer->wait_state(State::Closed);
        fail_unless(detail && contains(*detail, "code 1001"), "not closed with 1001:\n%s", peer->describe().c_str());
    }
    // Long before the timeout: the clients answered the close.
    fail_unless(wait_until(context, [&] { return done; }), "the done callback did not run");
    fail_unless(server->peer_count() == 0, "peer_count() is %zu", server->peer_count());

    // Nobody new gets in.
    TestPeer late(context, server->url());
    late.start();
    fail_unless(late.wait_state(State::Closed).has_value(), "connected after shutdown:\n%s", late.describe().c_str());
    fail_unless(late.all_messages().empty(), "welcomed after shutdown");
    server.reset();
}
GST_END_TEST;

// ---- HTTP ---------------------------------------------------------------------------

GST_START_TEST(test_http)
{
    TestContext context;
    TempDir dir;
    fail_unless(dir.ok(), "no temporary directory");
    const std::string index = "<!doctype html><title>signalbin</title>\n";
    fail_unless(dir.write("www/index.html", index), "write");
    fail_unless(dir.write("www/app/main.js", "console.log('hi');\n"), "write");
    fail_unless(dir.write("secret.txt", "top secret\n"), "write");
    fail_unless(dir.write("www/.hidden", "hidden secret\n"), "write");
    server::ServerOptions options = server_options();
    options.web_root = dir.file("www");
    auto server = must_start(context, options);
    std::string base = "http://127.0.0.1:" + std::to_string(server->port());

    TestPeer peer(context, server->url());
    must_connect(peer);

    Expected<HttpResponse> health = http_get(context, base + "/health");
    fail_unless(health.ok(), "%s", health.ok() ? "" : health.error().c_str());
    fail_unless(health.value().status == 200, "/health: HTTP %u", health.value().status);
    fail_unless(health.value().content_type == "application/json", "/health: %s",
                health.value().content_type.c_str());
    std::optional<protocol::Json> body = protocol::Json::parse(health.value().body);
    fail_unless(body.has_value(), "/health is not JSON: %s", health.value().body.c_str());
    fail_unless(body->string_member("status") == std::optional<std::string>("ok"), "/health: %s",
                health.value().body.c_str());
    JsonObject* object = json_node_get_object(body->node());
    fail_unless(json_object_get_int_member(object, "peers") == 1, "/health: %s", health.value().body.c_str());

    Expected<HttpResponse> root = http_get(context, base + "/");
    fail_unless(root.ok() && root.value().status == 200 && root.value().body == index, "/: %s",
                root.ok() ? root.value().body.c_str() : root.error().c_str());
    fail_unless(root.value().content_type == "text/html", "/: %s", root.value().content_type.c_str());
    Expected<HttpResponse> script = http_get(context, base + "/app/main.js");
    fail_unless(script.ok() && script.value().status == 200 && script.value().body == "console.log('hi');\n",
                "/app/main.js");
    Expected<HttpResponse> missing = http_get(context, base + "/nope.html");
    fail_unless(missing.ok() && missing.value().status == 404, "/nope.html: HTTP %u",
                missing.ok() ? missing.value().status : 0);

    // Paths that try to leave the web root, sent as they are (a client
    // library would normalise them first). libsoup itself refuses an escaped
    // "/" with 400 before the server sees the request; that is a refusal too.
    struct Escape {
        const char* path;
        unsigned status;
        unsigned or_status;
    };
    for (const Escape& e : {Escape {"/../secret.txt", 404, 404}, Escape {"/../../../../etc/passwd", 404, 404},
                            Escape {"/%2e%2e/secret.txt", 404, 404}, Escape {"/app/../../secret.txt", 404, 404},
                            Escape {"/.%2e/secret.txt", 404, 404}, Escape {"/.hidden", 404, 404},
                            Escape {"/..%2fsecret.txt", 404, 400}}) {
        const char* path = e.path;
        RawTcp tcp(context);
        Expected<bool> connected = tcp.connect(server->port());
        fail_unless(connected.ok(), "%s", connected.ok() ? "" : connected.error().c_str());
        Expected<RawTcp::HttpReply> reply = tcp.http_request(std::string("GET ") + path + " HTTP/1.1");
        fail_unless(reply.ok(), "%s: %s", path, reply.ok() ? "" : reply.error().c_str());
        fail_unless(reply.value().status == e.status || reply.value().status == e.or_status, "%s: HTTP %u", path,
                    reply.value().status);
        fail_unless(!contains(reply.value().body, "secret") && !contains(reply.value().body, "root:"),
                    "%s leaked: %s", path, reply.value().body.c_str());
    }
    fail_unless(peer.state() == State::Connected, "the peer suffered");
}
GST_END_TEST;

// In check's parent process, around each test case: whatever a failed test
// left in its temporary directories goes with the root.
static std::string temp_root;

static void make_temp_root()
{
    GErrorPtr error;
    GCharPtr root(g_dir_make_tmp("signalbin-tests-XXXXXX", GErrorOut(error)));
    fail_unless(root != nullptr, "no temporary directory: %s", error ? error->message : "?");
    temp_root = root.get();
    set_temp_root(temp_root);
}

static void remove_temp_root()
{
    if (!temp_root.empty())
        remove_temp_tree(temp_root);
    temp_root.clear();
    set_temp_root({});
}

static TCase* make_tcase(Suite* s, const char* name)
{
    TCase* tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, make_temp_root, remove_temp_root);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite* server_suite()
{
    Suite* s = suite_create("server");

    TCase* tc = make_tcase(s, "protocol");
    tcase_add_test(tc, test_welcome_and_listing);
    tcase_add_test(tc, test_session_relay);
    tcase_add_test(tc, test_end_session_versions);
    tcase_add_test(tc, test_disconnect_cleanup);
    tcase_add_test(tc, test_bad_input);

    tc = make_tcase(s, "limits");
    tcase_add_test(tc, test_frame_too_large);
    tcase_add_test(tc, test_rate_limit);
    tcase_add_test(tc, test_slow_reader);
    tcase_add_test(tc, test_max_peers);

    tc = make_tcase(s, "security");
    tcase_add_test(tc, test_token);
    tcase_add_test(tc, test_tls);
    tcase_add_test(tc, test_tls_bad_files);
    tcase_add_test(tc, test_tls_reload);
    tcase_add_test(tc, test_server_program);
    tcase_add_test(tc, test_server_program_bad_config);
    tcase_add_test(tc, test_whep_session);
    tcase_add_test(tc, test_whep_refusals);
    tcase_add_test(tc, test_whep_token);
    tcase_add_test(tc, test_whip_session);
    tcase_add_test(tc, test_whip_hangup);

    tc = make_tcase(s, "lifecycle");
    tcase_add_test(tc, test_reconnect);
    tcase_add_test(tc, test_shutdown);
    tcase_add_test(tc, test_http);
    return s;
}

GST_CHECK_MAIN(server)
