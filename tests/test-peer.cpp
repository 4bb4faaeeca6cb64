#include "test-peer.h"

#include <glib/gstdio.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

namespace signalbin::test {

namespace {

// Watches `socket` for `condition` on `context` for as long as the returned
// source lives; `fn` returns whether to keep watching.
ScopedSource watch_socket(GMainContext* context, GSocket* socket, GIOCondition condition,
                          std::function<bool(GIOCondition)> fn)
{
    GRef<GSource> source = adopt_ref(g_socket_create_source(socket, condition, nullptr));
    auto* heap = new std::function<bool(GIOCondition)>(std::move(fn));
    GSocketSourceFunc callback = [](GSocket*, GIOCondition ready, gpointer data) -> gboolean {
        return (*static_cast<std::function<bool(GIOCondition)>*>(data))(ready) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    };
    g_source_set_callback(source.get(), G_SOURCE_FUNC(callback), heap,
                          [](gpointer data) { delete static_cast<std::function<bool(GIOCondition)>*>(data); });
    g_source_attach(source.get(), context);
    return ScopedSource(std::move(source));
}

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

void remove_tree(const std::string& path)
{
    if (g_file_test(path.c_str(), G_FILE_TEST_IS_DIR) && !g_file_test(path.c_str(), G_FILE_TEST_IS_SYMLINK)) {
        if (GDir* dir = g_dir_open(path.c_str(), 0, nullptr)) {
            while (const char* name = g_dir_read_name(dir)) {
                GCharPtr child(g_build_filename(path.c_str(), name, nullptr));
                remove_tree(child.get());
            }
            g_dir_close(dir);
        }
    }
    g_remove(path.c_str());
}

} // namespace

bool wait_until(GMainContext* context, const std::function<bool()>& condition, unsigned timeout_ms)
{
    if (condition())
        return true;
    bool expired = false;
    ScopedSource deadline = ScopedSource::timeout(context, timeout_ms, [&expired] {
        expired = true;
        return false;
    });
    while (!condition()) {
        if (expired)
            return false;
        g_main_context_iteration(context, TRUE);
    }
    return true;
}

void drain(GMainContext* context)
{
    for (int i = 0; i < 1000 && g_main_context_iteration(context, FALSE); ++i) {
    }
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

bool contains_nocase(const std::string& text, const std::string& part)
{
    return contains(lower(text), lower(part));
}

TestContext::TestContext() : context_(adopt_ref(g_main_context_new()))
{
    g_main_context_push_thread_default(context_.get());
}

TestContext::~TestContext()
{
    drain(context_.get());
    g_main_context_pop_thread_default(context_.get());
}

// ---- The server -------------------------------------------------------------

server::ServerOptions server_options()
{
    server::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.log = [](const std::string& line) { g_debug("server: %s", line.c_str()); };
    return options;
}

Expected<std::unique_ptr<server::Server>> start_server(GMainContext* context, server::ServerOptions options)
{
    return server::Server::start(context, std::move(options));
}

// ---- Inbox ------------------------------------------------------------------

std::optional<protocol::ServerMessage> Inbox::next_message(unsigned timeout_ms)
{
    if (!wait_for([this] { return !unread_.empty(); }, timeout_ms))
        return std::nullopt;
    protocol::ServerMessage m = std::move(unread_.front());
    unread_.pop_front();
    return m;
}

void Inbox::record(const protocol::ServerMessage& message)
{
    unread_.push_back(message);
    all_.push_back(message);
}

void Inbox::record_invalid(const protocol::ParseError& error)
{
    invalid_.push_back(error);
}

// Check carries a failure message only up to 8 KiB (longer ones end the
// test program with "Message string too long" and hide the failure), so
// this shows the newest messages, each shortened, within about 5 KiB.
std::string Inbox::describe() const
{
    constexpr size_t kLine = 300, kBudget = 5000;
    auto shorten = [](std::string line) {
        if (line.size() > kLine)
            line = line.substr(0, kLine) + "... (" + std::to_string(line.size()) + " bytes)";
        return "  " + line + "\n";
    };
    std::string lines;
    for (const protocol::ParseError& e : invalid_)
        lines += shorten("invalid frame: " + e.message());
    size_t shown = 0;
    for (auto it = all_.rbegin(); it != all_.rend() && lines.size() < kBudget; ++it, ++shown)
        lines.insert(0, shorten(protocol::serialize(*it)));
    std::string out = "received " + std::to_string(all_.size()) + " messages (" + std::to_string(unread_.size()) +
                      " unread)";
    if (shown < all_.size())
        out += ", the last " + std::to_string(shown) + " shown";
    return out + ":\n" + lines;
}

// ---- TestPeer ---------------------------------------------------------------

client::ClientOptions TestPeer::options(const std::string& url)
{
    client::ClientOptions options;
    options.url = url;
    options.reconnect = false;
    return options;
}

TestPeer::TestPeer(GMainContext* context, client::ClientOptions options)
    : Inbox(context),
      client_(context, std::move(options),
              client::Client::Callbacks {
                  [this](client::State state, const std::string& detail) {
                      g_debug("client %s: %s", client::to_string(state), detail.c_str());
                      states_.push_back(StateChange {state, detail});
                  },
                  [this](const protocol::ServerMessage& message) {
                      if (auto* welcome = std::get_if<protocol::Welcome>(&message))
                          id_ = welcome->peer_id;
                      record(message);
                  },
                  [this](const protocol::ParseError& error) { record_invalid(error); },
              })
{
}

std::optional<std::string> TestPeer::connect(unsigned timeout_ms)
{
    start();
    if (!wait_state(client::State::Connected, timeout_ms))
        return std::nullopt;
    std::optional<protocol::Welcome> welcome = wait_message<protocol::Welcome>({}, timeout_ms);
    if (!welcome)
        return std::nullopt;
    return welcome->peer_id;
}

std::optional<std::string> TestPeer::wait_state(client::State state, unsigned timeout_ms)
{
    std::optional<std::string> detail;
    wait_for([&] {
        for (; state_cursor_ < states_.size(); ++state_cursor_) {
            if (states_[state_cursor_].state == state) {
                detail = states_[state_cursor_++].detail;
                return true;
            }
        }
        return false;
    }, timeout_ms);
    return detail;
}

std::string TestPeer::describe() const
{
    std::string out = Inbox::describe() + "state changes:\n";
    for (const StateChange& s : states_)
        out += std::string("  ") + client::to_string(s.state) + ": " + s.detail + "\n";
    return out;
}

// ---- RawWebSocket -----------------------------------------------------------

RawWebSocket::~RawWebSocket()
{
    on_message_.disconnect();
    on_closed_.disconnect();
    if (ws_ && soup_websocket_connection_get_state(ws_.get()) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws_.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
}

Expected<bool> RawWebSocket::connect(const std::string& url, bool expect_welcome, unsigned timeout_ms)
{
    struct Result {
        bool done = false;
        GRef<SoupWebsocketConnection> ws;
        std::string error;
        GRef<SoupMessage> message;
    };
    auto result = std::make_shared<Result>();
    {
        ThreadDefaultContext scope(context());
        session_ = adopt_ref(soup_session_new());
        result->message = adopt_ref(soup_message_new(SOUP_METHOD_GET, url.c_str()));
        if (!result->message)
            return Expected<bool>::failure("bad URL " + url);
        soup_session_websocket_connect_async(
            session_.get(), result->message.get(), nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
            [](GObject* source, GAsyncResult* res, gpointer data) {
                std::unique_ptr<std::shared_ptr<Result>> r(static_cast<std::shared_ptr<Result>*>(data));
                GErrorPtr error;
                (*r)->ws =
                    adopt_ref(soup_session_websocket_connect_finish(SOUP_SESSION(source), res, GErrorOut(error)));
                if (error)
                    (*r)->error = error->message;
                (*r)->done = true;
            },
            new std::shared_ptr<Result>(result));
    }
    if (!wait_for([&] { return result->done; }, timeout_ms))
        return Expected<bool>::failure("no handshake within " + std::to_string(timeout_ms) + " ms");
    if (!result->ws)
        return Expected<bool>::failure(result->error + " (HTTP " +
                                       std::to_string(soup_message_get_status(result->message.get())) + ")");
    ws_ = std::move(result->ws);
    soup_websocket_connection_set_max_incoming_payload_size(ws_.get(), 0);
    soup_websocket_connection_set_keepalive_interval(ws_.get(), 0);
    on_message_ = connect_signal(ws_.get(), "message", &RawWebSocket::on_message, this);
    on_closed_ = connect_signal(ws_.get(), "closed", &RawWebSocket::on_closed, this);
    if (expect_welcome) {
        std::optional<protocol::Welcome> welcome = wait_message<protocol::Welcome>({}, timeout_ms);
        if (!welcome)
            return Expected<bool>::failure("no welcome; " + describe());
        id_ = welcome->peer_id;
    }
    return true;
}

void RawWebSocket::send_text(const std::string& text)
{
    if (ws_ && soup_websocket_connection_get_state(ws_.get()) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text(ws_.get(), text.c_str());
}

void RawWebSocket::send_binary(const std::string& data)
{
    if (ws_ && soup_websocket_connection_get_state(ws_.get()) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_binary(ws_.get(), data.data(), data.size());
}

void RawWebSocket::close(gushort code)
{
    if (ws_ && soup_websocket_connection_get_state(ws_.get()) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws_.get(), code, nullptr);
}

void RawWebSocket::on_message(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data)
{
    auto* self = static_cast<RawWebSocket*>(data);
    if (type != SOUP_WEBSOCKET_DATA_TEXT) {
        self->record_invalid(protocol::ParseError {"(frame)", "a text frame, got a binary one"});
        return;
    }
    gsize size = 0;
    auto* text = static_cast<const char*>(g_bytes_get_data(message, &size));
    protocol::Parsed<protocol::ServerMessage> parsed = protocol::parse_server_message({text, size});
    if (parsed)
        self->record(parsed.value());
    else
        self->record_invalid(parsed.error());
}

void RawWebSocket::on_closed(SoupWebsocketConnection* ws, gpointer data)
{
    auto* self = static_cast<RawWebSocket*>(data);
    self->closed_ = true;
    self->close_code_ = soup_websocket_connection_get_close_code(ws);
    const char* reason = soup_websocket_connection_get_close_data(ws);
    self->close_reason_ = reason ? reason : "";
}

// ---- RawTcp -----------------------------------------------------------------

RawTcp::~RawTcp()
{
    read_source_.cancel();
    if (socket_)
        g_socket_close(socket_.get(), nullptr);
}

Expected<bool> RawTcp::connect(unsigned port, int receive_buffer, unsigned timeout_ms)
{
    GErrorPtr error;
    socket_ = adopt_ref(g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                     GErrorOut(error)));
    if (!socket_)
        return Expected<bool>::failure(std::string("socket: ") + error->message);
    if (receive_buffer > 0 &&
        setsockopt(g_socket_get_fd(socket_.get()), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) != 0)
        return Expected<bool>::failure("setsockopt(SO_RCVBUF) failed");
    g_socket_set_blocking(socket_.get(), FALSE);
    port_ = port;
    GRef<GInetAddress> loopback = adopt_ref(g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4));
    GRef<GSocketAddress> address = adopt_ref(g_inet_socket_address_new(loopback.get(), static_cast<guint16>(port)));
    if (g_socket_connect(socket_.get(), address.get(), nullptr, GErrorOut(error)))
        return true;
    if (!g_error_matches(error.get(), G_IO_ERROR, G_IO_ERROR_PENDING))
        return Expected<bool>::failure(std::string("connect: ") + error->message);
    bool writable = false;
    ScopedSource watch = watch_socket(context_.get(), socket_.get(), G_IO_OUT, [&writable](GIOCondition) {
        writable = true;
        return false;
    });
    if (!wait_until(context_.get(), [&] { return writable; }, timeout_ms))
        return Expected<bool>::failure("connect: timed out");
    if (!g_socket_check_connect_result(socket_.get(), GErrorOut(error)))
        return Expected<bool>::failure(std::string("connect: ") + error->message);
    return true;
}

Expected<bool> RawTcp::send_all(const std::string& data, unsigned timeout_ms)
{
    size_t sent = 0;
    bool expired = false;
    ScopedSource deadline = ScopedSource::timeout(context_.get(), timeout_ms, [&expired] {
        expired = true;
        return false;
    });
    while (sent < data.size()) {
        GErrorPtr error;
        gssize n = g_socket_send(socket_.get(), data.data() + sent, data.size() - sent, nullptr, GErrorOut(error));
        if (n > 0) {
            sent += size_t(n);
            continue;
        }
        if (!g_error_matches(error.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return Expected<bool>::failure(std::string("send: ") + (error ? error->message : "nothing written"));
        bool writable = false;
        ScopedSource watch = watch_socket(context_.get(), socket_.get(), G_IO_OUT, [&writable](GIOCondition) {
            writable = true;
            return false;
        });
        while (!writable && !expired)
            g_main_context_iteration(context_.get(), TRUE);
        if (expired)
            return Expected<bool>::failure("send: timed out with " + std::to_string(data.size() - sent) +
                                           " bytes unsent");
    }
    return true;
}

void RawTcp::read_available()
{
    char buffer[65536];
    while (!at_end()) {
        GErrorPtr error;
        gssize n = g_socket_receive(socket_.get(), buffer, sizeof buffer, nullptr, GErrorOut(error));
        if (n > 0) {
            received_.append(buffer, size_t(n));
        } else if (n == 0) {
            eof_ = true;
        } else {
            if (!g_error_matches(error.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                error_ = error ? error->message : "receive failed";
            return;
        }
    }
}

void RawTcp::set_reading(bool enabled)
{
    if (!enabled) {
        read_source_.cancel();
        return;
    }
    if (read_source_.active() || !socket_)
        return;
    read_source_ = watch_socket(context_.get(), socket_.get(), GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR),
                                [this](GIOCondition) {
                                    read_available();
                                    return !at_end();
                                });
}

bool RawTcp::read_until(const std::function<bool()>& condition, unsigned timeout_ms)
{
    set_reading(true);
    wait_until(context_.get(), [&] { return condition() || at_end(); }, timeout_ms);
    return condition();
}

Expected<RawTcp::HttpReply> RawTcp::http_request(const std::string& request_line, unsigned timeout_ms)
{
    std::string request = request_line + "\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                          "\r\nConnection: close\r\n\r\n";
    Expected<bool> sent = send_all(request, timeout_ms);
    if (!sent)
        return Expected<HttpReply>::failure(sent.error());
    if (!read_until([this] { return eof_; }, timeout_ms))
        return Expected<HttpReply>::failure("no complete reply (" + std::to_string(received_.size()) + " bytes, " +
                                            (error_.empty() ? "no error" : error_) + ")");
    size_t head_end = received_.find("\r\n\r\n");
    unsigned status = 0;
    if (head_end == std::string::npos || sscanf(received_.c_str(), "HTTP/1.%*d %u", &status) != 1)
        return Expected<HttpReply>::failure("not an HTTP reply: " + received_.substr(0, 200));
    HttpReply reply;
    reply.status = status;
    reply.headers = received_.substr(0, head_end);
    reply.body = received_.substr(head_end + 4);
    return reply;
}

Expected<unsigned> RawTcp::websocket_handshake(const std::string& path, unsigned timeout_ms)
{
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    Expected<bool> sent = send_all(request, timeout_ms);
    if (!sent)
        return Expected<unsigned>::failure(sent.error());
    // One byte at a time, so that nothing after the head is read.
    std::string head;
    bool expired = false;
    ScopedSource deadline = ScopedSource::timeout(context_.get(), timeout_ms, [&expired] {
        expired = true;
        return false;
    });
    while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
        char c = 0;
        GErrorPtr error;
        gssize n = g_socket_receive(socket_.get(), &c, 1, nullptr, GErrorOut(error));
        if (n == 1) {
            head += c;
            continue;
        }
        if (n == 0)
            return Expected<unsigned>::failure("connection closed during the handshake: " + head);
        if (!g_error_matches(error.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return Expected<unsigned>::failure(std::string("receive: ") + error->message);
        bool readable = false;
        ScopedSource watch = watch_socket(context_.get(), socket_.get(), GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR),
                                          [&readable](GIOCondition) {
                                              readable = true;
                                              return false;
                                          });
        while (!readable && !expired)
            g_main_context_iteration(context_.get(), TRUE);
        if (expired)
            return Expected<unsigned>::failure("no handshake reply: " + head);
    }
    unsigned status = 0;
    if (sscanf(head.c_str(), "HTTP/1.%*d %u", &status) != 1)
        return Expected<unsigned>::failure("not an HTTP reply: " + head);
    return status;
}

Expected<bool> RawTcp::send_text_frame(const std::string& text, unsigned timeout_ms)
{
    std::string frame;
    frame += char(0x81); // FIN, text
    uint64_t size = text.size();
    if (size < 126) {
        frame += char(0x80 | size);
    } else if (size < 65536) {
        frame += char(0x80 | 126);
        frame += char(size >> 8);
        frame += char(size & 0xff);
    } else {
        frame += char(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            frame += char((size >> shift) & 0xff);
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (size_t i = 0; i < text.size(); ++i)
        frame += char(static_cast<unsigned char>(text[i]) ^ mask[i % 4]);
    return send_all(frame, timeout_ms);
}

// ---- HTTP, files ------------------------------------------------------------

std::string HttpResponse::header(const std::string& lower_case_name) const
{
    auto it = headers.find(lower_case_name);
    return it == headers.end() ? "" : it->second;
}

struct HttpCall::Result {
    bool done = false;
    GRef<GBytes> body;
    std::string error;
};

HttpCall::HttpCall(GMainContext* context, const std::string& method, const std::string& url,
                   const std::string& content_type, const std::string& body,
                   const std::map<std::string, std::string>& headers)
    : context_(context), what_(method + " " + url), result_(std::make_shared<Result>()),
      cancellable_(adopt_ref(g_cancellable_new()))
{
    ThreadDefaultContext scope(context);
    session_ = adopt_ref(soup_session_new());
    message_ = adopt_ref(soup_message_new(method.c_str(), url.c_str()));
    if (!message_) {
        result_->error = "bad URL " + url;
        result_->done = true;
        return;
    }
    if (!content_type.empty() || !body.empty()) {
        GRef<GBytes> bytes = adopt_ref(g_bytes_new(body.data(), body.size()));
        soup_message_set_request_body_from_bytes(message_.get(), content_type.empty() ? nullptr : content_type.c_str(),
                                                 bytes.get());
    }
    for (const auto& [name, value] : headers)
        soup_message_headers_replace(soup_message_get_request_headers(message_.get()), name.c_str(), value.c_str());
    soup_session_send_and_read_async(
        session_.get(), message_.get(), G_PRIORITY_DEFAULT, cancellable_.get(),
        [](GObject* source, GAsyncResult* res, gpointer data) {
            std::unique_ptr<std::shared_ptr<Result>> r(static_cast<std::shared_ptr<Result>*>(data));
            GErrorPtr error;
            (*r)->body = adopt_ref(soup_session_send_and_read_finish(SOUP_SESSION(source), res, GErrorOut(error)));
            if (error)
                (*r)->error = error->message;
            (*r)->done = true;
        },
        new std::shared_ptr<Result>(result_));
}

HttpCall::~HttpCall()
{
    cancel();
}

bool HttpCall::done() const
{
    return result_->done;
}

void HttpCall::cancel()
{
    if (result_->done)
        return;
    g_cancellable_cancel(cancellable_.get());
    wait_until(context_, [&] { return result_->done; }, kTimeoutMs);
}

Expected<HttpResponse> HttpCall::wait(unsigned timeout_ms)
{
    if (!wait_until(context_, [&] { return result_->done; }, timeout_ms)) {
        cancel();
        return Expected<HttpResponse>::failure("no reply to " + what_ + " within " + std::to_string(timeout_ms) +
                                               " ms");
    }
    if (!result_->body)
        return Expected<HttpResponse>::failure(what_ + ": " + result_->error);
    HttpResponse response;
    response.status = soup_message_get_status(message_.get());
    SoupMessageHeaders* headers = soup_message_get_response_headers(message_.get());
    const char* type = soup_message_headers_get_content_type(headers, nullptr);
    response.content_type = type ? type : "";
    soup_message_headers_foreach(
        headers,
        [](const char* name, const char* value, gpointer data) {
            GCharPtr lower(g_ascii_strdown(name, -1));
            (*static_cast<std::map<std::string, std::string>*>(data))[lower.get()] = value;
        },
        &response.headers);
    gsize size = 0;
    auto* data = static_cast<const char*>(g_bytes_get_data(result_->body.get(), &size));
    response.body.assign(data ? data : "", size);
    return response;
}

Expected<HttpResponse> http_get(GMainContext* context, const std::string& url, unsigned timeout_ms)
{
    HttpCall call(context, "GET", url);
    return call.wait(timeout_ms);
}

namespace {
std::string& temp_root()
{
    static std::string root;
    return root;
}
} // namespace

void set_temp_root(const std::string& dir)
{
    temp_root() = dir;
}

void remove_temp_tree(const std::string& dir)
{
    remove_tree(dir);
}

TempDir::TempDir()
{
    if (temp_root().empty()) {
        GErrorPtr error;
        GCharPtr path(g_dir_make_tmp("signalbin-test-XXXXXX", GErrorOut(error)));
        if (path)
            path_ = path.get();
        return;
    }
    GCharPtr path(g_build_filename(temp_root().c_str(), "dir-XXXXXX", nullptr));
    if (g_mkdtemp(path.get()))
        path_ = path.get();
}

TempDir::~TempDir()
{
    if (!path_.empty())
        remove_tree(path_);
}

std::string TempDir::file(const std::string& name) const
{
    GCharPtr path(g_build_filename(path_.c_str(), name.c_str(), nullptr));
    return path.get();
}

bool TempDir::write(const std::string& name, const std::string& contents) const
{
    std::string path = file(name);
    GCharPtr dir(g_path_get_dirname(path.c_str()));
    g_mkdir_with_parents(dir.get(), 0700);
    return g_file_set_contents(path.c_str(), contents.data(), gssize(contents.size()), nullptr);
}

Expected<bool> make_self_signed_certificate(const TempDir& dir, const std::string& cert_name,
                                            const std::string& key_name)
{
    std::string key = dir.file(key_name);
    std::string cert = dir.file(cert_name);
    const char* argv[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                          "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                          "-keyout", key.c_str(), "-out", cert.c_str(), nullptr};
    char* out = nullptr;
    char* err = nullptr;
    int status = 0;
    GErrorPtr error;
    bool spawned = g_spawn_sync(nullptr, const_cast<char**>(argv), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr,
                                &out, &err, &status, GErrorOut(error));
    GCharPtr out_owner(out), err_owner(err);
    if (!spawned)
        return Expected<bool>::failure(std::string("cannot run openssl: ") + error->message);
    if (!g_spawn_check_wait_status(status, GErrorOut(error)))
        return Expected<bool>::failure(std::string("openssl failed (") + error->message + "): " + (err ? err : ""));
    if (!g_file_test(key.c_str(), G_FILE_TEST_IS_REGULAR) || !g_file_test(cert.c_str(), G_FILE_TEST_IS_REGULAR))
        return Expected<bool>::failure("openssl wrote no certificate or key");
    return true;
}

} // namespace signalbin::test
