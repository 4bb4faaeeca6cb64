#include "ws-signaller.h"

#include "overloaded.h"

#include <gst/gst.h>

#include <map>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(signaller_debug);
#define GST_CAT_DEFAULT signaller_debug

namespace signalbin {

namespace {

void init_debug()
{
    static std::once_flag once;
    std::call_once(once, [] {
        GST_DEBUG_CATEGORY_INIT(signaller_debug, "signalbin-signaller", 0, "signalbin signalling");
    });
}

// host and port of a ws:// URL (port defaults to 80/443 by scheme).
bool split_url(const std::string& url, std::string& host, unsigned& port, bool& secure)
{
    GRef<GUri> uri = adopt_ref(g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr));
    if (!uri)
        return false;
    secure = g_ascii_strcasecmp(g_uri_get_scheme(uri.get()), "wss") == 0;
    host = g_uri_get_host(uri.get()) ? g_uri_get_host(uri.get()) : "";
    int p = g_uri_get_port(uri.get()); // -1 when the URL has none; 0 is "any free port"
    port = p >= 0 ? static_cast<unsigned>(p) : (secure ? 443 : 80);
    return !host.empty();
}

std::string with_port(const std::string& url, unsigned port)
{
    GRef<GUri> uri = adopt_ref(g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr));
    if (!uri)
        return url;
    GRef<GUri> changed = adopt_ref(g_uri_build(G_URI_FLAGS_NONE, g_uri_get_scheme(uri.get()), nullptr,
                                               g_uri_get_host(uri.get()), static_cast<int>(port),
                                               g_uri_get_path(uri.get()), g_uri_get_query(uri.get()), nullptr));
    GCharPtr text(g_uri_to_string(changed.get()));
    return text.get();
}

std::string seconds(unsigned ms)
{
    GCharPtr text(g_strdup_printf("%.1f s", ms / 1000.0));
    return text.get();
}

} // namespace

// ---- EmbeddedServer --------------------------------------------------------

class EmbeddedServer::Impl {
public:
    ContextThread thread {"signalbin-srv"};
    std::unique_ptr<server::Server> server;
};

namespace {
std::mutex embedded_lock;
// Never destroyed: a server may be let go on a thread that still runs while
// the process exits, after its static objects are gone.
auto& embedded_servers = *new std::map<unsigned, std::weak_ptr<EmbeddedServer>>;
} // namespace

std::shared_ptr<EmbeddedServer> EmbeddedServer::acquire(const server::ServerOptions& options, std::string& error)
{
    std::lock_guard<std::mutex> guard(embedded_lock);
    if (options.port != 0) {
        auto it = embedded_servers.find(options.port);
        if (it != embedded_servers.end()) {
            if (auto existing = it->second.lock())
                return existing;
        }
    }
    auto impl = std::make_unique<Impl>();
    Impl* raw = impl.get();
    raw->thread.invoke_sync([&] {
        auto started = server::Server::start(raw->thread.context(), options);
        if (started)
            raw->server = std::move(started.value());
        else
            error = started.error();
    });
    if (!raw->server)
        return nullptr;
    unsigned port = raw->server->port();
    auto shared = std::shared_ptr<EmbeddedServer>(new EmbeddedServer(std::move(impl), port));
    embedded_servers[port] = shared;
    return shared;
}

EmbeddedServer::EmbeddedServer(std::unique_ptr<Impl> impl, unsigned port) : impl_(std::move(impl)), port_(port) {}

EmbeddedServer::~EmbeddedServer()
{
    {
        std::lock_guard<std::mutex> guard(embedded_lock);
        auto it = embedded_servers.find(port_);
        if (it != embedded_servers.end() && it->second.expired())
            embedded_servers.erase(it);
    }
    Impl* impl = impl_.get();
    impl->thread.invoke_sync([impl] { impl->server.reset(); });
    impl->thread.stop();
}

// ---- WsSignaller -------------------------------------------------------------

WsSignaller::WsSignaller(Options options, Callbacks callbacks)
    : Signaller(std::move(options), std::move(callbacks), "signalbin-sig")
{
    init_debug();
}

WsSignaller::~WsSignaller()
{
    thread_.invoke_sync([this] {
        connect_timer_.cancel();
        client_.reset();
        server_.reset();
    });
}

void WsSignaller::start()
{
    // The embedded server starts here, on the caller's thread (it runs on a
    // thread of its own), so that its port is known when start() returns.
    std::string fatal, fatal_debug;
    Expected<bool> valid = client::validate_url(options_.client.url);
    if (!valid) {
        fatal = "Invalid signalling server URL: " + valid.error();
    } else if (options_.run_server && !server_) {
        server::ServerOptions so;
        bool secure = false;
        split_url(options_.client.url, so.host, so.port, secure);
        so.token = options_.client.token;
        if (secure)
            fatal_debug = "run-server cannot serve wss:// (no certificate); use a ws:// server-url or an external "
                          "server";
        else
            server_ = EmbeddedServer::acquire(so, fatal_debug);
        if (!server_) {
            fatal = "Could not start the embedded signalling server for " + options_.client.url;
        } else {
            if (so.port == 0)
                options_.client.url = with_port(options_.client.url, server_->port());
            server_port_ = server_->port();
            GST_INFO("embedded signalling server on port %u", server_->port());
        }
    }
    thread_.invoke([this, fatal, fatal_debug] {
        if (client_ || stopped_)
            return;
        ever_connected_ = false;
        if (!fatal.empty()) {
            failed_ = true;
            if (callbacks_.on_fatal)
                callbacks_.on_fatal(fatal, fatal_debug);
            return;
        }
        client_ = std::make_unique<client::Client>(
            thread_.context(), options_.client,
            client::Client::Callbacks {
                [this](client::State s, const std::string& d) { on_state(s, d); },
                [this](const protocol::ServerMessage& m) { on_message(m); },
                [](const protocol::ParseError& e) { GST_WARNING("invalid message from server: %s", e.message().c_str()); },
            });
        if (options_.connect_timeout_ms > 0)
            connect_timer_ = ScopedSource::timeout(thread_.context(), options_.connect_timeout_ms, [this] {
                if (!ever_connected_ && !failed_) {
                    failed_ = true;
                    std::string detail = last_detail_;
                    client_->stop();
                    if (callbacks_.on_fatal)
                        callbacks_.on_fatal("Could not connect to the signalling server at " + options_.client.url +
                                                " within " + seconds(options_.connect_timeout_ms) +
                                                ". Is the server running there? (run-server=true starts one "
                                                "in-process)",
                                            detail);
                }
                return false;
            });
        client_->start();
    });
}

void WsSignaller::stop()
{
    // May run inside one of our callbacks (the element stopped from a
    // handler on this thread): the client allows being destroyed from its
    // callbacks, and ours stay in place, unused from now on.
    thread_.invoke_sync([this] {
        stopped_ = true;
        connect_timer_.cancel();
        if (client_)
            client_->stop();
        client_.reset();
    });
}

void WsSignaller::on_state(client::State state, const std::string& detail)
{
    if (stopped_)
        return;
    GST_DEBUG("signalling %s: %s", client::to_string(state), detail.c_str());
    switch (state) {
    case client::State::Connecting:
        break;
    case client::State::Connected:
        break; // ready once welcomed
    case client::State::Reconnecting:
        last_detail_ = detail;
        if (ever_connected_ && !peer_id_.empty()) {
            peer_id_.clear();
            if (callbacks_.on_warning)
                callbacks_.on_warning("Lost the connection to the signalling server at " + options_.client.url + ": " +
                                      detail);
        }
        break;
    case client::State::Closed:
        last_detail_ = detail;
        if (!failed_ && detail != "stopped") {
            failed_ = true;
            if (callbacks_.on_fatal)
                callbacks_.on_fatal("Signalling with " + options_.client.url + " failed", detail);
        }
        break;
    }
}

void WsSignaller::on_message(const protocol::ServerMessage& message)
{
    if (stopped_)
        return;
    using namespace protocol;
    GST_LOG("received %s", serialize(message).c_str());
    std::visit(Overloaded {
                   [&](const Welcome& m) {
                       bool reconnected = ever_connected_;
                       ever_connected_ = true;
                       peer_id_ = m.peer_id;
                       connect_timer_.cancel();
                       // v1_1 carries a reason with endSession.
                       client_->send(SetProtocolVersion {Version::V1_1});
                       if (options_.role == Role::Producer) {
                           client_->send(SetPeerStatus {{protocol::Role::Producer}, options_.meta});
                       } else {
                           client_->send(SetPeerStatus {{protocol::Role::Listener}, {}});
                           client_->send(ListRequest {});
                       }
                       if (callbacks_.on_ready)
                           callbacks_.on_ready(peer_id_, reconnected);
                   },
                   [&](const PeerStatusChanged& m) {
                       if (options_.role != Role::Consumer || m.peer_id == peer_id_)
                           return;
                       bool producer = false;
                       for (auto r : m.roles)
                           producer |= r == protocol::Role::Producer;
                       if (producer) {
                           if (callbacks_.on_producer_added)
                               callbacks_.on_producer_added(m.peer_id, m.meta);
                       } else if (callbacks_.on_producer_removed) {
                           callbacks_.on_producer_removed(m.peer_id);
                       }
                   },
                   [&](const List& m) {
                       if (options_.role != Role::Consumer || !callbacks_.on_producer_added)
                           return;
                       for (const PeerInfo& p : m.producers) {
                           if (p.id != peer_id_)
                               callbacks_.on_producer_added(p.id, p.meta);
                       }
                   },
                   [&](const SessionStarted& m) {
                       if (callbacks_.on_session_started)
                           callbacks_.on_session_started(m.session_id, m.peer_id);
                   },
                   [&](const StartSession& m) {
                       if (callbacks_.on_session_requested)
                           callbacks_.on_session_requested(m.session_id, m.peer_id, m.offer);
                   },
                   [&](const Peer& m) {
                       if (auto* sdp = std::get_if<Sdp>(&m.payload)) {
                           if (callbacks_.on_sdp)
                               callbacks_.on_sdp(m.session_id, *sdp);
                       } else if (callbacks_.on_ice) {
                           callbacks_.on_ice(m.session_id, std::get<Ice>(m.payload));
                       }
                   },
                   [&](const EndSession& m) {
                       if (callbacks_.on_session_ended)
                           callbacks_.on_session_ended(m.session_id, std::nullopt);
                   },
                   [&](const EndSessionV1_1& m) {
                       if (callbacks_.on_session_ended)
                           callbacks_.on_session_ended(m.session_id, m.error);
                   },
                   [&](const ListConsumers&) {},
                   [&](const Error& m) {
                       GST_WARNING("signalling server error: %s", m.details.c_str());
                       if (callbacks_.on_server_error)
                           callbacks_.on_server_error(m.details);
                   },
               },
               message);
}

void WsSignaller::send(protocol::ClientMessage message)
{
    // Queued work must not outlive us: when the last owner lets go on this
    // thread, we are gone before it runs.
    thread_.invoke([weak = weak_from_this(), message = std::move(message)] {
        auto self = std::static_pointer_cast<WsSignaller>(weak.lock());
        if (self)
            self->send_now(message);
    });
}

void WsSignaller::send_now(const protocol::ClientMessage& message)
{
    {
        GST_LOG("sending %s", protocol::serialize(message).c_str());
        if (client_ && client_->send(message))
            return;
        // An SDP or candidate that never reaches the peer leaves its session
        // stuck in negotiation: the session's owner hears of it and ends it.
        if (const auto* peer = std::get_if<protocol::Peer>(&message)) {
            const char* what = std::holds_alternative<protocol::Sdp>(peer->payload) ? "SDP" : "ICE candidate";
            GST_WARNING("not connected to %s: could not send the %s of session %s", options_.client.url.c_str(),
                        what, peer->session_id.c_str());
            if (callbacks_.on_send_failed && !stopped_)
                callbacks_.on_send_failed(peer->session_id,
                                          std::string("could not send its ") + what +
                                              ": not connected to the signalling server at " + options_.client.url);
        } else {
            GST_DEBUG("not connected: dropped %s", protocol::type_name(message));
        }
    }
}

void WsSignaller::send_sdp(const std::string& session_id, const protocol::Sdp& sdp)
{
    send(protocol::Peer {session_id, sdp});
}

void WsSignaller::send_ice(const std::string& session_id, const protocol::Ice& ice)
{
    send(protocol::Peer {session_id, ice});
}

void WsSignaller::end_session(const std::string& session_id, const std::string& reason)
{
    send(protocol::EndSessionV1_1 {session_id, reason.empty() ? std::nullopt : std::optional<std::string>(reason)});
}

void WsSignaller::start_session(const std::string& producer_id)
{
    send(protocol::StartSessionRequest {producer_id, std::nullopt});
}

void WsSignaller::list_producers()
{
    send(protocol::ListRequest {});
}

} // namespace signalbin
