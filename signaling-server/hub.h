// Session logic of the signalling server as a plain class: who is connected,
// in which roles, which sessions exist, and who may talk to whom. No sockets:
// the server feeds it parsed messages and delivers what it sends, and tests
// drive it directly. Rules are in docs/protocol.md.
#pragma once

#include "protocol.h"

#include <deque>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace signalbin::server {

class Hub {
public:
    struct Output {
        // Delivers one serialised message to one connected peer.
        std::function<void(const std::string& peer_id, const std::string& json)> send;
        // One readable line per session start and end (may be empty).
        std::function<void(const std::string& line)> log;
    };

    explicit Hub(Output output, std::function<std::string()> make_session_id = {});

    // A new connection: records it and sends `welcome`.
    void add_peer(const std::string& peer_id);
    // A closed connection: ends its sessions (the other side gets endSession)
    // and, if it had registered roles, tells listeners it is gone.
    void remove_peer(const std::string& peer_id);

    void handle(const std::string& peer_id, const protocol::ClientMessage& message);
    // Text that did not parse: the sender gets an error, nobody else hears.
    void handle_invalid(const std::string& peer_id, const protocol::ParseError& error);
    void send_error(const std::string& peer_id, const std::string& details);

    size_t peer_count() const { return peers_.size(); }
    size_t session_count() const { return sessions_.size(); }
    bool has_peer(const std::string& peer_id) const { return peers_.count(peer_id) != 0; }
    // The producer with this peer id, or else whose meta "name" is this
    // (the first one registered, if several share it).
    std::optional<std::string> find_producer(const std::string& name_or_id) const;

private:
    struct PeerState {
        bool producer = false;
        bool listener = false;
        bool consumer = false;
        protocol::Json meta;
        protocol::Version version = protocol::Version::V1_0;
        bool received_first_message = false;
        std::set<std::string> sessions;

        std::vector<protocol::Role> roles() const;
        bool has_roles() const { return producer || listener || consumer; }
    };
    struct Session {
        std::string producer;
        std::string consumer;
        const std::string& other(const std::string& id) const { return id == producer ? consumer : producer; }
    };

    void set_protocol_version(const std::string& id, PeerState& peer, const protocol::SetProtocolVersion& m);
    void set_peer_status(const std::string& id, PeerState& peer, const protocol::SetPeerStatus& m);
    void start_session(const std::string& id, PeerState& peer, const protocol::StartSessionRequest& m);
    void relay(const std::string& id, const protocol::Peer& m);
    void end_session_request(const std::string& id, const std::string& session_id,
                             const std::optional<std::string>& reason);
    void list(const std::string& id, bool producers);

    // Removes a session and tells `notify` (if not empty) it ended.
    // `notify` is a copy: callers pass a member of the session erased here.
    void end_session(const std::string& session_id, std::string notify,
                     const std::optional<std::string>& reason, const std::string& why);
    void end_sessions_where(const std::string& id, bool as_producer);
    void broadcast_status(const std::string& id, const PeerState& peer, bool gone);
    void send(const std::string& peer_id, const protocol::ServerMessage& message);
    void log(const std::string& line);

    Output output_;
    std::function<std::string()> make_session_id_;
    std::unordered_map<std::string, PeerState> peers_;
    std::unordered_map<std::string, Session> sessions_;
    // Sessions that ended lately, oldest first, with who was in them: an
    // endSession from one of them that crossed the end (gstwebrtc-api sends
    // one after the other side left) is ignored, not answered with an error.
    static constexpr size_t kEndedRemembered = 1024;
    std::deque<std::pair<std::string, Session>> ended_;
    std::unordered_set<std::string> listeners_;
    std::vector<std::string> producer_order_; // producers, in the order they registered
};

} // namespace signalbin::server
