// Helpers for the integration tests: a signalling client that records all it
// hears, the real server started in-process, a WebSocket connection over
// libsoup that sends any text, a bare TCP connection for what no library
// would send (hand-made HTTP, a reader that never reads), HTTP GET, temporary
// directories.
//
// Every wait iterates a GMainContext until a condition holds or a timeout
// expires; nothing sleeps. All of it runs on the calling thread, which must be
// the one that runs the context (the server's too, when it shares it).
#pragma once

#include "client.h"
#include "expected.h"
#include "glib-ptr.h"
#include "protocol.h"
#include "server.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace signalbin::test {

// Long enough for a loaded machine; a passing wait returns as soon as it can.
constexpr unsigned kTimeoutMs = 10000;

// Iterates `context` until `condition` holds or `timeout_ms` passes. Returns
// whether it holds.
bool wait_until(GMainContext* context, const std::function<bool()>& condition, unsigned timeout_ms = kTimeoutMs);

// Dispatches whatever is ready on `context` without blocking.
void drain(GMainContext* context);

bool contains(const std::string& text, const std::string& part);
bool contains_nocase(const std::string& text, const std::string& part);

// A new context, made the thread default for the lifetime of this object.
class TestContext {
public:
    TestContext();
    ~TestContext();
    TestContext(const TestContext&) = delete;
    TestContext& operator=(const TestContext&) = delete;
    GMainContext* get() const { return context_.get(); }
    operator GMainContext*() const { return context_.get(); }

private:
    GRef<GMainContext> context_;
};

// ---- The server -------------------------------------------------------------

// 127.0.0.1, a free port, generous limits; log lines go to g_debug.
server::ServerOptions server_options();
Expected<std::unique_ptr<server::Server>> start_server(GMainContext* context,
                                                       server::ServerOptions options = server_options());

// ---- Received messages ------------------------------------------------------

// What a connection heard from the server, in order. Messages are read off an
// unread queue; everything stays in all_messages() for diagnostics.
class Inbox {
public:
    explicit Inbox(GMainContext* context) : context_(take_ref(context)) {}
    virtual ~Inbox() = default;
    Inbox(const Inbox&) = delete;
    Inbox& operator=(const Inbox&) = delete;

    GMainContext* context() const { return context_.get(); }
    bool wait_for(const std::function<bool()>& condition, unsigned timeout_ms = kTimeoutMs) const
    {
        return wait_until(context_.get(), condition, timeout_ms);
    }

    // The oldest unread message, waiting for one if there is none.
    std::optional<protocol::ServerMessage> next_message(unsigned timeout_ms = kTimeoutMs);

    // The oldest unread message of type T (matching `match`, if given),
    // waiting for one; unread messages of other types stay unread.
    template <typename T>
    std::optional<T> wait_message(const std::function<bool(const T&)>& match = {}, unsigned timeout_ms = kTimeoutMs)
    {
        std::optional<T> found;
        wait_for([&] {
            for (auto it = unread_.begin(); it != unread_.end(); ++it) {
                if (const T* m = std::get_if<T>(&*it); m && (!match || match(*m))) {
                    found = *m;
                    unread_.erase(it);
                    return true;
                }
            }
            return false;
        }, timeout_ms);
        return found;
    }

    // The oldest unread message, which must be a T: nullopt if it is not
    // (it is read all the same) or if none comes.
    template <typename T>
    std::optional<T> expect_next(unsigned timeout_ms = kTimeoutMs)
    {
        std::optional<protocol::ServerMessage> m = next_message(timeout_ms);
        if (!m || !std::holds_alternative<T>(*m))
            return std::nullopt;
        return std::get<T>(*m);
    }

    size_t unread() const { return unread_.size(); }
    const std::deque<protocol::ServerMessage>& unread_messages() const { return unread_; }
    const std::vector<protocol::ServerMessage>& all_messages() const { return all_; }
    const std::vector<protocol::ParseError>& invalid() const { return invalid_; }
    // The messages received so far, one JSON text a line, for failure reports.
    std::string describe() const;

protected:
    void record(const protocol::ServerMessage& message);
    void record_invalid(const protocol::ParseError& error);

private:
    GRef<GMainContext> context_;
    std::deque<protocol::ServerMessage> unread_;
    std::vector<protocol::ServerMessage> all_;
    std::vector<protocol::ParseError> invalid_;
};

// ---- The signalling client under test --------------------------------------

// signalbin::client::Client recording every message, state change and invalid
// frame.
class TestPeer : public Inbox {
public:
    struct StateChange {
        client::State state;
        std::string detail;
    };

    // Reconnection off: a failure ends in State::Closed with its reason.
    static client::ClientOptions options(const std::string& url);

    TestPeer(GMainContext* context, client::ClientOptions options);
    TestPeer(GMainContext* context, const std::string& url) : TestPeer(context, options(url)) {}

    client::Client& client() { return client_; }
    void start() { client_.start(); }
    void stop() { client_.stop(); }
    bool send(const protocol::ClientMessage& message) { return client_.send(message); }
    client::State state() const { return client_.state(); }

    // Starts, waits for State::Connected and a welcome; the peer id, or
    // nullopt (see describe()).
    std::optional<std::string> connect(unsigned timeout_ms = kTimeoutMs);
    // The id from the last welcome.
    const std::string& id() const { return id_; }

    // The detail of the next state change to `state` not yet waited for (state
    // changes before it are passed over), or nullopt on timeout.
    std::optional<std::string> wait_state(client::State state, unsigned timeout_ms = kTimeoutMs);
    const std::vector<StateChange>& states() const { return states_; }

    // Messages, then state changes.
    std::string describe() const;

private:
    std::vector<StateChange> states_;
    size_t state_cursor_ = 0;
    std::string id_;
    client::Client client_;
};

// ---- A WebSocket connection that sends any text ----------------------------

// A libsoup WebSocket client on the test context: sends text as given (not
// necessarily valid protocol) and parses what comes back.
class RawWebSocket : public Inbox {
public:
    explicit RawWebSocket(GMainContext* context) : Inbox(context) {}
    ~RawWebSocket() override;

    // Connects and waits for the handshake (and the welcome, when
    // `expect_welcome`). On failure says why, with the HTTP status.
    Expected<bool> connect(const std::string& url, bool expect_welcome = true, unsigned timeout_ms = kTimeoutMs);
    const std::string& id() const { return id_; }
    void send_text(const std::string& text);
    void send_binary(const std::string& data);
    void send(const protocol::ClientMessage& message) { send_text(protocol::serialize(message)); }
    void close(gushort code = SOUP_WEBSOCKET_CLOSE_NORMAL);

    bool closed() const { return closed_; }
    // The close code the server sent (0 without a close frame).
    gushort close_code() const { return close_code_; }
    std::string close_reason() const { return close_reason_; }
    bool wait_closed(unsigned timeout_ms = kTimeoutMs) const
    {
        return wait_for([this] { return closed_; }, timeout_ms);
    }

private:
    static void on_message(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data);
    static void on_closed(SoupWebsocketConnection* ws, gpointer data);

    GRef<SoupSession> session_;
    GRef<SoupWebsocketConnection> ws_;
    SignalConnection on_message_, on_closed_;
    std::string id_;
    bool closed_ = false;
    gushort close_code_ = 0;
    std::string close_reason_;
};

// ---- A bare TCP connection --------------------------------------------------

// Plain TCP to 127.0.0.1 without any library in between: hand-made HTTP
// requests, hand-made WebSocket frames, and a reader that stops reading.
class RawTcp {
public:
    explicit RawTcp(GMainContext* context) : context_(take_ref(context)) {}
    ~RawTcp();
    RawTcp(const RawTcp&) = delete;
    RawTcp& operator=(const RawTcp&) = delete;

    // Connects to 127.0.0.1:port. `receive_buffer` > 0 sets SO_RCVBUF before
    // connecting (which also fixes the TCP window the peer sees).
    Expected<bool> connect(unsigned port, int receive_buffer = 0, unsigned timeout_ms = kTimeoutMs);
    // Writes all of `data`, waiting while the socket is full.
    Expected<bool> send_all(const std::string& data, unsigned timeout_ms = kTimeoutMs);

    // Reading happens only while enabled: each time the socket is readable,
    // everything available is appended to received(). Off by default.
    void set_reading(bool enabled);
    const std::string& received() const { return received_; }
    // The peer closed (end of stream), or the connection failed (reset).
    bool at_end() const { return eof_ || !error_.empty(); }
    const std::string& error() const { return error_; }
    // Reads until `condition` holds (reading stays enabled afterwards).
    bool read_until(const std::function<bool()>& condition, unsigned timeout_ms = kTimeoutMs);

    // One HTTP request with "Connection: close"; the status code and body,
    // read to the end of the stream.
    struct HttpReply {
        unsigned status = 0;
        std::string headers;
        std::string body;
    };
    Expected<HttpReply> http_request(const std::string& request_line, unsigned timeout_ms = kTimeoutMs);

    // Sends a WebSocket upgrade for `path` and reads the response head (only
    // that: nothing after it is read). The HTTP status.
    Expected<unsigned> websocket_handshake(const std::string& path = "/", unsigned timeout_ms = kTimeoutMs);
    // One masked text frame, as a client must send it.
    Expected<bool> send_text_frame(const std::string& text, unsigned timeout_ms = kTimeoutMs);

private:
    void read_available();

    GRef<GMainContext> context_;
    GRef<GSocket> socket_;
    unsigned port_ = 0;
    ScopedSource read_source_;
    std::string received_;
    bool eof_ = false;
    std::string error_;
};

// ---- HTTP, files ------------------------------------------------------------

struct HttpResponse {
    unsigned status = 0;
    std::string content_type;
    std::string body;
    std::map<std::string, std::string> headers; // names in lower case
    std::string header(const std::string& lower_case_name) const;
};

// One request over a SoupSession on `context`, under way while the test
// does other things (a WHEP POST waits for the producer the test plays).
class HttpCall {
public:
    HttpCall(GMainContext* context, const std::string& method, const std::string& url,
             const std::string& content_type = "", const std::string& body = "",
             const std::map<std::string, std::string>& headers = {});
    ~HttpCall();
    HttpCall(const HttpCall&) = delete;
    HttpCall& operator=(const HttpCall&) = delete;
    bool done() const;
    Expected<HttpResponse> wait(unsigned timeout_ms = kTimeoutMs);
    void cancel(); // as a client that goes away

private:
    struct Result;
    GMainContext* context_;
    std::string what_;
    std::shared_ptr<Result> result_;
    GRef<SoupSession> session_;
    GRef<SoupMessage> message_;
    GRef<GCancellable> cancellable_;
};

// GET over a SoupSession on `context`.
Expected<HttpResponse> http_get(GMainContext* context, const std::string& url, unsigned timeout_ms = kTimeoutMs);

// A directory made with g_dir_make_tmp (or inside the temp root, if set),
// removed with its contents at the end.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    bool ok() const { return !path_.empty(); }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const;
    bool write(const std::string& name, const std::string& contents) const;

private:
    std::string path_;
};

// A failed check ends a forked test with _exit(), skipping destructors: a
// process that outlives the test (check's parent, in an unchecked fixture) can
// set a root for all TempDirs and remove it afterwards.
void set_temp_root(const std::string& dir);
void remove_temp_tree(const std::string& dir);

// Makes a self-signed certificate for localhost and 127.0.0.1 with openssl:
// `dir`/cert.pem and `dir`/key.pem (or the names given; a second call
// makes a different key). Says why on failure.
Expected<bool> make_self_signed_certificate(const TempDir& dir, const std::string& cert_name = "cert.pem",
                                            const std::string& key_name = "key.pem");

} // namespace signalbin::test
