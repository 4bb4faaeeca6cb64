// WHEP playback (draft-ietf-wish-whep) on signalbin-server: any WHEP player
// watches any producer. `POST /whep/<producer name or id>` with the player's
// offer makes the player a peer of the hub, like a WebSocket consumer that
// offers; the HTTP response waits (paused) until the producer's answer and
// its candidates have come through the hub, then returns them (201, with a
// Location). `PATCH` on that Location trickles the player's candidates to
// the producer, `DELETE` ends the session. CORS for browsers, the server's
// token, limits, and a status and a reason for every refusal.
#pragma once

#include "glib-ptr.h"
#include "hub.h"

#include <libsoup/soup.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace signalbin::server {

class WhepEndpoint {
public:
    struct Options {
        std::string token;                    // when set, players must present it
        size_t max_sessions = 1000;           // further POSTs: 503 with Retry-After
        unsigned answer_timeout_ms = 15000;   // no answer by then: 504
        unsigned gathering_timeout_ms = 3000; // after the answer, wait this long at most for candidates
        std::function<void(const std::string& line)> log;
    };

    WhepEndpoint(GMainContext* context, Hub& hub, Options options);
    ~WhepEndpoint();
    WhepEndpoint(const WhepEndpoint&) = delete;
    WhepEndpoint& operator=(const WhepEndpoint&) = delete;

    // Paths under /whep/ are ours.
    static bool serves(const char* path);
    void handle(SoupServerMessage* msg, const char* path, GHashTable* query);

    // The hub's output for a peer id that is one of our players.
    bool owns(const std::string& peer_id) const { return players_.count(peer_id) != 0; }
    void deliver(const std::string& peer_id, const std::string& json);

    size_t session_count() const { return players_.size(); }
    // Shutdown: a waiting POST gets 503, every session ends.
    void close_all();

private:
    struct Player;

    void post(SoupServerMessage* msg, const std::string& producer_name);
    void patch(SoupServerMessage* msg, Player& player);
    void respond(Player& player);
    void refuse(Player& player, guint status, const std::string& why);
    void end_later(const std::string& id);
    void end(const std::string& id);
    Player* by_resource(const std::string& resource);
    void log(const std::string& line) const;

    GRef<GMainContext> context_;
    Hub& hub_;
    Options options_;
    std::unordered_map<std::string, std::unique_ptr<Player>> players_; // by hub peer id
    std::unordered_map<std::string, std::string> resources_;           // resource -> hub peer id
    std::vector<std::string> doomed_;
    ScopedSource reaper_;
};

} // namespace signalbin::server
