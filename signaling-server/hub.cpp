#include "hub.h"

#include "overloaded.h"
#include "uuid.h"

#include <glib.h>

#include <algorithm>

namespace signalbin::server {

using namespace protocol;

std::vector<Role> Hub::PeerState::roles() const
{
    std::vector<Role> r;
    if (producer)
        r.push_back(Role::Producer);
    if (listener)
        r.push_back(Role::Listener);
    if (consumer)
        r.push_back(Role::Consumer);
    return r;
}

Hub::Hub(Output output, std::function<std::string()> make_session_id)
    : output_(std::move(output)), make_session_id_(make_session_id ? std::move(make_session_id) : random_uuid)
{
}

void Hub::add_peer(const std::string& peer_id)
{
    peers_.emplace(peer_id, PeerState {});
    send(peer_id, Welcome {peer_id});
}

void Hub::remove_peer(const std::string& peer_id)
{
    auto it = peers_.find(peer_id);
    if (it == peers_.end())
        return;
    std::set<std::string> sessions = it->second.sessions;
    for (const std::string& session_id : sessions) {
        const Session& s = sessions_.at(session_id);
        end_session(session_id, s.other(peer_id), std::nullopt, "peer " + peer_id + " disconnected");
    }
    PeerState gone = std::move(it->second);
    peers_.erase(it);
    if (gone.producer)
        producer_order_.erase(std::find(producer_order_.begin(), producer_order_.end(), peer_id));
    listeners_.erase(peer_id);
    if (gone.has_roles())
        broadcast_status(peer_id, gone, true);
}

void Hub::handle(const std::string& peer_id, const ClientMessage& message)
{
    auto it = peers_.find(peer_id);
    if (it == peers_.end())
        return;
    PeerState& peer = it->second;
    bool first = !peer.received_first_message;
    peer.received_first_message = true;
    std::visit(Overloaded {
                   [&](const SetProtocolVersion& m) {
                       if (!first)
                           send_error(peer_id, "setProtocolVersion must be the first message on a connection");
                       else
                           set_protocol_version(peer_id, peer, m);
                   },
                   [&](const SetPeerStatus& m) { set_peer_status(peer_id, peer, m); },
                   [&](const StartSessionRequest& m) { start_session(peer_id, peer, m); },
                   [&](const Peer& m) { relay(peer_id, m); },
                   [&](const EndSession& m) { end_session_request(peer_id, m.session_id, std::nullopt); },
                   [&](const EndSessionV1_1& m) { end_session_request(peer_id, m.session_id, m.error); },
                   [&](const ListRequest&) { list(peer_id, true); },
                   [&](const ListConsumersRequest&) { list(peer_id, false); },
               },
               message);
}

void Hub::handle_invalid(const std::string& peer_id, const ParseError& error)
{
    auto it = peers_.find(peer_id);
    if (it == peers_.end())
        return;
    it->second.received_first_message = true;
    send_error(peer_id, error.message());
}

void Hub::send_error(const std::string& peer_id, const std::string& details)
{
    send(peer_id, Error {details});
}

void Hub::set_protocol_version(const std::string&, PeerState& peer, const SetProtocolVersion& m)
{
    peer.version = m.version;
}

void Hub::set_peer_status(const std::string& id, PeerState& peer, const SetPeerStatus& m)
{
    PeerState next;
    for (Role r : m.roles) {
        next.producer |= r == Role::Producer;
        next.listener |= r == Role::Listener;
        next.consumer |= r == Role::Consumer;
    }
    if (next.producer && next.consumer) {
        send_error(id, "setPeerStatus: a peer cannot be both \"producer\" and \"consumer\"; register two connections");
        return;
    }
    if (next.producer == peer.producer && next.listener == peer.listener && next.consumer == peer.consumer &&
        m.meta == peer.meta)
        return;

    if (peer.producer && !next.producer)
        end_sessions_where(id, true);
    if (peer.consumer && !next.consumer)
        end_sessions_where(id, false);

    if (next.producer && !peer.producer)
        producer_order_.push_back(id);
    else if (!next.producer && peer.producer)
        producer_order_.erase(std::find(producer_order_.begin(), producer_order_.end(), id));
    peer.producer = next.producer;
    peer.listener = next.listener;
    peer.consumer = next.consumer;
    peer.meta = m.meta;
    if (peer.listener)
        listeners_.insert(id);
    else
        listeners_.erase(id);
    broadcast_status(id, peer, false);
}

void Hub::start_session(const std::string& id, PeerState& peer, const StartSessionRequest& m)
{
    auto target = peers_.find(m.peer_id);
    if (target == peers_.end()) {
        send_error(id, "startSession: no peer with id \"" + m.peer_id + "\" is connected");
        return;
    }
    if (m.peer_id == id) {
        send_error(id, "startSession: a peer cannot start a session with itself");
        return;
    }
    std::string producer, consumer;
    if (target->second.producer) {
        producer = m.peer_id;
        consumer = id;
    } else if (target->second.consumer && peer.producer) {
        // Passive consumer: the producer calls it; the messages are the same.
        producer = id;
        consumer = m.peer_id;
    } else if (target->second.consumer) {
        send_error(id, "startSession: peer \"" + m.peer_id +
                           "\" is a passive consumer; only a producer can start a session with it");
        return;
    } else {
        send_error(id, "startSession: peer \"" + m.peer_id + "\" is not a producer");
        return;
    }

    std::string session_id = make_session_id_();
    sessions_.emplace(session_id, Session {producer, consumer});
    peers_.at(producer).sessions.insert(session_id);
    peers_.at(consumer).sessions.insert(session_id);
    log("session " + session_id + " started: producer " + producer + ", consumer " + consumer);
    send(consumer, SessionStarted {producer, session_id});
    send(producer, StartSession {consumer, session_id, m.offer});
}

void Hub::relay(const std::string& id, const Peer& m)
{
    auto it = sessions_.find(m.session_id);
    if (it == sessions_.end() || (it->second.producer != id && it->second.consumer != id)) {
        send_error(id, "peer: you are not in a session with id \"" + m.session_id + "\"");
        return;
    }
    send(it->second.other(id), m);
}

void Hub::end_session_request(const std::string& id, const std::string& session_id,
                              const std::optional<std::string>& reason)
{
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) {
        auto was = std::find_if(ended_.begin(), ended_.end(), [&](const auto& e) {
            return e.first == session_id && (e.second.producer == id || e.second.consumer == id);
        });
        if (was != ended_.end()) {
            log("endSession for session " + session_id + " from " + id + " ignored: it had ended already");
            return;
        }
    }
    if (it == sessions_.end() || (it->second.producer != id && it->second.consumer != id)) {
        send_error(id, "endSession: you are not in a session with id \"" + session_id + "\"");
        return;
    }
    end_session(session_id, it->second.other(id), reason, "ended by " + id);
}

std::optional<std::string> Hub::find_producer(const std::string& name_or_id) const
{
    auto it = peers_.find(name_or_id);
    if (it != peers_.end() && it->second.producer)
        return name_or_id;
    for (const std::string& id : producer_order_) {
        const PeerState& state = peers_.at(id);
        if (state.meta.string_member("name") == name_or_id)
            return id;
    }
    return std::nullopt;
}

void Hub::list(const std::string& id, bool producers)
{
    std::vector<PeerInfo> found;
    for (const auto& [peer_id, state] : peers_) {
        if (producers ? state.producer : state.consumer)
            found.push_back(PeerInfo {peer_id, state.meta});
    }
    if (producers)
        send(id, List {std::move(found)});
    else
        send(id, ListConsumers {std::move(found)});
}

void Hub::end_session(const std::string& session_id, std::string notify,
                      const std::optional<std::string>& reason, const std::string& why)
{
    auto it = sessions_.find(session_id);
    if (it == sessions_.end())
        return;
    Session s = it->second;
    sessions_.erase(it);
    ended_.emplace_back(session_id, s);
    if (ended_.size() > kEndedRemembered)
        ended_.pop_front();
    for (const std::string* member : {&s.producer, &s.consumer}) {
        auto p = peers_.find(*member);
        if (p != peers_.end())
            p->second.sessions.erase(session_id);
    }
    log("session " + session_id + " ended: " + why);
    auto target = peers_.find(notify);
    if (target == peers_.end())
        return;
    if (target->second.version == Version::V1_1)
        send(notify, EndSessionV1_1 {session_id, reason});
    else
        send(notify, EndSession {session_id});
}

void Hub::end_sessions_where(const std::string& id, bool as_producer)
{
    std::set<std::string> sessions = peers_.at(id).sessions;
    for (const std::string& session_id : sessions) {
        const Session& s = sessions_.at(session_id);
        if ((as_producer ? s.producer : s.consumer) == id)
            end_session(session_id, s.other(id), std::nullopt,
                        "peer " + id + " gave up the " + (as_producer ? "producer" : "consumer") + " role");
    }
}

void Hub::broadcast_status(const std::string& id, const PeerState& peer, bool gone)
{
    PeerStatusChanged message {id, gone ? std::vector<Role> {} : peer.roles(), peer.meta};
    std::string json = serialize(ServerMessage(std::move(message)));
    for (const std::string& listener : listeners_)
        output_.send(listener, json);
}

void Hub::send(const std::string& peer_id, const ServerMessage& message)
{
    output_.send(peer_id, serialize(message));
}

void Hub::log(const std::string& line)
{
    if (output_.log)
        output_.log(line);
}

} // namespace signalbin::server
