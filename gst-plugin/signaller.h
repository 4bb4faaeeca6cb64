// The elements' side of signalling: one object per element that connects to
// the signalling server on its own thread, registers in a role, and turns
// protocol messages into calls the element understands (a session requested,
// an SDP or ICE candidate arrived, a session ended). Elements never see
// protocol messages or sockets.
//
// Every callback runs on the signaller's thread. Methods may be called from
// any thread. Owned by shared_ptr (work it queues holds a weak reference);
// it may be destroyed on its own thread, but not inside its own callbacks.
#pragma once

#include "client.h"
#include "context-thread.h"
#include "protocol.h"
#include "server.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace signalbin {

class EmbeddedServer;

class Signaller : public std::enable_shared_from_this<Signaller> {
public:
    enum class Role {
        Producer, // registers ["producer"]; consumers start sessions with it
        Consumer, // registers ["listener"]; starts sessions with producers
    };

    struct Options {
        Role role = Role::Producer;
        client::ClientOptions client;
        protocol::Json meta;               // the producer's meta
        unsigned connect_timeout_ms = 10000; // no connection by then: on_fatal
        bool run_server = false;           // start an embedded server on the URL's port
    };

    struct Callbacks {
        // Connected and registered (again, after a reconnection).
        std::function<void(const std::string& own_peer_id, bool reconnected)> on_ready;
        // Could not connect within connect_timeout_ms (or the URL is unusable).
        std::function<void(const std::string& message, const std::string& debug)> on_fatal;
        // Lost the connection after having had it; reconnecting.
        std::function<void(const std::string& message)> on_warning;
        // The server rejected something we sent.
        std::function<void(const std::string& details)> on_server_error;

        // Producer: a consumer wants a session (offer set if it sent one).
        std::function<void(const std::string& session_id, const std::string& consumer_id,
                           const std::optional<std::string>& offer)>
            on_session_requested;
        // Consumer: a producer appeared (or changed its meta) or left.
        std::function<void(const std::string& producer_id, const protocol::Json& meta)> on_producer_added;
        std::function<void(const std::string& producer_id)> on_producer_removed;
        // Consumer: the session we asked for has an id.
        std::function<void(const std::string& session_id, const std::string& producer_id)> on_session_started;

        std::function<void(const std::string& session_id, const protocol::Sdp& sdp)> on_sdp;
        std::function<void(const std::string& session_id, const protocol::Ice& ice)> on_ice;
        // The other side ended the session (or left), with its reason when
        // it gave one (endSessionV1_1).
        std::function<void(const std::string& session_id, const std::optional<std::string>& error)>
            on_session_ended;
        // An SDP or ICE candidate of the session could not be sent (not
        // connected): the session cannot complete.
        std::function<void(const std::string& session_id, const std::string& why)> on_send_failed;
    };

    Signaller(Options options, Callbacks callbacks);
    ~Signaller(); // stops and joins the thread; no callback runs after it

    // Starts the embedded server (run-server) at once, then connects.
    void start();
    // Disconnects; no callback runs after it returns.
    void stop();

    void send_sdp(const std::string& session_id, const protocol::Sdp& sdp);
    void send_ice(const std::string& session_id, const protocol::Ice& ice);
    // Ends a session; a non-empty `reason` reaches the peer when it speaks
    // v1_1 (webrtcsink, webrtcsrc, our elements; not gstwebrtc-api).
    void end_session(const std::string& session_id, const std::string& reason = {});
    // Consumer: ask a producer for a session (answer comes as on_session_started).
    void start_session(const std::string& producer_id);
    // Consumer: ask for the current producers (answers come as on_producer_added).
    void list_producers();

    // The signaller's thread, for element work that must not run on a
    // streaming thread.
    ContextThread& thread() { return thread_; }
    const std::string& url() const { return options_.client.url; }
    // The embedded server's port once start() has returned (0 otherwise).
    unsigned server_port() const { return server_port_; }

private:
    void on_state(client::State state, const std::string& detail);
    void on_message(const protocol::ServerMessage& message);
    void send(protocol::ClientMessage message);
    void send_now(const protocol::ClientMessage& message);

    Options options_;
    Callbacks callbacks_;
    ContextThread thread_;
    // Owned by the thread: created, used and destroyed there.
    std::unique_ptr<client::Client> client_;
    std::shared_ptr<EmbeddedServer> server_; // set by start(), released on the thread
    std::atomic<unsigned> server_port_ {0};
    ScopedSource connect_timer_;
    std::string peer_id_;
    std::string last_detail_;
    bool ever_connected_ = false;
    bool failed_ = false;
    bool stopped_ = false;
};

// An in-process signalling server shared by everything in the process that
// asks for the same port; it stops when the last user lets go.
class EmbeddedServer {
public:
    // Starts (or reuses) a server on options.host:options.port (port 0: a
    // new server on a free port); nullptr and `error` on failure.
    static std::shared_ptr<EmbeddedServer> acquire(const server::ServerOptions& options, std::string& error);
    ~EmbeddedServer();
    unsigned port() const { return port_; }

    class Impl;

private:
    explicit EmbeddedServer(std::unique_ptr<Impl> impl, unsigned port);
    std::unique_ptr<Impl> impl_;
    unsigned port_;
};

} // namespace signalbin
