#include "http-peers.h"

#include "http-util.h"
#include "overloaded.h"
#include "trickle-sdp.h"
#include "uuid.h"

#include <cstring>

namespace signalbin::server {

using namespace protocol;

namespace {

struct Paths {
    const char* endpoint; // /whep/<name>
    const char* sessions; // /whep/session/<resource>
};
constexpr Paths kWhep {"/whep/", "/whep/session/"};
constexpr Paths kWhip {"/whip/", "/whip/session/"};

bool has_prefix(const char* path, const char* prefix)
{
    return std::strncmp(path, prefix, std::strlen(prefix)) == 0;
}

void cors(SoupServerMessage* msg)
{
    SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
    soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location, ETag, Link");
}

void text(SoupServerMessage* msg, guint status, const std::string& body)
{
    cors(msg);
    set_text_response(msg, status, nullptr, body + "\n");
}

std::string body_of(SoupServerMessage* msg)
{
    GRef<GBytes> bytes = adopt_ref(soup_message_body_flatten(soup_server_message_get_request_body(msg)));
    gsize size = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(bytes.get(), &size));
    return std::string(data ? data : "", size);
}

bool has_type(SoupServerMessage* msg, const char* type)
{
    const char* got = soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
    return got && g_ascii_strcasecmp(got, type) == 0;
}

Json name_meta(const std::string& name)
{
    JsonObject* object = json_object_new();
    json_object_set_string_member(object, "name", name.c_str());
    Json meta = Json::object(object);
    json_object_unref(object);
    return meta;
}

} // namespace

struct HttpPeers::Client {
    Kind kind = Kind::Whep;
    std::string id;       // the hub's peer id
    std::string resource; // <sessions path><resource>
    std::string name;     // WHEP: the producer asked for; WHIP: the name published
    std::string peer;     // the producer (WHEP) or the consumer (WHIP) at the other end
    std::string offer;    // the client's
    std::string session_id;
    GRef<SoupServerMessage> pending; // the POST, until it is answered
    bool paused = false;
    gulong finished_handler = 0;
    std::optional<std::string> answer;
    std::vector<Ice> candidates;  // the other end's, for the answer
    bool complete = false;
    bool ended = false;
    ScopedSource timer;
    ScopedSource hangup; // watches the paused POST's socket

    const char* what() const { return kind == Kind::Whep ? "WHEP player" : "WHIP publisher"; }
    const Paths& paths() const { return kind == Kind::Whep ? kWhep : kWhip; }
    // The POST is answered, or its client gone: nothing more waits on it.
    void forget_pending()
    {
        hangup.cancel();
        timer.cancel();
        if (pending && finished_handler)
            g_signal_handler_disconnect(pending.get(), finished_handler);
        finished_handler = 0;
        pending.reset();
    }
    // WHIP: the consumer left before answering; wait for the next one.
    void reset_session()
    {
        peer.clear();
        session_id.clear();
        answer.reset();
        candidates.clear();
        complete = false;
    }
    ~Client() { forget_pending(); }
};

HttpPeers::HttpPeers(GMainContext* context, Hub& hub, Options options)
    : context_(take_ref(context)), hub_(hub), options_(std::move(options))
{
}

HttpPeers::~HttpPeers()
{
    close_all();
}

bool HttpPeers::serves(const char* path)
{
    return path && (has_prefix(path, kWhep.endpoint) || has_prefix(path, kWhip.endpoint));
}

size_t HttpPeers::whep_count() const
{
    size_t n = 0;
    for (const auto& [id, c] : clients_)
        n += c->kind == Kind::Whep ? 1 : 0;
    return n;
}

size_t HttpPeers::whip_count() const
{
    return clients_.size() - whep_count();
}

void HttpPeers::log(const std::string& line) const
{
    if (options_.log)
        options_.log(line);
}

HttpPeers::Client* HttpPeers::by_resource(Kind kind, const std::string& resource)
{
    auto r = resources_.find(resource);
    if (r == resources_.end())
        return nullptr;
    auto c = clients_.find(r->second);
    return c == clients_.end() || c->second->ended || c->second->kind != kind ? nullptr : c->second.get();
}

void HttpPeers::handle(SoupServerMessage* msg, const char* path, GHashTable* query)
{
    Kind kind = has_prefix(path, kWhep.endpoint) ? Kind::Whep : Kind::Whip;
    const Paths& paths = kind == Kind::Whep ? kWhep : kWhip;
    const char* protocol = kind == Kind::Whep ? "WHEP" : "WHIP";
    const char* method = soup_server_message_get_method(msg);
    bool session = has_prefix(path, paths.sessions);
    // libsoup hands the path still percent-encoded: "Living%20room".
    GCharPtr decoded(g_uri_unescape_string(path + std::strlen(session ? paths.sessions : paths.endpoint), "/"));
    if (!decoded) {
        text(msg, SOUP_STATUS_BAD_REQUEST, "the path is not valid percent-encoding");
        return;
    }
    std::string rest = decoded.get();
    if (method == SOUP_METHOD_OPTIONS) { // CORS preflight, and what a client may send
        cors(msg);
        SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
        soup_message_headers_replace(h, "Access-Control-Allow-Methods",
                                     session ? "PATCH, DELETE, OPTIONS" : "POST, OPTIONS");
        soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match");
        soup_message_headers_replace(h, "Access-Control-Max-Age", "86400");
        if (!session)
            soup_message_headers_replace(h, "Accept-Post", "application/sdp");
        soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
        return;
    }
    if (!options_.token.empty() && !same_secret(presented_token(msg, query), options_.token)) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                     "Bearer realm=\"signalbin\"");
        text(msg, SOUP_STATUS_UNAUTHORIZED,
             "this server needs a token: send \"Authorization: Bearer <token>\" (the right one)");
        return;
    }
    if (rest.empty() || rest.find('/') != std::string::npos || (!session && rest == "session")) {
        text(msg, SOUP_STATUS_NOT_FOUND,
             std::string(protocol) + " endpoints are " + paths.endpoint +
                 (kind == Kind::Whep ? "<producer name or id>" : "<name to publish as>") +
                 "; sessions are the Location a POST returns");
        return;
    }
    if (!session) {
        if (method != SOUP_METHOD_POST) {
            soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "POST, OPTIONS");
            text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                 std::string("POST an SDP offer (application/sdp) here to ") +
                     (kind == Kind::Whep ? "watch \"" : "publish as \"") + rest + "\"");
            return;
        }
        post(msg, kind, rest);
        return;
    }
    Client* client = by_resource(kind, rest);
    if (!client) {
        text(msg, SOUP_STATUS_NOT_FOUND, std::string("no ") + protocol + " session " + rest + " (it ended, or never was)");
        return;
    }
    if (method == SOUP_METHOD_DELETE) {
        log(std::string(protocol) + " session " + rest + " deleted by the client");
        end(client->id);
        cors(msg);
        soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    } else if (g_strcmp0(method, "PATCH") == 0) {
        patch(msg, *client);
    } else {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "PATCH, DELETE, OPTIONS");
        text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
             std::string("a ") + protocol + " session takes PATCH (trickle ICE) and DELETE");
    }
}

void HttpPeers::post(SoupServerMessage* msg, Kind kind, const std::string& name)
{
    if (!has_type(msg, "application/sdp")) {
        text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "the offer must be sent as Content-Type: application/sdp");
        return;
    }
    std::string offer = body_of(msg);
    if (!trickle::looks_like_sdp(offer)) {
        text(msg, SOUP_STATUS_BAD_REQUEST, "the body is not an SDP offer (it must start with v=0)");
        return;
    }
    std::optional<std::string> producer = hub_.find_producer(name);
    if (kind == Kind::Whep && !producer) {
        text(msg, SOUP_STATUS_NOT_FOUND, "no producer named \"" + name + "\" is connected");
        return;
    }
    if (kind == Kind::Whip && producer) {
        text(msg, SOUP_STATUS_CONFLICT, "a producer named \"" + name + "\" is already publishing; pick another name");
        return;
    }
    if (clients_.size() >= options_.max_sessions) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
        text(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many WHIP and WHEP sessions (" +
                                                       std::to_string(clients_.size()) + ", the limit); try again later");
        return;
    }
    auto owned = std::make_unique<Client>();
    Client& c = *owned;
    c.kind = kind;
    c.id = (kind == Kind::Whep ? "whep-" : "whip-") + random_uuid();
    c.resource = random_uuid();
    c.name = name;
    c.peer = producer.value_or("");
    c.offer = std::move(offer);
    c.pending = take_ref(msg);
    std::string id = c.id;
    // A client that goes away before its answer ends its session.
    struct Finished {
        HttpPeers* self;
        std::string id;
    };
    c.finished_handler = g_signal_connect_data(
        msg, "finished", G_CALLBACK(+[](SoupServerMessage*, gpointer data) {
            auto* f = static_cast<Finished*>(data);
            auto found = f->self->clients_.find(f->id);
            if (found == f->self->clients_.end())
                return;
            HttpPeers* self = f->self;
            std::string id = f->id;
            self->log(std::string(found->second->what()) + " " + id + " went away before its answer");
            found->second->forget_pending(); // frees f
            self->end_later(id);
        }),
        new Finished {this, id}, [](gpointer data, GClosure*) { delete static_cast<Finished*>(data); },
        static_cast<GConnectFlags>(0));
    clients_.emplace(id, std::move(owned));
    resources_.emplace(c.resource, id);

    // Everything the hub says to this peer comes back through deliver(),
    // possibly before these calls return.
    hub_.add_peer(id);
    hub_.handle(id, SetProtocolVersion {Version::V1_1});
    if (kind == Kind::Whep)
        hub_.handle(id, StartSessionRequest {*producer, c.offer});
    else
        hub_.handle(id, SetPeerStatus {{Role::Producer}, name_meta(name)});
    auto it = clients_.find(id);
    if (it == clients_.end() || !it->second->pending)
        return; // answered (refused) already
    Client& still = *it->second;
    soup_server_message_pause(msg);
    still.paused = true;
    if (kind == Kind::Whep)
        log("WHEP player " + id + " asks to watch " + still.peer);
    else
        log("WHIP publisher " + id + " publishes as \"" + name + "\"; its offer waits for a consumer");
    arm_timeout(still);
    watch_hangup(still);
}

void HttpPeers::arm_timeout(Client& c)
{
    unsigned timeout_ms = c.kind == Kind::Whep ? options_.answer_timeout_ms : options_.viewer_timeout_ms;
    std::string id = c.id;
    c.timer = ScopedSource::timeout(context_.get(), timeout_ms, [this, id, timeout_ms] {
        auto found = clients_.find(id);
        if (found != clients_.end() && found->second->pending)
            refuse(*found->second, SOUP_STATUS_GATEWAY_TIMEOUT,
                   std::string(found->second->kind == Kind::Whep ? "the producer did not answer"
                                                                 : "no consumer watched and answered") +
                       " within " + std::to_string(timeout_ms / 1000) + " s");
        return false;
    });
}

// libsoup does not watch a paused message's connection: we do, so that a
// client that hangs up while it waits (a WHIP publisher nobody watches yet)
// ends its session at once, not when a timeout says so.
void HttpPeers::watch_hangup(Client& c)
{
    GSocket* socket = soup_server_message_get_socket(c.pending.get());
    if (!socket)
        return;
    struct Watch {
        HttpPeers* self;
        std::string id;
    };
    GRef<GSource> source =
        adopt_ref(g_socket_create_source(socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr));
    GSocketSourceFunc on_ready = [](GSocket* sock, GIOCondition condition, gpointer data) -> gboolean {
        auto* w = static_cast<Watch*>(data);
        bool gone = (condition & (G_IO_HUP | G_IO_ERR)) != 0;
        if (!gone) {
            char byte = 0;
            GInputVector vector = {&byte, 1};
            gint flags = G_SOCKET_MSG_PEEK;
            gssize n = g_socket_receive_message(sock, nullptr, &vector, 1, nullptr, nullptr, &flags, nullptr,
                                                nullptr);
            if (n > 0)
                return G_SOURCE_REMOVE; // bytes (a pipelined request, TLS): not a hang-up we can see
            gone = n == 0;
            if (!gone)
                return G_SOURCE_CONTINUE;
        }
        HttpPeers* self = w->self;
        std::string id = w->id;
        auto found = self->clients_.find(id);
        if (found == self->clients_.end() || !found->second->pending)
            return G_SOURCE_REMOVE;
        Client& c = *found->second;
        self->log(std::string(c.what()) + " " + id + " hung up before its answer");
        GRef<SoupServerMessage> msg = c.pending;
        bool paused = c.paused;
        c.forget_pending(); // destroys this source: w stays until we return
        if (paused)
            soup_server_message_unpause(msg.get()); // libsoup finds the connection closed
        self->end_later(id);
        return G_SOURCE_REMOVE;
    };
    g_source_set_callback(source.get(), reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(on_ready)),
                          new Watch {this, c.id}, [](gpointer data) { delete static_cast<Watch*>(data); });
    g_source_attach(source.get(), context_.get());
    c.hangup = ScopedSource(std::move(source));
}

void HttpPeers::patch(SoupServerMessage* msg, Client& c)
{
    const char* if_match = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "If-Match");
    if (if_match && std::strcmp(if_match, "*") != 0 && ("\"" + c.resource + "\"") != if_match) {
        text(msg, SOUP_STATUS_PRECONDITION_FAILED, "If-Match does not name this session's ETag");
        return;
    }
    if (!has_type(msg, "application/trickle-ice-sdpfrag")) {
        text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             "trickle ICE must be sent as Content-Type: application/trickle-ice-sdpfrag");
        return;
    }
    Expected<std::vector<Ice>> read = trickle::read_sdpfrag(body_of(msg), c.offer);
    if (!read) {
        text(msg, SOUP_STATUS_UNPROCESSABLE_ENTITY, read.error());
        return;
    }
    std::vector<Ice> ice;
    for (const Ice& i : read.value())
        if (!i.candidate.empty())
            ice.push_back(i);
    // A Location exists once the POST is answered, with a session.
    std::string id = c.id;
    std::string session_id = c.session_id;
    for (const Ice& i : ice)
        hub_.handle(id, Peer {session_id, i});
    cors(msg);
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

void HttpPeers::on_answer(Client& c, const std::string& sdp)
{
    if (c.answer || !c.pending)
        return;
    c.answer = sdp;
    // Wait for the candidates, not for ever.
    std::string id = c.id;
    c.timer = ScopedSource::timeout(context_.get(), options_.gathering_timeout_ms, [this, id] {
        auto found = clients_.find(id);
        if (found != clients_.end() && found->second->pending && found->second->answer)
            respond(*found->second);
        return false;
    });
}

// WHIP: a consumer started a session with the publisher.
void HttpPeers::on_consumer(Client& c, const std::string& consumer, const std::string& session_id, bool offers)
{
    std::string id = c.id;
    if (offers) {
        // Its offer is made: a consumer that offers too (a WHEP player) cannot be served.
        log("WHIP publisher " + id + " refuses consumer " + consumer + ": it offers too");
        later([this, id, session_id] {
            if (hub_.has_peer(id))
                hub_.handle(id, EndSessionV1_1 {session_id, "a WHIP publisher has made its offer and cannot answer "
                                                            "one: watch it with a consumer that answers "
                                                            "(signalsrc, the page)"});
        });
        return;
    }
    if (!c.session_id.empty() || !c.pending) {
        // One RTCPeerConnection, one consumer: later, as the hub is calling us.
        log("WHIP publisher " + id + " refuses consumer " + consumer + ": it has its one consumer already");
        later([this, id, session_id] {
            if (hub_.has_peer(id))
                hub_.handle(id, EndSessionV1_1 {session_id, "this WHIP publisher has its one consumer already; "
                                                            "put an SFU between them to serve more"});
        });
        return;
    }
    c.peer = consumer;
    c.session_id = session_id;
    log("WHIP publisher " + id + " gets consumer " + consumer + " (session " + session_id + ")");
    later([this, id, session_id] {
        auto found = clients_.find(id);
        if (found == clients_.end() || found->second->session_id != session_id)
            return;
        std::string offer = found->second->offer;
        hub_.handle(id, Peer {session_id, Sdp {Sdp::Type::Offer, offer}});
    });
}

void HttpPeers::deliver(const std::string& peer_id, const std::string& json)
{
    auto it = clients_.find(peer_id);
    if (it == clients_.end())
        return;
    Client& c = *it->second;
    Parsed<ServerMessage> message = parse_server_message(json);
    if (!message)
        return;
    auto session_ended = [&](const std::optional<std::string>& reason) {
        std::string why = reason ? ": " + *reason : std::string();
        if (c.kind == Kind::Whip && c.pending) {
            log("WHIP publisher " + c.id + ": its consumer left before answering" + why + "; waiting for another");
            c.reset_session();
            arm_timeout(c); // the gathering timer had taken its place
            return;
        }
        if (c.pending)
            refuse(c, SOUP_STATUS_UNPROCESSABLE_ENTITY, "the producer ended the session" + why); // and ends it
        else {
            log(std::string(c.what()) + " " + c.id + ": the session ended" + why);
            end_later(c.id);
        }
    };
    std::visit(Overloaded {
                   [&](const SessionStarted& m) { c.session_id = m.session_id; },
                   [&](const StartSession& m) {
                       if (c.kind == Kind::Whip)
                           on_consumer(c, m.peer_id, m.session_id, m.offer.has_value());
                   },
                   [&](const Peer& m) {
                       if (m.session_id != c.session_id)
                           return;
                       if (const auto* sdp = std::get_if<Sdp>(&m.payload)) {
                           if (sdp->type == Sdp::Type::Answer)
                               on_answer(c, sdp->sdp);
                       } else if (const auto* ice = std::get_if<Ice>(&m.payload)) {
                           if (!c.pending)
                               return; // nothing can trickle to an HTTP client
                           if (ice->candidate.empty())
                               c.complete = true;
                           else
                               c.candidates.push_back(*ice);
                           if (c.complete && c.answer)
                               respond(c);
                       }
                   },
                   [&](const EndSessionV1_1& m) {
                       if (m.session_id == c.session_id)
                           session_ended(m.error);
                   },
                   [&](const EndSession& m) {
                       if (m.session_id == c.session_id)
                           session_ended(std::nullopt);
                   },
                   [&](const Error& m) {
                       if (c.pending)
                           refuse(c, SOUP_STATUS_BAD_GATEWAY, "the signalling hub refused: " + m.details);
                   },
                   [](const auto&) {},
               },
               message.value());
}

void HttpPeers::respond(Client& c)
{
    SoupServerMessage* msg = c.pending.get();
    std::string answer = trickle::with_candidates(*c.answer, c.candidates, c.complete);
    std::string location = std::string(c.paths().sessions) + c.resource;
    cors(msg);
    SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Location", location.c_str());
    soup_message_headers_replace(h, "ETag", ("\"" + c.resource + "\"").c_str());
    soup_server_message_set_status(msg, SOUP_STATUS_CREATED, nullptr);
    soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, answer.data(), answer.size());
    if (c.paused)
        soup_server_message_unpause(msg);
    log(std::string(c.what()) + " " + c.id + (c.kind == Kind::Whep ? " watches " : " is watched by ") + c.peer +
        " (session " + c.session_id + ", " + std::to_string(c.candidates.size()) + " candidates" +
        (c.complete ? "" : ", gathering not complete") + ")");
    c.forget_pending();
}

void HttpPeers::refuse(Client& c, guint status, const std::string& why)
{
    SoupServerMessage* msg = c.pending.get();
    if (!msg)
        return;
    text(msg, status, why);
    if (c.paused)
        soup_server_message_unpause(msg);
    log(std::string(c.what()) + " " + c.id + " refused (" + std::to_string(status) + "): " + why);
    c.forget_pending();
    end_later(c.id);
}

// From inside the hub's output the hub must not be called again: later.
void HttpPeers::end_later(const std::string& id)
{
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second->ended)
        return;
    it->second->ended = true;
    later([this, id] { end(id); });
}

void HttpPeers::later(std::function<void()> fn)
{
    later_.push_back(std::move(fn));
    if (reaper_.active())
        return;
    reaper_ = ScopedSource::idle(context_.get(), [this] {
        // What these do may add more: all of it, in order.
        while (!later_.empty()) {
            std::vector<std::function<void()>> now;
            now.swap(later_);
            for (auto& f : now)
                f();
        }
    });
}

void HttpPeers::end(const std::string& id)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    std::unique_ptr<Client> c = std::move(it->second);
    clients_.erase(it);
    resources_.erase(c->resource);
    if (c->pending)
        refuse(*c, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended");
    if (hub_.has_peer(id))
        hub_.remove_peer(id); // ends its session; a WHIP producer is gone from the list
}

void HttpPeers::close_all()
{
    std::vector<std::string> ids;
    for (const auto& [id, c] : clients_)
        ids.push_back(id);
    for (const std::string& id : ids)
        end(id);
    reaper_.cancel();
    later_.clear();
}

} // namespace signalbin::server
