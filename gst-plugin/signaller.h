// The elements' side of signalling, as an interface: one object per element,
// with a thread of its own, that turns whatever the signalling is (our
// WebSocket protocol: ws-signaller.h; WHIP and WHEP: http-signaller.h) into calls the
// element understands (a session requested, an SDP or ICE candidate arrived,
// a session ended). Elements never see protocol messages, HTTP or sockets.
//
// Every callback runs on the signaller's thread. Methods may be called from
// any thread. Owned by shared_ptr (work it queues holds a weak reference);
// it may be destroyed on its own thread, but not inside its own callbacks.
#pragma once

#include "client.h"
#include "context-thread.h"
#include "protocol.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace signalbin {

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
        // Producer: publish to this WHIP endpoint (RFC 9725) instead; consumer:
        // play from this WHEP endpoint; with client.token as the bearer
        // token (HttpSignaller).
        std::string whip_endpoint;
        std::string whep_endpoint;
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

    // The signaller the options ask for: WHIP when whip_endpoint is set,
    // else our WebSocket protocol.
    static std::shared_ptr<Signaller> create(Options options, Callbacks callbacks);
    virtual ~Signaller(); // stops and joins the thread; no callback runs after it
    Signaller(const Signaller&) = delete;
    Signaller& operator=(const Signaller&) = delete;

    // Starts (the embedded server at once, then connects).
    virtual void start() = 0;
    // Disconnects; no callback runs after it returns.
    virtual void stop() = 0;

    virtual void send_sdp(const std::string& session_id, const protocol::Sdp& sdp) = 0;
    virtual void send_ice(const std::string& session_id, const protocol::Ice& ice) = 0;
    // Ends a session; a non-empty `reason` reaches the peer where the
    // protocol carries one (v1_1: webrtcsink, webrtcsrc, our elements).
    virtual void end_session(const std::string& session_id, const std::string& reason = {}) = 0;
    // Consumer: ask a producer for a session (answer comes as on_session_started).
    virtual void start_session(const std::string& producer_id) = 0;
    // Consumer: ask for the current producers (answers come as on_producer_added).
    virtual void list_producers() = 0;

    // The signaller's thread, for element work that must not run on a
    // streaming thread.
    ContextThread& thread() { return thread_; }
    // Where it signals, for messages.
    virtual const std::string& url() const = 0;
    // The embedded server's port once start() has returned (0 otherwise).
    virtual unsigned server_port() const { return 0; }
    // Consumer: we make the offer in our sessions (WHEP), not the producer.
    virtual bool consumer_offers() const { return false; }
    // Consumer: there is one producer, whatever producer-name says (WHEP).
    virtual bool single_producer() const { return false; }

protected:
    Signaller(Options options, Callbacks callbacks, const char* thread_name);
    Options options_;
    Callbacks callbacks_;
    ContextThread thread_;
};

} // namespace signalbin
