#include "whep-endpoint.h"

#include "http-util.h"
#include "overloaded.h"
#include "uuid.h"
#include "whep-sdp.h"

#include <cstring>

namespace signalbin::server {

using namespace protocol;

namespace {

constexpr const char* kPrefix = "/whep/";
constexpr const char* kSessions = "/whep/session/";

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
    const char* got =
        soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
    return got && g_ascii_strcasecmp(got, type) == 0;
}

} // namespace

struct WhepEndpoint::Player {
    std::string id;       // the hub's peer id
    std::string resource; // /whep/session/<resource>
    std::string producer;
    std::string offer;
    std::string session_id;
    GRef<SoupServerMessage> pending; // the POST, until it is answered
    bool paused = false;
    gulong finished_handler = 0;
    std::optional<std::string> answer;
    std::vector<Ice> candidates;
    bool complete = false;
    bool ended = false;
    ScopedSource timer;

    void forget_pending()
    {
        if (pending && finished_handler)
            g_signal_handler_disconnect(pending.get(), finished_handler);
        finished_handler = 0;
        pending.reset();
    }
    ~Player() { forget_pending(); }
};

WhepEndpoint::WhepEndpoint(GMainContext* context, Hub& hub, Options options)
    : context_(take_ref(context)), hub_(hub), options_(std::move(options))
{
}

WhepEndpoint::~WhepEndpoint()
{
    close_all();
}

bool WhepEndpoint::serves(const char* path)
{
    return path && std::strncmp(path, kPrefix, std::strlen(kPrefix)) == 0;
}

void WhepEndpoint::log(const std::string& line) const
{
    if (options_.log)
        options_.log(line);
}

WhepEndpoint::Player* WhepEndpoint::by_resource(const std::string& resource)
{
    auto r = resources_.find(resource);
    if (r == resources_.end())
        return nullptr;
    auto p = players_.find(r->second);
    return p == players_.end() || p->second->ended ? nullptr : p->second.get();
}

void WhepEndpoint::handle(SoupServerMessage* msg, const char* path, GHashTable* query)
{
    const char* method = soup_server_message_get_method(msg);
    bool session = std::strncmp(path, kSessions, std::strlen(kSessions)) == 0;
    std::string rest = path + std::strlen(session ? kSessions : kPrefix);
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
    if (rest.empty() || rest.find('/') != std::string::npos) {
        text(msg, SOUP_STATUS_NOT_FOUND,
             "WHEP endpoints are /whep/<producer name or id>; sessions are the Location a POST returns");
        return;
    }
    if (!session) {
        if (method != SOUP_METHOD_POST) {
            soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "POST, OPTIONS");
            text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "POST an SDP offer (application/sdp) here to watch \"" + rest +
                                                          "\"");
            return;
        }
        post(msg, rest);
        return;
    }
    Player* player = by_resource(rest);
    if (!player) {
        text(msg, SOUP_STATUS_NOT_FOUND, "no WHEP session " + rest + " (it ended, or never was)");
        return;
    }
    if (method == SOUP_METHOD_DELETE) {
        log("WHEP session " + rest + " deleted by the player");
        end(player->id);
        cors(msg);
        soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    } else if (g_strcmp0(method, "PATCH") == 0) {
        patch(msg, *player);
    } else {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     "PATCH, DELETE, OPTIONS");
        text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "a WHEP session takes PATCH (trickle ICE) and DELETE");
    }
}

void WhepEndpoint::post(SoupServerMessage* msg, const std::string& producer_name)
{
    if (!has_type(msg, "application/sdp")) {
        text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "the offer must be sent as Content-Type: application/sdp");
        return;
    }
    std::string offer = body_of(msg);
    if (!whep::looks_like_sdp(offer)) {
        text(msg, SOUP_STATUS_BAD_REQUEST, "the body is not an SDP offer (it must start with v=0)");
        return;
    }
    std::optional<std::string> producer = hub_.find_producer(producer_name);
    if (!producer) {
        text(msg, SOUP_STATUS_NOT_FOUND, "no producer named \"" + producer_name + "\" is connected");
        return;
    }
    if (players_.size() >= options_.max_sessions) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
        text(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
             "too many WHEP sessions (" + std::to_string(players_.size()) + ", the limit); try again later");
        return;
    }
    auto owned = std::make_unique<Player>();
    Player& p = *owned;
    p.id = "whep-" + random_uuid();
    p.resource = random_uuid();
    p.producer = *producer;
    p.offer = std::move(offer);
    p.pending = take_ref(msg);
    std::string id = p.id;
    // A player that goes away before its answer ends its session.
    struct Finished {
        WhepEndpoint* self;
        std::string id;
    };
    p.finished_handler = g_signal_connect_data(
        msg, "finished", G_CALLBACK(+[](SoupServerMessage*, gpointer data) {
            auto* f = static_cast<Finished*>(data);
            auto found = f->self->players_.find(f->id);
            if (found == f->self->players_.end())
                return;
            f->self->log("WHEP player " + f->id + " went away before its answer");
            WhepEndpoint* self = f->self;
            std::string id = f->id;
            found->second->forget_pending(); // frees f
            self->end_later(id);
        }),
        new Finished {this, id}, [](gpointer data, GClosure*) { delete static_cast<Finished*>(data); },
        static_cast<GConnectFlags>(0));
    players_.emplace(id, std::move(owned));
    resources_.emplace(p.resource, id);

    // Everything the hub says to this peer comes back through deliver(),
    // possibly before these calls return.
    hub_.add_peer(id);
    hub_.handle(id, SetProtocolVersion {Version::V1_1});
    hub_.handle(id, StartSessionRequest {*producer, p.offer});
    auto it = players_.find(id);
    if (it == players_.end() || !it->second->pending)
        return; // answered (refused) already
    Player& still = *it->second;
    soup_server_message_pause(msg);
    still.paused = true;
    log("WHEP player " + id + " asks to watch " + still.producer);
    still.timer = ScopedSource::timeout(context_.get(), options_.answer_timeout_ms, [this, id] {
        auto p = players_.find(id);
        if (p != players_.end() && p->second->pending)
            refuse(*p->second, SOUP_STATUS_GATEWAY_TIMEOUT,
                   "the producer did not answer within " + std::to_string(options_.answer_timeout_ms / 1000) + " s");
        return false;
    });
}

void WhepEndpoint::patch(SoupServerMessage* msg, Player& player)
{
    if (!has_type(msg, "application/trickle-ice-sdpfrag")) {
        text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             "trickle ICE must be sent as Content-Type: application/trickle-ice-sdpfrag");
        return;
    }
    Expected<std::vector<Ice>> read = whep::read_sdpfrag(body_of(msg), player.offer);
    if (!read) {
        text(msg, SOUP_STATUS_UNPROCESSABLE_ENTITY, read.error());
        return;
    }
    if (player.session_id.empty()) {
        text(msg, SOUP_STATUS_CONFLICT, "the session has not started yet");
        return;
    }
    std::string id = player.id;
    std::string session_id = player.session_id;
    for (const Ice& ice : read.value())
        if (!ice.candidate.empty())
            hub_.handle(id, Peer {session_id, ice});
    cors(msg);
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

void WhepEndpoint::deliver(const std::string& peer_id, const std::string& json)
{
    auto it = players_.find(peer_id);
    if (it == players_.end())
        return;
    Player& p = *it->second;
    Parsed<ServerMessage> message = parse_server_message(json);
    if (!message)
        return;
    std::visit(Overloaded {
                   [&](const SessionStarted& m) { p.session_id = m.session_id; },
                   [&](const Peer& m) {
                       if (const auto* sdp = std::get_if<Sdp>(&m.payload)) {
                           if (sdp->type != Sdp::Type::Answer || p.answer || !p.pending)
                               return;
                           p.answer = sdp->sdp;
                           // Wait for the candidates, not for ever.
                           std::string id = p.id;
                           p.timer = ScopedSource::timeout(context_.get(), options_.gathering_timeout_ms, [this, id] {
                               auto found = players_.find(id);
                               if (found != players_.end() && found->second->pending)
                                   respond(*found->second);
                               return false;
                           });
                       } else if (const auto* ice = std::get_if<Ice>(&m.payload)) {
                           if (!p.pending)
                               return; // a WHEP server cannot trickle to the player
                           if (ice->candidate.empty())
                               p.complete = true;
                           else
                               p.candidates.push_back(*ice);
                           if (p.complete && p.answer)
                               respond(p);
                       }
                   },
                   [&](const EndSessionV1_1& m) {
                       if (p.pending)
                           refuse(p, SOUP_STATUS_UNPROCESSABLE_ENTITY,
                                  "the producer ended the session" + (m.error ? ": " + *m.error : std::string()));
                       else
                           log("WHEP session " + p.resource + " ended by the producer");
                       end_later(p.id);
                   },
                   [&](const EndSession&) {
                       if (p.pending)
                           refuse(p, SOUP_STATUS_UNPROCESSABLE_ENTITY, "the producer ended the session");
                       end_later(p.id);
                   },
                   [&](const Error& m) {
                       if (p.pending) {
                           refuse(p, SOUP_STATUS_CONFLICT, m.details);
                           end_later(p.id);
                       }
                   },
                   [](const auto&) {},
               },
               message.value());
}

void WhepEndpoint::respond(Player& p)
{
    SoupServerMessage* msg = p.pending.get();
    std::string answer = whep::with_candidates(*p.answer, p.candidates, p.complete);
    std::string location = std::string(kSessions) + p.resource;
    cors(msg);
    SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Location", location.c_str());
    soup_message_headers_replace(h, "ETag", ("\"" + p.resource + "\"").c_str());
    soup_server_message_set_status(msg, SOUP_STATUS_CREATED, nullptr);
    soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, answer.data(), answer.size());
    if (p.paused)
        soup_server_message_unpause(msg);
    log("WHEP player " + p.id + " watches " + p.producer + " (session " + p.session_id + ", " +
        std::to_string(p.candidates.size()) + " candidates" + (p.complete ? "" : ", gathering not complete") + ")");
    p.forget_pending();
    p.timer.cancel();
}

void WhepEndpoint::refuse(Player& p, guint status, const std::string& why)
{
    SoupServerMessage* msg = p.pending.get();
    if (!msg)
        return;
    text(msg, status, why);
    if (p.paused)
        soup_server_message_unpause(msg);
    log("WHEP player " + p.id + " refused (" + std::to_string(status) + "): " + why);
    p.forget_pending();
    p.timer.cancel();
    end_later(p.id);
}

// From inside the hub's output the hub must not be called again: later.
void WhepEndpoint::end_later(const std::string& id)
{
    auto it = players_.find(id);
    if (it == players_.end() || it->second->ended)
        return;
    it->second->ended = true;
    doomed_.push_back(id);
    if (!reaper_.active())
        reaper_ = ScopedSource::idle(context_.get(), [this] {
            std::vector<std::string> ids;
            ids.swap(doomed_);
            for (const std::string& id : ids)
                end(id);
        });
}

void WhepEndpoint::end(const std::string& id)
{
    auto it = players_.find(id);
    if (it == players_.end())
        return;
    std::unique_ptr<Player> p = std::move(it->second);
    players_.erase(it);
    resources_.erase(p->resource);
    if (p->pending)
        refuse(*p, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended");
    if (hub_.has_peer(id))
        hub_.remove_peer(id); // ends its session: the producer hears endSession
}

void WhepEndpoint::close_all()
{
    std::vector<std::string> ids;
    for (const auto& [id, p] : players_)
        ids.push_back(id);
    for (const std::string& id : ids)
        end(id);
    reaper_.cancel();
    doomed_.clear();
}

} // namespace signalbin::server
