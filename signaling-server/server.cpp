#include "server.h"

#include "glib-ptr.h"
#include "http-files.h"
#include "hub.h"
#include "rate-limiter.h"
#include "uuid.h"

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unordered_map>
#include <vector>

namespace signalbin::server {

namespace {

constexpr gushort kCloseGoingAway = SOUP_WEBSOCKET_CLOSE_GOING_AWAY;
constexpr gushort kClosePolicyViolation = SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION;
constexpr guint kLingerMs = 3000; // for a close handshake to finish

std::string address_string(GSocketAddress* address)
{
    if (!address || !G_IS_INET_SOCKET_ADDRESS(address))
        return "?";
    auto* inet = G_INET_SOCKET_ADDRESS(address);
    GCharPtr host(g_inet_address_to_string(g_inet_socket_address_get_address(inet)));
    return std::string(host.get()) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
}

// Compares without an early exit, so the time taken says nothing of where a
// wrong token differs.
bool same_secret(const std::string& a, const std::string& b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

// What soup_server_listen() would make, but with a listen backlog that takes a
// burst of connections: libsoup keeps GSocket's default of 10, and when more
// handshakes than that arrive at once (viewers opening the page together,
// every element reconnecting after a restart) the kernel drops the excess
// SYNs, which clients retry only after 1 s, then 3 s, 7 s... The kernel caps
// the value at net.core.somaxconn.
constexpr gint kListenBacklog = 4096;

GRef<GSocket> listening_socket(GSocketAddress* address, GError** error)
{
    GSocketFamily family = g_socket_address_get_family(address);
    GRef<GSocket> socket =
        adopt_ref(g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error));
    if (!socket)
        return {};
    if (family == G_SOCKET_FAMILY_IPV6)
        g_socket_set_option(socket.get(), IPPROTO_IPV6, IPV6_V6ONLY, TRUE, nullptr);
    g_socket_set_listen_backlog(socket.get(), kListenBacklog);
    if (!g_socket_bind(socket.get(), address, TRUE, error) || !g_socket_listen(socket.get(), error))
        return {};
    return socket;
}

// Dead peers (a machine that vanished without closing) are found by the
// kernel's TCP keep-alive probes, not by a WebSocket ping timer per
// connection: with thousands of peers, a GLib source each makes every pass
// of the main loop slower.
void enable_tcp_keepalive(GSocket* socket, unsigned idle_seconds)
{
    if (!socket || idle_seconds == 0)
        return;
    g_socket_set_keepalive(socket, TRUE);
    int fd = g_socket_get_fd(socket);
    int idle = static_cast<int>(idle_seconds);
    int interval = std::max(1, idle / 4);
    int count = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

void set_text_response(SoupServerMessage* msg, guint status, const char* reason, const std::string& body)
{
    soup_server_message_set_status(msg, status, reason);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(), body.size());
}

} // namespace

class Server::Impl {
public:
    struct Connection {
        explicit Connection(TokenBucket b) : bucket(b) {}
        std::string id;
        std::string remote;
        GRef<SoupWebsocketConnection> ws;
        GRef<GSocket> socket;
        TokenBucket bucket;
        int64_t flood_started_us = -1;
        int64_t last_drop_us = -1;
        uint64_t sent_bytes = 0;  // frames handed to libsoup, with headers
        uint64_t acked_bytes = 0; // last TCP_INFO reading
        bool closing = false; // gone from the hub's point of view
        bool closed = false;  // libsoup says the socket is closed
        std::string close_reason;
        ScopedSource linger_timer;
        Impl* impl = nullptr;
        SignalConnection on_message, on_closed, on_error;
    };

    Impl(GMainContext* context, ServerOptions options)
        : context_(take_ref(context ? context : g_main_context_default())),
          options_(std::move(options)),
          hub_(Hub::Output {[this](const std::string& id, const std::string& json) { deliver(id, json); },
                            [this](const std::string& line) { log(line); }})
    {
    }

    ~Impl()
    {
        connections_.clear();
        closing_.clear();
        if (soup_) {
            soup_server_remove_handler(soup_.get(), "/");
            soup_server_disconnect(soup_.get());
        }
    }

    Expected<bool> listen()
    {
        ThreadDefaultContext scope(context_.get());
        GRef<GTlsCertificate> certificate;
        if (!options_.cert_file.empty() || !options_.key_file.empty()) {
            if (options_.cert_file.empty() || options_.key_file.empty())
                return Expected<bool>::failure("TLS needs both a certificate (--cert) and a key (--key)");
            for (const std::string* file : {&options_.cert_file, &options_.key_file}) {
                if (!g_file_test(file->c_str(), G_FILE_TEST_IS_REGULAR) || access(file->c_str(), R_OK) != 0)
                    return Expected<bool>::failure("cannot read " + *file + ": no such readable file");
            }
            GErrorPtr error;
            certificate = adopt_ref(g_tls_certificate_new_from_files(options_.cert_file.c_str(),
                                                                     options_.key_file.c_str(), GErrorOut(error)));
            if (!certificate)
                return Expected<bool>::failure("cannot load the TLS certificate " + options_.cert_file + " with key " +
                                               options_.key_file + ": " + (error ? error->message : "unknown error"));
        }
        soup_ = certificate ? adopt_ref(soup_server_new("server-header", "signalbin ", "tls-certificate",
                                                        certificate.get(), nullptr))
                            : adopt_ref(soup_server_new("server-header", "signalbin ", nullptr));
        // Compression would let a small frame inflate past the size limit.
        soup_server_remove_websocket_extension(soup_.get(), SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
        soup_server_add_handler(soup_.get(), "/", &Impl::on_http, this, nullptr);
        soup_server_add_websocket_handler(soup_.get(), "/", nullptr, nullptr, &Impl::on_websocket, this, nullptr);

        std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
        GRef<GInetAddress> inet = adopt_ref(g_inet_address_new_from_string(host.c_str()));
        if (!inet)
            return Expected<bool>::failure("host \"" + options_.host +
                                           "\" is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or ::)");
        if (options_.port > 65535)
            return Expected<bool>::failure("port " + std::to_string(options_.port) + " is out of range (0-65535)");
        GRef<GSocketAddress> address =
            adopt_ref(g_inet_socket_address_new(inet.get(), static_cast<guint16>(options_.port)));
        GErrorPtr error;
        GRef<GSocket> socket = listening_socket(address.get(), GErrorOut(error));
        if (!socket ||
            !soup_server_listen_socket(soup_.get(), socket.get(),
                                       certificate ? SOUP_SERVER_LISTEN_HTTPS : static_cast<SoupServerListenOptions>(0),
                                       GErrorOut(error)))
            return Expected<bool>::failure("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                           ": " + (error ? error->message : "unknown error"));
        tls_ = static_cast<bool>(certificate);
        GSList* listeners = soup_server_get_listeners(soup_.get());
        if (listeners) {
            GRef<GSocketAddress> local =
                adopt_ref(g_socket_get_local_address(G_SOCKET(listeners->data), nullptr));
            if (local)
                port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local.get()));
        }
        g_slist_free(listeners);
        return true;
    }

    unsigned port() const { return port_; }
    bool tls() const { return tls_; }
    size_t peer_count() const { return connections_.size(); }
    size_t session_count() const { return hub_.session_count(); }
    const ServerOptions& options() const { return options_; }

    void shutdown(std::function<void()> done, unsigned timeout_ms)
    {
        shutdown_done_ = std::move(done);
        shutting_down_ = true;
        if (soup_)
            soup_server_disconnect(soup_.get());
        for (auto& [id, conn] : connections_) {
            if (!conn->closing && soup_websocket_connection_get_state(conn->ws.get()) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_close(conn->ws.get(), kCloseGoingAway, "server shutting down");
        }
        shutdown_timer_ = ScopedSource::timeout(context_.get(), timeout_ms, [this] {
            for (auto& [id, conn] : connections_)
                drop(*conn, "did not close in time at shutdown");
            for (auto& [id, conn] : closing_)
                drop(*conn, "did not close in time at shutdown");
            finish_shutdown();
            return false;
        });
        maybe_finish_shutdown();
    }

private:
    // ---- HTTP and handshake ------------------------------------------------

    static void on_http(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query, gpointer data)
    {
        static_cast<Impl*>(data)->handle_http(msg, path, query);
    }

    void handle_http(SoupServerMessage* msg, const char* path, GHashTable* query)
    {
        SoupMessageHeaders* headers = soup_server_message_get_request_headers(msg);
        if (soup_message_headers_header_contains(headers, "Upgrade", "websocket")) {
            check_handshake(msg, query);
            return;
        }
        const char* method = soup_server_message_get_method(msg);
        if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
            set_text_response(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr, "only GET and HEAD are served here\n");
            return;
        }
        if (g_strcmp0(path, "/health") == 0) {
            std::string body = "{\"status\":\"ok\",\"peers\":" + std::to_string(connections_.size()) +
                               ",\"sessions\":" + std::to_string(hub_.session_count()) + "}";
            soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
            soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body.data(), body.size());
            return;
        }
        serve_file(msg, options_.web_root, path);
    }

    // Runs before libsoup completes a WebSocket handshake: setting a status
    // here refuses it.
    void check_handshake(SoupServerMessage* msg, GHashTable* query)
    {
        if (shutting_down_) {
            set_text_response(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Shutting Down", "server is shutting down\n");
            return;
        }
        if (!options_.token.empty()) {
            std::string presented;
            const char* auth =
                soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
            if (auth && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0)
                presented = auth + 7;
            else if (query) {
                if (auto* t = static_cast<const char*>(g_hash_table_lookup(query, "token")))
                    presented = t;
            }
            if (!same_secret(presented, options_.token)) {
                soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                             "Bearer realm=\"signalbin\"");
                set_text_response(msg, SOUP_STATUS_UNAUTHORIZED, "Wrong Or Missing Token",
                                  presented.empty()
                                      ? "this server needs a token: send \"Authorization: Bearer <token>\" or "
                                        "connect to ws://host:port/?token=<token>\n"
                                      : "the token presented is not the server's token\n");
                log("refused " + address_string(soup_server_message_get_remote_address(msg)) + ": " +
                    (presented.empty() ? "no token" : "wrong token"));
                return;
            }
        }
        if (connections_.size() >= options_.max_peers) {
            set_text_response(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Server Full",
                              "server full: " + std::to_string(connections_.size()) + " peers connected (limit " +
                                  std::to_string(options_.max_peers) + ")\n");
            log("refused " + address_string(soup_server_message_get_remote_address(msg)) + ": server full (" +
                std::to_string(options_.max_peers) + " peers)");
            return;
        }
    }

    static void on_websocket(SoupServer*, SoupServerMessage* msg, const char*, SoupWebsocketConnection* ws,
                             gpointer data)
    {
        static_cast<Impl*>(data)->accept(msg, ws);
    }

    void accept(SoupServerMessage* msg, SoupWebsocketConnection* ws)
    {
        auto conn = std::make_unique<Connection>(TokenBucket(options_.rate_limit, options_.rate_burst));
        conn->id = random_uuid();
        conn->remote = address_string(soup_server_message_get_remote_address(msg));
        conn->ws = take_ref(ws);
        conn->socket = take_ref(soup_server_message_get_socket(msg));
        conn->impl = this;
        // Depending on the version, libsoup refuses payloads larger than the
        // value set or as large as it: one byte of slack, and receive()
        // refuses what gets through above the limit.
        soup_websocket_connection_set_max_incoming_payload_size(ws, options_.max_message_bytes + 1);
        enable_tcp_keepalive(conn->socket.get(), options_.keepalive_seconds);
        Connection* c = conn.get();
        c->on_message = connect_signal(ws, "message", &Impl::on_message, c);
        c->on_closed = connect_signal(ws, "closed", &Impl::on_closed, c);
        c->on_error = connect_signal(ws, "error", &Impl::on_error, c);
        std::string id = c->id;
        connections_.emplace(id, std::move(conn));
        log("peer " + id + " connected from " + c->remote + " (" + std::to_string(connections_.size()) + " peers)");
        hub_.add_peer(id);
    }

    // ---- WebSocket traffic --------------------------------------------------

    static void on_message(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data)
    {
        auto* c = static_cast<Connection*>(data);
        c->impl->receive(*c, type, message);
    }

    // libsoup drops a connection whose frame is over its size limit without a
    // close frame; this runs just before, so the peer still learns why.
    static void on_error(SoupWebsocketConnection* ws, GError* error, gpointer data)
    {
        auto* c = static_cast<Connection*>(data);
        if (g_error_matches(error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_TOO_BIG) &&
            soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
            c->impl->close(*c, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
    }

    static void on_closed(SoupWebsocketConnection* ws, gpointer data)
    {
        auto* c = static_cast<Connection*>(data);
        c->closed = true;
        if (c->closing) {
            c->impl->schedule_cleanup();
            return;
        }
        gushort code = soup_websocket_connection_get_close_code(ws);
        const char* reason = soup_websocket_connection_get_close_data(ws);
        std::string why;
        if (code == 0) {
            why = "disconnected without a close frame";
        } else {
            why = "closed (code " + std::to_string(code);
            if (reason && *reason)
                why += std::string(", \"") + reason + "\"";
            why += ")";
        }
        c->impl->retire(*c, why);
    }

    void receive(Connection& c, gint type, GBytes* message)
    {
        if (c.closing)
            return;
        if (g_bytes_get_size(message) > options_.max_message_bytes) {
            close(c, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
            return;
        }
        int64_t now = g_get_monotonic_time();
        if (!c.bucket.take(now)) {
            if (c.flood_started_us < 0) {
                c.flood_started_us = now;
                hub_.send_error(c.id, "rate limit exceeded: at most " + std::to_string(int(options_.rate_limit)) +
                                          " messages a second (bursts of " + std::to_string(int(options_.rate_burst)) +
                                          "); messages are being dropped, and the connection closes if this goes on");
            } else if (now - c.flood_started_us > int64_t(options_.rate_limit_grace_ms) * 1000) {
                close(c, kClosePolicyViolation, "rate limit exceeded");
                return;
            }
            c.last_drop_us = now;
            return;
        }
        if (c.flood_started_us >= 0 && now - c.last_drop_us > G_USEC_PER_SEC)
            c.flood_started_us = -1;

        if (type != SOUP_WEBSOCKET_DATA_TEXT) {
            hub_.send_error(c.id, "binary frames are not part of the protocol: send JSON in text frames");
            return;
        }
        gsize size = 0;
        auto* data = static_cast<const char*>(g_bytes_get_data(message, &size));
        protocol::Parsed<protocol::ClientMessage> parsed = protocol::parse_client_message({data, size});
        if (parsed)
            hub_.handle(c.id, parsed.value());
        else
            hub_.handle_invalid(c.id, parsed.error());
    }

    // Hub output. Must not call back into the hub: anything that would (a
    // peer to drop) is deferred.
    void deliver(const std::string& id, const std::string& json)
    {
        auto it = connections_.find(id);
        if (it == connections_.end() || it->second->closing)
            return;
        Connection& c = *it->second;
        if (soup_websocket_connection_get_state(c.ws.get()) != SOUP_WEBSOCKET_STATE_OPEN)
            return;
        soup_websocket_connection_send_text(c.ws.get(), json.c_str());
        c.sent_bytes += json.size() + (json.size() < 126 ? 2 : json.size() < 65536 ? 4 : 10);
        check_outbound(c);
    }

    // Bytes handed to libsoup that the peer's TCP stack has not acknowledged
    // sit in our queue or our socket buffer. Asks the kernel only when the
    // last reading leaves room for doubt, so the common path costs nothing.
    void check_outbound(Connection& c)
    {
        if (c.sent_bytes - std::min(c.sent_bytes, c.acked_bytes) <= options_.max_outbound_bytes / 2 || !c.socket)
            return;
        struct tcp_info info {};
        socklen_t len = sizeof info;
        if (getsockopt(g_socket_get_fd(c.socket.get()), IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
            len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
            return;
        c.acked_bytes = info.tcpi_bytes_acked;
        uint64_t pending = c.sent_bytes - std::min(c.sent_bytes, c.acked_bytes);
        if (pending > options_.max_outbound_bytes)
            drop(c, "not reading its socket (" + std::to_string(pending) + " bytes unsent, limit " +
                        std::to_string(options_.max_outbound_bytes) + ")");
    }


    // Orderly close with a code. The hub forgets the peer at once; the socket
    // lingers until the close handshake ends (or briefly, if it never does).
    void close(Connection& c, gushort code, const char* reason)
    {
        if (c.closing)
            return;
        soup_websocket_connection_close(c.ws.get(), code, reason);
        retire(c, std::string("closed by the server (code ") + std::to_string(code) + ", " + reason + ")");
    }

    // Forced: the peer cannot be talked to any more.
    void drop(Connection& c, const std::string& why)
    {
        if (!c.closing)
            retire(c, "dropped: " + why);
        if (GIOStream* io = soup_websocket_connection_get_io_stream(c.ws.get()))
            g_io_stream_close(io, nullptr, nullptr);
    }

    // Marks a connection gone; the hub hears of it from an idle callback, never
    // from inside a send or a libsoup signal.
    void retire(Connection& c, const std::string& why)
    {
        c.closing = true;
        c.close_reason = why;
        retired_.push_back(c.id);
        schedule_cleanup();
    }

    void schedule_cleanup()
    {
        if (!cleanup_.active())
            // A zero timeout runs at the default priority: an idle source would
            // starve for as long as sockets keep the context busy.
            cleanup_ = ScopedSource::timeout(context_.get(), 0, [this] {
                cleanup();
                return false;
            });
    }

    void cleanup()
    {
        std::vector<std::string> ids;
        ids.swap(retired_);
        for (const std::string& id : ids) {
            auto it = connections_.find(id);
            if (it == connections_.end())
                continue;
            Connection& c = *it->second;
            c.on_message.disconnect();
            c.on_error.disconnect();
            log("peer " + id + " " + c.close_reason + " (" + std::to_string(connections_.size() - 1) + " peers)");
            c.linger_timer = ScopedSource::timeout(context_.get(), kLingerMs, [this, &c] {
                drop(c, "close handshake timed out");
                c.closed = true;
                schedule_cleanup();
                return false;
            });
            closing_.emplace(id, std::move(it->second));
            connections_.erase(it);
            hub_.remove_peer(id);
        }
        for (auto it = closing_.begin(); it != closing_.end();) {
            if (it->second->closed)
                it = closing_.erase(it);
            else
                ++it;
        }
        maybe_finish_shutdown();
    }

    void maybe_finish_shutdown()
    {
        if (shutting_down_ && connections_.empty() && closing_.empty())
            finish_shutdown();
    }

    void finish_shutdown()
    {
        shutdown_timer_.cancel();
        if (auto done = std::move(shutdown_done_)) {
            shutdown_done_ = nullptr;
            done();
        }
    }

    void log(const std::string& line)
    {
        if (options_.log)
            options_.log(line);
    }

    GRef<GMainContext> context_;
    ServerOptions options_;
    GRef<SoupServer> soup_;
    Hub hub_;
    std::unordered_map<std::string, std::unique_ptr<Connection>> connections_;
    std::unordered_map<std::string, std::unique_ptr<Connection>> closing_;
    std::vector<std::string> retired_;
    ScopedSource cleanup_;
    ScopedSource shutdown_timer_;
    std::function<void()> shutdown_done_;
    bool shutting_down_ = false;
    unsigned port_ = 0;
    bool tls_ = false;
};

Expected<std::unique_ptr<Server>> Server::start(GMainContext* context, ServerOptions options)
{
    auto impl = std::make_unique<Impl>(context, std::move(options));
    Expected<bool> listening = impl->listen();
    if (!listening)
        return Expected<std::unique_ptr<Server>>::failure(listening.error());
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

unsigned Server::port() const
{
    return impl_->port();
}

bool Server::tls() const
{
    return impl_->tls();
}

std::string Server::url() const
{
    std::string host = impl_->options().host;
    if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
    return std::string(tls() ? "wss://" : "ws://") + host + ":" + std::to_string(port()) + "/";
}

size_t Server::peer_count() const
{
    return impl_->peer_count();
}

size_t Server::session_count() const
{
    return impl_->session_count();
}

void Server::shutdown(std::function<void()> done, unsigned timeout_ms)
{
    impl_->shutdown(std::move(done), timeout_ms);
}

} // namespace signalbin::server
