// Peers of the hub that speak HTTP instead of our WebSocket protocol: WHEP
// players (draft-ietf-wish-whep) and WHIP publishers (RFC 9725).
//
// - `POST /whep/<producer name or id>` with a player's offer: the player
//   becomes a consumer that offers; the response waits (paused) until the
//   producer's answer and candidates have come through the hub.
// - `POST /whip/<name>` with a publisher's offer: the publisher becomes a
//   producer named <name>; the server holds its offer until a consumer
//   starts a session (signalsrc, the page, a WHEP player), hands it over as
//   the producer's offer, and answers the POST with that consumer's answer.
//   One consumer per publisher: its one RTCPeerConnection.
//
// Both: 201 with the answer, its candidates inlined (the server cannot
// trickle to an HTTP client) and a Location; `PATCH` on it trickles the
// client's candidates (application/trickle-ice-sdpfrag); `DELETE` ends it.
// CORS for browsers, the server's token, limits, and a status and a reason
// for every refusal.
#pragma once

#include "glib-ptr.h"
#include "hub.h"

#include <libsoup/soup.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace signalbin::server {

class HttpPeers {
public:
    struct Options {
        std::string token;                    // when set, clients must present it
        size_t max_sessions = 1000;           // further POSTs: 503 with Retry-After
        unsigned answer_timeout_ms = 15000;   // WHEP: no answer by then: 504
        unsigned viewer_timeout_ms = 300000;  // WHIP: no consumer by then: 504
        unsigned gathering_timeout_ms = 3000; // after the answer, wait this long at most for candidates
        std::function<void(const std::string& line)> log;
    };

    HttpPeers(GMainContext* context, Hub& hub, Options options);
    ~HttpPeers();
    HttpPeers(const HttpPeers&) = delete;
    HttpPeers& operator=(const HttpPeers&) = delete;

    // Paths under /whep/ and /whip/ are ours.
    static bool serves(const char* path);
    void handle(SoupServerMessage* msg, const char* path, GHashTable* query);

    // The hub's output for a peer id that is one of ours.
    bool owns(const std::string& peer_id) const { return clients_.count(peer_id) != 0; }
    void deliver(const std::string& peer_id, const std::string& json);

    size_t whep_count() const;
    size_t whip_count() const;
    // Shutdown: a waiting POST gets 503, every session ends.
    void close_all();

private:
    enum class Kind { Whep, Whip };
    struct Client;

    void post(SoupServerMessage* msg, Kind kind, const std::string& name);
    void patch(SoupServerMessage* msg, Client& client);
    void on_answer(Client& c, const std::string& sdp);
    void on_consumer(Client& c, const std::string& consumer, const std::string& session_id, bool offers);
    void respond(Client& c);
    void arm_timeout(Client& c);
    void watch_hangup(Client& c);
    void refuse(Client& c, guint status, const std::string& why);
    void end_later(const std::string& id);
    // Runs `fn` soon on the context, outside the hub's output.
    void later(std::function<void()> fn);
    void end(const std::string& id);
    Client* by_resource(Kind kind, const std::string& resource);
    void log(const std::string& line) const;

    GRef<GMainContext> context_;
    Hub& hub_;
    Options options_;
    std::unordered_map<std::string, std::unique_ptr<Client>> clients_; // by hub peer id
    std::unordered_map<std::string, std::string> resources_;           // resource -> hub peer id
    std::vector<std::function<void()>> later_;
    ScopedSource reaper_;
};

} // namespace signalbin::server
