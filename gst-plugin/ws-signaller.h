// Signalling over our WebSocket protocol (GStreamer's signalling server's):
// connects to the server on the signaller's thread, registers in a role,
// reconnects, and starts the embedded server (run-server) when asked.
#pragma once

#include "server.h"
#include "signaller.h"

namespace signalbin {

class EmbeddedServer;

class WsSignaller : public Signaller {
public:
    WsSignaller(Options options, Callbacks callbacks);
    ~WsSignaller() override;

    // Starts the embedded server (run-server) at once, then connects.
    void start() override;
    void stop() override;
    void send_sdp(const std::string& session_id, const protocol::Sdp& sdp) override;
    void send_ice(const std::string& session_id, const protocol::Ice& ice) override;
    void end_session(const std::string& session_id, const std::string& reason = {}) override;
    void start_session(const std::string& producer_id) override;
    void list_producers() override;
    const std::string& url() const override { return options_.client.url; }
    unsigned server_port() const override { return server_port_; }

private:
    void on_state(client::State state, const std::string& detail);
    void on_message(const protocol::ServerMessage& message);
    void send(protocol::ClientMessage message);
    void send_now(const protocol::ClientMessage& message);

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
