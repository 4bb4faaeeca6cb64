// The signalling server: WebSocket on path "/" and plain HTTP on the same port
// (GET /health, static files from a web root), over libsoup 3, on a
// GMainContext of the caller's. Embeddable: elements, the launcher and tests
// start it in-process; signalbin-server is a thin main() around it.
#pragma once

#include "expected.h"

#include <glib.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace signalbin::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    unsigned port = 8443; // 0 picks a free port; see Server::port()
    std::string cert_file; // PEM; with key_file, serve wss:// and https://
    std::string key_file;
    std::string token;    // when set, clients must present it (bearer or ?token=)
    std::string web_root; // static files served over HTTP; empty: none

    size_t max_message_bytes = 1024 * 1024; // larger frames: close 1009
    double rate_limit = 100;                // messages a second, per peer
    double rate_burst = 200;                // messages at once, per peer
    unsigned rate_limit_grace_ms = 2000;    // flooding this long: close 1008
    size_t max_peers = 20000;               // further handshakes: 503; as many WHEP sessions
    unsigned whep_answer_timeout_ms = 15000; // a WHEP POST the producer does not answer: 504
    size_t max_outbound_bytes = 4 * 1024 * 1024; // unread by a peer: disconnect it
    unsigned keepalive_seconds = 20;        // TCP keep-alive: probes after this idle time, every
                                            // quarter of it; 3 unanswered and the peer is dropped

    // Session ids; empty: random UUIDs. Tests give ids other servers use
    // (sequential ones that share a prefix).
    std::function<std::string()> make_session_id;

    // One line per connection, session start and end. Empty: silent.
    std::function<void(const std::string& line)> log;
};

class Server {
public:
    // Binds and starts serving on `context` (nullptr: the global default).
    // On failure (address in use, unreadable certificate...) says why.
    static Expected<std::unique_ptr<Server>> start(GMainContext* context, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    unsigned port() const;
    bool tls() const;
    // Reads the certificate and key files again (a renewed certificate):
    // connections made from now on get it, established ones are kept. On
    // failure (unreadable, mismatched) says why and the old one stays.
    Expected<bool> reload_certificate();
    // ws://host:port/ or wss://host:port/
    std::string url() const;
    size_t peer_count() const;
    size_t session_count() const;

    // Closes every connection (code 1001) and stops listening; `done` runs on
    // the server's context once they are all closed, or after `timeout_ms`.
    void shutdown(std::function<void()> done, unsigned timeout_ms = 2000);

    class Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace signalbin::server
