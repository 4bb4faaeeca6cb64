// The signalling client: an asynchronous WebSocket client (libsoup 3) on a
// GMainContext, with typed send and receive, keep-alive pings, and automatic
// reconnection with exponential backoff. Every state change is reported.
//
// Not thread-safe: create, use and destroy it on the thread that runs its
// context; callbacks are dispatched there.
#pragma once

#include "expected.h"
#include "protocol.h"

#include <glib.h>

#include <functional>
#include <memory>
#include <string>

namespace signalbin::client {

struct ClientOptions {
    std::string url = "ws://127.0.0.1:8443"; // ws:// or wss://
    std::string token;                         // sent as "Authorization: Bearer <token>"
    std::string ca_file;                       // wss: trust the certificates in this PEM file
    bool insecure = false;                     // wss: accept any certificate (self-signed, testing)
    unsigned keepalive_seconds = 10;           // pings; 3 silent intervals mean the link is dead
    bool reconnect = true;
    unsigned backoff_initial_ms = 500; // doubles after each failure...
    unsigned backoff_max_ms = 10000;   // ...up to this
    size_t max_message_bytes = 16 * 1024 * 1024;
};

enum class State {
    Connecting,   // an attempt is under way
    Connected,    // open; send() works
    Reconnecting, // lost or failed; waiting to try again
    Closed,       // stopped, or failed for good (bad URL, reconnect off)
};
const char* to_string(State state);

// Checks a signalling URL without connecting: ws:// or wss:// with a host.
Expected<bool> validate_url(const std::string& url);

class Client {
public:
    struct Callbacks {
        // `detail` says why: the error, the close code, the URL connected to.
        std::function<void(State state, const std::string& detail)> on_state;
        std::function<void(const protocol::ServerMessage& message)> on_message;
        // A frame from the server that is not a valid message (logged, skipped).
        std::function<void(const protocol::ParseError& error)> on_invalid;
    };

    Client(GMainContext* context, ClientOptions options, Callbacks callbacks);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts connecting (State::Connecting is reported from the context).
    void start();
    // Closes with code 1000 and stays closed; reports State::Closed.
    void stop();
    // Sends when connected; false otherwise.
    bool send(const protocol::ClientMessage& message);

    State state() const;
    const std::string& url() const;
    // Attempts that failed since the last successful connection.
    unsigned failed_attempts() const;

    class Impl;

private:
    std::shared_ptr<Impl> impl_;
};

} // namespace signalbin::client
