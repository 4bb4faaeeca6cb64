#include "server.h"

#include "epoll-source.h"
#include "glib-ptr.h"
#include "http-files.h"
#include "http-util.h"
#include "hub.h"
#include "http-peers.h"
#include "rate-limiter.h"
#include "uuid.h"
#include "ws-connection.h"

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unordered_map>
#include <vector>

namespace signalbin::server {

namespace {

constexpr guint kLingerMs = 3000; // for a close handshake to finish
// Bytes read from one connection before the others get their turn.
constexpr size_t kReadBudget = 256 * 1024;

std::string address_string(GSocketAddress* address)
{
    if (!address || !G_IS_INET_SOCKET_ADDRESS(address))
        return "?";
    auto* inet = G_INET_SOCKET_ADDRESS(address);
    GCharPtr host(g_inet_address_to_string(g_inet_socket_address_get_address(inet)));
    return std::string(host.get()) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
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


} // namespace

class Server::Impl {
public:
    struct Connection {
        Connection(std::unique_ptr<WsConnection> socket, TokenBucket b) : ws(std::move(socket)), bucket(b) {}
        std::unique_ptr<WsConnection> ws;
        std::string id;
        std::string remote;
        TokenBucket bucket;
        int64_t flood_started_us = -1;
        int64_t last_drop_us = -1;
        uint64_t acked_bytes = 0;  // last TCP_INFO reading
        uint32_t watching = 0;     // epoll events asked for
        bool dirty = false;        // in dirty_: has frames to write
        bool read_pending = false; // in read_pending_: may have bytes to read
        bool closing = false;      // gone from the hub's point of view
        bool closed = false;       // socket closed
        std::string close_reason;
        ScopedSource linger_timer;
    };

    Impl(GMainContext* context, ServerOptions options)
        : context_(take_ref(context ? context : g_main_context_default())),
          options_(std::move(options)),
          hub_(Hub::Output {[this](const std::string& id, const std::string& json) { deliver(id, json); },
                            [this](const std::string& line) { log(line); }},
               options_.make_session_id),
          http_peers_(context_.get(), hub_, http_peers_options(options_, [this](const std::string& line) { log(line); }))
    {
    }

    static HttpPeers::Options http_peers_options(const ServerOptions& o, std::function<void(const std::string&)> log)
    {
        HttpPeers::Options w;
        w.token = o.token;
        w.max_sessions = o.max_peers;
        w.answer_timeout_ms = o.whep_answer_timeout_ms;
        w.log = std::move(log);
        return w;
    }

    ~Impl()
    {
        http_peers_.close_all(); // while the peers it tells are still there
        if (soup_) {
            soup_server_remove_handler(soup_.get(), "/");
            soup_server_disconnect(soup_.get());
        }
        dirty_.clear();
        flushing_.clear();
        read_pending_.clear();
        connections_.clear();
        closing_.clear();
        epoll_.reset();
    }

    Expected<GRef<GTlsCertificate>> load_certificate() const
    {
        using Result = Expected<GRef<GTlsCertificate>>;
        if (options_.cert_file.empty() || options_.key_file.empty())
            return Result::failure("TLS needs both a certificate (--cert) and a key (--key)");
        for (const std::string* file : {&options_.cert_file, &options_.key_file}) {
            if (!g_file_test(file->c_str(), G_FILE_TEST_IS_REGULAR) || access(file->c_str(), R_OK) != 0)
                return Result::failure("cannot read " + *file + ": no such readable file");
        }
        GErrorPtr error;
        GRef<GTlsCertificate> certificate = adopt_ref(
            g_tls_certificate_new_from_files(options_.cert_file.c_str(), options_.key_file.c_str(), GErrorOut(error)));
        if (!certificate)
            return Result::failure("cannot load the TLS certificate " + options_.cert_file + " with key " +
                                   options_.key_file + ": " + (error ? error->message : "unknown error"));
        return certificate;
    }

    Expected<bool> listen()
    {
        ThreadDefaultContext scope(context_.get());
        auto epoll = EpollSource::create(context_.get(), [this](const epoll_event* events, size_t count) {
            on_ready(events, count);
        });
        if (!epoll)
            return Expected<bool>::failure(epoll.error());
        epoll_ = std::move(epoll.value());
        GRef<GTlsCertificate> certificate;
        if (!options_.cert_file.empty() || !options_.key_file.empty()) {
            Expected<GRef<GTlsCertificate>> loaded = load_certificate();
            if (!loaded)
                return Expected<bool>::failure(loaded.error());
            certificate = std::move(loaded.value());
        }
        soup_ = certificate ? adopt_ref(soup_server_new("server-header", "signalbin ", "tls-certificate",
                                                        certificate.get(), nullptr))
                            : adopt_ref(soup_server_new("server-header", "signalbin ", nullptr));
        soup_server_add_handler(soup_.get(), "/", &Impl::on_http, this, nullptr);

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

    // Reads cert_file and key_file again; new connections get the result,
    // established ones keep theirs. A failure changes nothing.
    Expected<bool> reload_certificate()
    {
        if (!tls_)
            return Expected<bool>::failure("the server does not serve TLS: there is no certificate to reload");
        Expected<GRef<GTlsCertificate>> loaded = load_certificate();
        if (!loaded)
            return Expected<bool>::failure(loaded.error() + " (the previous certificate stays in use)");
        // SoupServer binds its listeners' certificate to this property.
        g_object_set(soup_.get(), "tls-certificate", loaded.value().get(), nullptr);
        return true;
    }
    size_t peer_count() const { return connections_.size(); }
    size_t session_count() const { return hub_.session_count(); }
    const ServerOptions& options() const { return options_; }

    void shutdown(std::function<void()> done, unsigned timeout_ms)
    {
        shutdown_done_ = std::move(done);
        shutting_down_ = true;
        http_peers_.close_all();
        if (soup_)
            soup_server_disconnect(soup_.get());
        std::vector<Connection*> open;
        for (auto& [id, conn] : connections_)
            open.push_back(conn.get());
        for (Connection* c : open)
            close(*c, ws::kCloseGoingAway, "server shutting down");
        shutdown_timer_ = ScopedSource::timeout(context_.get(), timeout_ms, [this] {
            for (auto* map : {&connections_, &closing_}) {
                for (auto& [id, conn] : *map)
                    drop(*conn, "did not close in time at shutdown");
            }
            cleanup();
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
            if (check_handshake(msg, query))
                upgrade(msg);
            return;
        }
        if (HttpPeers::serves(path)) {
            if (shutting_down_)
                set_text_response(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Shutting Down", "server is shutting down\n");
            else
                http_peers_.handle(msg, path, query);
            return;
        }
        const char* method = soup_server_message_get_method(msg);
        if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
            set_text_response(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr, "only GET and HEAD are served here\n");
            return;
        }
        if (g_strcmp0(path, "/health") == 0) {
            std::string body = "{\"status\":\"ok\",\"peers\":" + std::to_string(connections_.size()) +
                               ",\"sessions\":" + std::to_string(hub_.session_count()) +
                               ",\"whep\":" + std::to_string(http_peers_.whep_count()) +
                               ",\"whip\":" + std::to_string(http_peers_.whip_count()) + "}";
            soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
            soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body.data(), body.size());
            return;
        }
        serve_file(msg, options_.web_root, path);
    }

    // Whether to go on with a WebSocket handshake; if not, the response says why.
    bool check_handshake(SoupServerMessage* msg, GHashTable* query)
    {
        if (shutting_down_) {
            set_text_response(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Shutting Down", "server is shutting down\n");
            return false;
        }
        if (!options_.token.empty()) {
            std::string presented = presented_token(msg, query);
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
                return false;
            }
        }
        if (connections_.size() >= options_.max_peers) {
            set_text_response(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Server Full",
                              "server full: " + std::to_string(connections_.size()) + " peers connected (limit " +
                                  std::to_string(options_.max_peers) + ")\n");
            log("refused " + address_string(soup_server_message_get_remote_address(msg)) + ": server full (" +
                std::to_string(options_.max_peers) + " peers)");
            return false;
        }
        return true;
    }

    // The handshake is libsoup's; once its 101 response is written the
    // connection is ours (see on_upgraded).
    void upgrade(SoupServerMessage* msg)
    {
        // No extensions: compression would let a small frame inflate past the
        // size limit. Any origin and subprotocol are accepted.
        if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr))
            return; // libsoup set a 400 that says what was wrong
        g_signal_connect(msg, "wrote-informational", G_CALLBACK(&Impl::on_upgraded), this);
    }

    static void on_upgraded(SoupServerMessage* msg, gpointer data)
    {
        static_cast<Impl*>(data)->accept(msg);
    }

    void accept(SoupServerMessage* msg)
    {
        GRef<GSocket> socket = take_ref(soup_server_message_get_socket(msg));
        std::string remote = address_string(soup_server_message_get_remote_address(msg));
        GRef<GIOStream> stream = adopt_ref(soup_server_message_steal_connection(msg));
        if (!stream || !socket)
            return;
        enable_tcp_keepalive(socket.get(), options_.keepalive_seconds);
        auto ws = std::make_unique<WsConnection>(std::move(stream), std::move(socket), !tls_,
                                                 options_.max_message_bytes);
        auto conn = std::make_unique<Connection>(std::move(ws), TokenBucket(options_.rate_limit, options_.rate_burst));
        Connection* c = conn.get();
        c->id = random_uuid();
        c->remote = std::move(remote);
        c->watching = EPOLLIN;
        if (!epoll_->add(c->ws->fd(), c->watching, c)) {
            log("cannot watch the connection from " + c->remote + ": " + g_strerror(errno));
            return;
        }
        connections_.emplace(c->id, std::move(conn));
        log("peer " + c->id + " connected from " + c->remote + " (" + std::to_string(connections_.size()) +
            " peers)");
        hub_.add_peer(c->id);
        // libsoup may have read past the handshake: what it holds is read
        // on the next pass, as the socket may never signal it.
        want_read(*c);
        wake();
    }

    // ---- WebSocket traffic --------------------------------------------------

    void on_ready(const epoll_event* events, size_t count)
    {
        in_dispatch_ = true;
        std::vector<Connection*> again;
        again.swap(read_pending_);
        for (Connection* c : again)
            c->read_pending = false;
        for (size_t i = 0; i < count; ++i) {
            auto* c = static_cast<Connection*>(events[i].data.ptr);
            if (c->closed)
                continue;
            if (events[i].events & EPOLLOUT)
                flush(*c);
            if (!c->closed && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                read(*c);
        }
        for (Connection* c : again) {
            if (!c->closed)
                read(*c);
        }
        flush_dirty();
        in_dispatch_ = false;
        if (!read_pending_.empty())
            wake();
    }

    void read(Connection& c)
    {
        WsConnection::ReadStatus status =
            c.ws->read(kReadBudget, [this, &c](const ws::FrameEvent& event) { on_frame(c, event); });
        if (c.closed)
            return;
        if (status == WsConnection::ReadStatus::More)
            want_read(c);
        else if (status == WsConnection::ReadStatus::Closed)
            socket_closed(c, c.ws->error().empty() ? "disconnected without a close frame" : c.ws->error());
    }

    void want_read(Connection& c)
    {
        if (!c.read_pending) {
            c.read_pending = true;
            read_pending_.push_back(&c);
        }
    }

    void on_frame(Connection& c, const ws::FrameEvent& event)
    {
        using Kind = ws::FrameEvent::Kind;
        switch (event.kind) {
        case Kind::Text:
        case Kind::Binary:
            receive(c, event.kind == Kind::Text, event.payload);
            break;
        case Kind::Ping:
            c.ws->queue(ws::Opcode::Pong, event.payload);
            mark_dirty(c);
            break;
        case Kind::Pong:
            break;
        case Kind::Close:
            peer_closed(c, event.code, event.reason);
            break;
        case Kind::Error:
            close(c, event.code, std::string(event.reason));
            break;
        }
    }

    // The peer's close frame: answered (unless it answers ours), then the
    // server closes the TCP connection, as RFC 6455 has it.
    void peer_closed(Connection& c, uint16_t code, std::string_view reason)
    {
        if (!c.ws->close_queued()) {
            bool valid = code == ws::kCloseNoStatus ||
                         (code >= 1000 && code < 5000 && code != 1004 && code != 1006 && code != 1015 &&
                          (code < 1012 || code >= 3000 || code <= 1014));
            c.ws->queue_close(!valid                         ? ws::kCloseProtocolError
                              : code == ws::kCloseNoStatus ? ws::kCloseNormal
                                                           : code,
                              "");
            c.ws->flush();
        }
        std::string why;
        if (code == ws::kCloseNoStatus) {
            why = "closed (no code)";
        } else {
            why = "closed (code " + std::to_string(code);
            if (!reason.empty())
                why += ", \"" + std::string(reason) + "\"";
            why += ")";
        }
        socket_closed(c, why);
    }

    void receive(Connection& c, bool text, std::string_view message)
    {
        if (c.closing)
            return;
        int64_t now = g_get_monotonic_time();
        if (!c.bucket.take(now)) {
            if (c.flood_started_us < 0) {
                c.flood_started_us = now;
                hub_.send_error(c.id, "rate limit exceeded: at most " + std::to_string(int(options_.rate_limit)) +
                                          " messages a second (bursts of " + std::to_string(int(options_.rate_burst)) +
                                          "); messages are being dropped, and the connection closes if this goes on");
            } else if (now - c.flood_started_us > int64_t(options_.rate_limit_grace_ms) * 1000) {
                close(c, ws::kClosePolicyViolation, "rate limit exceeded");
                return;
            }
            c.last_drop_us = now;
            return;
        }
        if (c.flood_started_us >= 0 && now - c.last_drop_us > G_USEC_PER_SEC)
            c.flood_started_us = -1;

        if (!text) {
            hub_.send_error(c.id, "binary frames are not part of the protocol: send JSON in text frames");
            return;
        }
        protocol::Parsed<protocol::ClientMessage> parsed = protocol::parse_client_message(message);
        if (parsed)
            hub_.handle(c.id, parsed.value());
        else
            hub_.handle_invalid(c.id, parsed.error());
    }

    // Hub output. Must not call back into the hub: anything that would (a
    // peer to drop) is deferred.
    void deliver(const std::string& id, const std::string& json)
    {
        if (http_peers_.owns(id)) {
            http_peers_.deliver(id, json);
            return;
        }
        auto it = connections_.find(id);
        if (it == connections_.end() || it->second->closing)
            return;
        Connection& c = *it->second;
        c.ws->queue(ws::Opcode::Text, json);
        mark_dirty(c);
        check_outbound(c);
    }

    // Frames queued during a pass go out together at its end: one send()
    // for everything a peer is due, however many messages that is.
    void mark_dirty(Connection& c)
    {
        if (c.dirty || c.closed)
            return;
        c.dirty = true;
        dirty_.push_back(&c);
        if (!in_dispatch_)
            wake();
    }

    void flush_dirty()
    {
        // The two lists trade places, so neither allocates once it has grown.
        flushing_.swap(dirty_);
        for (Connection* c : flushing_) {
            c->dirty = false;
            if (!c->closed)
                flush(*c);
        }
        flushing_.clear();
    }

    void flush(Connection& c)
    {
        WsConnection::WriteStatus status = c.ws->flush();
        if (status == WsConnection::WriteStatus::Failed) {
            socket_closed(c, c.ws->error());
            return;
        }
        uint32_t want = EPOLLIN | (status == WsConnection::WriteStatus::Blocked ? uint32_t(EPOLLOUT) : 0u);
        if (want != c.watching) {
            c.watching = want;
            epoll_->modify(c.ws->fd(), want, &c);
        }
        // Our close frame is out: the end of the stream follows it, and the
        // peer's answer (or its closing the socket) ends the connection.
        if (status == WsConnection::WriteStatus::Done && c.ws->close_queued())
            c.ws->shutdown_write();
    }

    // Bytes queued that the peer's TCP stack has not acknowledged sit in our
    // queue or the socket buffer. Asks the kernel only when the last reading
    // leaves room for doubt, so the common path costs nothing.
    void check_outbound(Connection& c)
    {
        uint64_t queued = c.ws->queued_total();
        if (queued - std::min(queued, c.acked_bytes) <= options_.max_outbound_bytes / 2)
            return;
        struct tcp_info info {};
        socklen_t len = sizeof info;
        if (getsockopt(c.ws->fd(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
            len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
            return;
        // The handshake's response was acknowledged too, but is not counted
        // in `queued`: a few hundred bytes of slack.
        c.acked_bytes = info.tcpi_bytes_acked;
        uint64_t pending = queued - std::min(queued, c.acked_bytes);
        if (pending > options_.max_outbound_bytes)
            drop(c, "not reading its socket (" + std::to_string(pending) + " bytes unsent, limit " +
                        std::to_string(options_.max_outbound_bytes) + ")");
    }

    // Orderly close with a code. The hub forgets the peer at once; the socket
    // lingers until the peer answers (or briefly, if it never does).
    void close(Connection& c, uint16_t code, const std::string& reason)
    {
        if (c.closing || c.closed)
            return;
        c.ws->queue_close(code, reason);
        mark_dirty(c);
        retire(c, "closed by the server (code " + std::to_string(code) + ", " + reason + ")");
    }

    // Forced: the peer cannot be talked to any more.
    void drop(Connection& c, const std::string& why)
    {
        if (!c.closing)
            retire(c, "dropped: " + why);
        close_socket(c);
    }

    // The connection is over (the peer closed, or reading or writing failed).
    void socket_closed(Connection& c, const std::string& why)
    {
        close_socket(c);
        if (!c.closing)
            retire(c, why);
    }

    void close_socket(Connection& c)
    {
        if (c.closed)
            return;
        epoll_->remove(c.ws->fd());
        c.ws->close_now();
        c.closed = true;
        schedule_cleanup();
    }

    // Marks a connection gone; the hub hears of it from a zero-delay timeout,
    // never from inside a send or a read.
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
            log("peer " + id + " " + c.close_reason + " (" + std::to_string(connections_.size() - 1) + " peers)");
            if (!c.closed)
                c.linger_timer = ScopedSource::timeout(context_.get(), kLingerMs, [this, &c] {
                    close_socket(c);
                    return false;
                });
            closing_.emplace(id, std::move(it->second));
            connections_.erase(it);
            hub_.remove_peer(id);
        }
        // What the hub sent just now goes out before anything is freed.
        flush_dirty();
        for (auto it = closing_.begin(); it != closing_.end();) {
            Connection& c = *it->second;
            if (c.closed && !c.dirty && !c.read_pending)
                it = closing_.erase(it);
            else
                ++it;
        }
        maybe_finish_shutdown();
    }

    void wake() { epoll_->wake(); }

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
    std::unique_ptr<EpollSource> epoll_;
    Hub hub_;
    HttpPeers http_peers_;
    std::unordered_map<std::string, std::unique_ptr<Connection>> connections_;
    std::unordered_map<std::string, std::unique_ptr<Connection>> closing_;
    std::vector<std::string> retired_;
    std::vector<Connection*> dirty_;        // frames queued, to write at the end of the pass
    std::vector<Connection*> flushing_;     // dirty_ while flush_dirty() writes it
    std::vector<Connection*> read_pending_; // to read on the next pass
    bool in_dispatch_ = false;
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

Expected<bool> Server::reload_certificate()
{
    return impl_->reload_certificate();
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
