#include "http-signaller.h"

#include "trickle-sdp.h"

#include <gst/gst.h>

#include <chrono>
#include <future>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(whip_debug);
#define GST_CAT_DEFAULT whip_debug

namespace signalbin {

namespace {

constexpr unsigned kGatherWaitMs = 2000;
// The POST's answer: a WHEP endpoint answers at once (signalbin-server waits
// 15 s for its producer); a WHIP endpoint may hold it until someone watches
// (signalbin-server: up to 5 minutes).
constexpr unsigned kWhepAnswerS = 20;
constexpr unsigned kWhipAnswerS = 330;
constexpr auto kDeleteWait = std::chrono::seconds(2);

void init_debug()
{
    static std::once_flag once;
    std::call_once(once, [] { GST_DEBUG_CATEGORY_INIT(whip_debug, "signalbin-http", 0, "signalbin WHIP and WHEP client"); });
}

std::string first_line(const std::string& text)
{
    std::string line = text.substr(0, text.find('\n'));
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

// Sends `message` and calls `done(message, body or nullptr, error)` on the thread.
void send(SoupSession* session, SoupMessage* message, GCancellable* cancel,
          std::function<void(SoupMessage*, GBytes*, const GError*)> done)
{
    struct Call {
        GRef<SoupMessage> message;
        std::function<void(SoupMessage*, GBytes*, const GError*)> done;
    };
    soup_session_send_and_read_async(
        session, message, G_PRIORITY_DEFAULT, cancel,
        [](GObject* source, GAsyncResult* result, gpointer data) {
            std::unique_ptr<Call> call(static_cast<Call*>(data));
            GErrorPtr error;
            GRef<GBytes> body =
                adopt_ref(soup_session_send_and_read_finish(SOUP_SESSION(source), result, GErrorOut(error)));
            if (call->done)
                call->done(call->message.get(), body.get(), error.get());
        },
        new Call {take_ref(message), std::move(done)});
}

} // namespace

HttpSignaller::HttpSignaller(Mode mode, Options options, Callbacks callbacks)
    : Signaller(std::move(options), std::move(callbacks), mode == Mode::Whip ? "signalbin-whip" : "signalbin-whep"),
      mode_(mode), endpoint_(mode == Mode::Whip ? options_.whip_endpoint : options_.whep_endpoint),
      protocol_(mode == Mode::Whip ? "WHIP" : "WHEP")
{
    init_debug();
}

HttpSignaller::~HttpSignaller()
{
    thread_.invoke_sync([this] {
        stopped_ = true;
        g_cancellable_cancel(cancel_.get());
        gather_timer_.cancel();
        answer_timer_.cancel();
        session_.reset();
    });
}

GRef<SoupMessage> HttpSignaller::request(const char* method, const std::string& url)
{
    GRef<SoupMessage> message = adopt_ref(soup_message_new(method, url.c_str()));
    if (message && !options_.client.token.empty())
        soup_message_headers_replace(soup_message_get_request_headers(message.get()), "Authorization",
                                     ("Bearer " + options_.client.token).c_str());
    return message;
}

void HttpSignaller::fail(const std::string& message, const std::string& debug)
{
    if (failed_ || stopped_)
        return;
    failed_ = true;
    GST_WARNING("%s (%s)", message.c_str(), debug.c_str());
    if (callbacks_.on_fatal)
        callbacks_.on_fatal(message, debug);
}

void HttpSignaller::start()
{
    thread_.invoke([this] {
        if (stopped_ || session_)
            return;
        GRef<GUri> uri = adopt_ref(g_uri_parse(endpoint_.c_str(), G_URI_FLAGS_NONE, nullptr));
        const char* scheme = uri ? g_uri_get_scheme(uri.get()) : nullptr;
        if (!scheme || (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0)) {
            fail(std::string("Invalid ") + protocol_ + " endpoint \"" + endpoint_ +
                     "\": it must be an http:// or https:// URL",
                 mode_ == Mode::Whip ? "whip-endpoint" : "whep-endpoint");
            return;
        }
        // No I/O timeout of libsoup's: it would cut a POST that waits on
        // purpose; post() keeps its own deadline.
        session_ = adopt_ref(soup_session_new_with_options("timeout", 0u, "user-agent", "signalbin ", nullptr));
        const char* peer = peer_id(mode_);
        if (callbacks_.on_ready)
            callbacks_.on_ready(peer, false);
        if (mode_ == Mode::Whip) {
            // The endpoint is the one consumer: its session now.
            if (callbacks_.on_session_requested)
                callbacks_.on_session_requested(peer, peer, std::nullopt);
        } else if (callbacks_.on_producer_added) {
            // The endpoint is the one producer.
            JsonObject* meta = json_object_new();
            json_object_set_string_member(meta, "whep-endpoint", endpoint_.c_str());
            protocol::Json json = protocol::Json::object(meta);
            json_object_unref(meta);
            callbacks_.on_producer_added(peer, json);
        }
    });
}

void HttpSignaller::start_session(const std::string& producer_id)
{
    // WHEP: the session is ours at once (we offer in it); later, as the
    // receiver asks from inside its own work.
    thread_.post([weak = weak_from_this(), producer_id] {
        auto self = std::static_pointer_cast<HttpSignaller>(weak.lock());
        if (!self || self->stopped_ || self->mode_ != Mode::Whep)
            return;
        // Again, after a session was lost: a new POST for a new offer.
        self->delete_resource();
        self->offer_.clear();
        self->candidates_.clear();
        self->late_.clear();
        self->gathered_ = false;
        self->posted_ = false;
        self->etag_.clear();
        self->gather_timer_.cancel();
        self->answer_timer_.cancel();
        if (self->callbacks_.on_session_started)
            self->callbacks_.on_session_started(peer_id(self->mode_), producer_id);
    });
}

void HttpSignaller::stop()
{
    if (thread_.is_current()) {
        delete_resource();
        stopped_ = true;
        return;
    }
    std::shared_future<void> deleted;
    thread_.invoke_sync([this, &deleted] {
        gather_timer_.cancel();
        delete_resource();
        stopped_ = true;
        deleted = deleted_;
    });
    // The DELETE (this one, or end_session's) gets a moment to reach the
    // endpoint, not more.
    if (deleted.valid())
        deleted.wait_for(kDeleteWait);
    thread_.invoke_sync([this] { g_cancellable_cancel(cancel_.get()); });
}

// Queued work holds a weak reference: when the last owner lets go on this
// thread, we are gone before it runs.
template <typename F>
void HttpSignaller::on_thread(F&& fn)
{
    thread_.invoke([weak = weak_from_this(), fn = std::forward<F>(fn)]() mutable {
        if (auto self = std::static_pointer_cast<HttpSignaller>(weak.lock()))
            fn(*self);
    });
}

void HttpSignaller::send_sdp(const std::string&, const protocol::Sdp& sdp)
{
    on_thread([sdp](HttpSignaller& s) {
        if (s.stopped_ || sdp.type != protocol::Sdp::Type::Offer || !s.offer_.empty())
            return;
        s.offer_ = sdp.sdp;
        if (s.gathered_) {
            s.post();
            return;
        }
        // An endpoint may not take trickle: wait for the candidates, a little.
        s.gather_timer_ = ScopedSource::timeout(s.thread_.context(), kGatherWaitMs, [&s] {
            s.post();
            return false;
        });
    });
}

void HttpSignaller::send_ice(const std::string&, const protocol::Ice& ice)
{
    on_thread([ice](HttpSignaller& s) {
        if (s.stopped_)
            return;
        if (s.posted_) {
            // Too late for the offer: PATCHed once there is a Location.
            s.late_.push_back(ice);
            if (!s.resource_.empty())
                s.flush_late();
            return;
        }
        if (ice.candidate.empty()) {
            s.gathered_ = true;
            if (!s.offer_.empty())
                s.post();
            return;
        }
        s.candidates_.push_back(ice);
    });
}

void HttpSignaller::flush_late()
{
    if (late_.empty() || resource_.empty())
        return;
    patch(late_);
    late_.clear();
}

void HttpSignaller::post()
{
    if (posted_ || stopped_ || offer_.empty())
        return;
    posted_ = true;
    gather_timer_.cancel();
    std::string body = server::trickle::with_candidates(offer_, candidates_, gathered_);
    GRef<SoupMessage> message = request(SOUP_METHOD_POST, endpoint_);
    if (!message) {
        fail(std::string("Invalid ") + protocol_ + " endpoint \"" + endpoint_ + "\"", "not a URL libsoup can use");
        return;
    }
    GRef<GBytes> bytes = adopt_ref(g_bytes_new(body.data(), body.size()));
    soup_message_set_request_body_from_bytes(message.get(), "application/sdp", bytes.get());
    // 307/308 keep the method and body; the token goes again (libsoup keeps
    // request headers across redirects).
    GST_INFO("POST %s: offer with %zu candidates%s", endpoint_.c_str(), candidates_.size(),
             gathered_ ? "" : " (gathering not complete)");
    std::weak_ptr<Signaller> weak = weak_from_this();
    send(session_.get(), message.get(), cancel_.get(), [this, weak](SoupMessage* m, GBytes* b, const GError* e) {
        if (weak.lock())
            on_posted(m, b, e);
    });
    unsigned deadline_s = mode_ == Mode::Whip ? kWhipAnswerS : kWhepAnswerS;
    answer_timer_ = ScopedSource::timeout(thread_.context(), deadline_s * 1000, [this, deadline_s] {
        fail(std::string("The ") + protocol_ + " endpoint " + endpoint_ + " did not answer the offer within " +
                 std::to_string(deadline_s) + " s",
             "POST of the offer");
        g_cancellable_cancel(cancel_.get());
        return false;
    });
}

void HttpSignaller::on_posted(SoupMessage* message, GBytes* body, const GError* error)
{
    answer_timer_.cancel();
    if (stopped_) {
        // Answered after we stopped: the endpoint made a session all the
        // same; let it go.
        const char* location = error ? nullptr
                                     : soup_message_headers_get_one(soup_message_get_response_headers(message), "Location");
        if (location && soup_message_get_status(message) == SOUP_STATUS_CREATED) {
            resource_ = resolve(message, location);
            delete_resource();
        }
        return;
    }
    if (error) {
        fail(std::string("Could not ") + (mode_ == Mode::Whip ? "publish to" : "play from") + " the " + protocol_ +
                 " endpoint " + endpoint_ + ": " + error->message,
             "POST of the offer");
        return;
    }
    gsize size = 0;
    const char* data = body ? static_cast<const char*>(g_bytes_get_data(body, &size)) : nullptr;
    std::string text(data ? data : "", size);
    guint status = soup_message_get_status(message);
    if (status != SOUP_STATUS_CREATED) {
        std::string hint = status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN
                               ? " (set token= to the endpoint's bearer token)"
                               : "";
        fail(std::string("The ") + protocol_ + " endpoint " + endpoint_ + " refused the offer: HTTP " +
                 std::to_string(status) +
                 " " + (soup_message_get_reason_phrase(message) ? soup_message_get_reason_phrase(message) : "") + hint,
             first_line(text));
        return;
    }
    SoupMessageHeaders* headers = soup_message_get_response_headers(message);
    if (const char* location = soup_message_headers_get_one(headers, "Location"))
        resource_ = resolve(message, location);
    if (const char* etag = soup_message_headers_get_one(headers, "ETag"))
        etag_ = etag;
    if (resource_.empty())
        GST_WARNING("the %s endpoint gave no Location: no trickle, and the session cannot be DELETEd", protocol_);
    // ICE servers it offers (Link rel="ice-server") are logged, not applied:
    // gathering is over by now.
    if (const char* links = soup_message_headers_get_list(soup_message_get_response_headers(message), "Link"))
        if (std::string(links).find("ice-server") != std::string::npos)
            GST_INFO("the %s endpoint offers ICE servers (%s); set stun-server/turn-servers to use them", protocol_,
                     links);
    GST_INFO("%s: answered, resource %s", endpoint_.c_str(), resource_.c_str());
    if (callbacks_.on_sdp)
        callbacks_.on_sdp(peer_id(mode_), protocol::Sdp {protocol::Sdp::Type::Answer, text});
    flush_late();
}

// Location, absolute, against the URL that answered (after redirects).
std::string HttpSignaller::resolve(SoupMessage* message, const char* location)
{
    GUri* base = soup_message_get_uri(message);
    GRef<GUri> resolved = adopt_ref(g_uri_parse_relative(base, location, static_cast<GUriFlags>(SOUP_HTTP_URI_FLAGS), nullptr));
    if (!resolved)
        return "";
    GCharPtr absolute(g_uri_to_string(resolved.get()));
    return absolute.get();
}

void HttpSignaller::patch(const std::vector<protocol::Ice>& candidates)
{
    std::string body = server::trickle::make_sdpfrag(offer_, candidates);
    GRef<SoupMessage> message = request("PATCH", resource_);
    if (!message)
        return;
    // RFC 9725: the session's entity tag, so that a PATCH for an old
    // session (after an ICE restart) is refused.
    if (!etag_.empty())
        soup_message_headers_replace(soup_message_get_request_headers(message.get()), "If-Match", etag_.c_str());
    GRef<GBytes> bytes = adopt_ref(g_bytes_new(body.data(), body.size()));
    soup_message_set_request_body_from_bytes(message.get(), "application/trickle-ice-sdpfrag", bytes.get());
    send(session_.get(), message.get(), cancel_.get(), [](SoupMessage* m, GBytes*, const GError* e) {
        guint status = e ? 0 : soup_message_get_status(m);
        if (status != SOUP_STATUS_NO_CONTENT && status != SOUP_STATUS_OK)
            GST_INFO("PATCH of a late candidate: %s (the endpoint may not take trickle)",
                     e ? e->message : std::to_string(status).c_str());
    });
}

void HttpSignaller::delete_resource()
{
    if (resource_.empty() || !session_)
        return;
    GRef<SoupMessage> message = request(SOUP_METHOD_DELETE, resource_);
    resource_.clear();
    if (!message)
        return;
    auto done = std::make_shared<std::promise<void>>();
    deleted_ = done->get_future().share();
    send(session_.get(), message.get(), nullptr, [done](SoupMessage* m, GBytes*, const GError* e) {
        GST_INFO("DELETE: %s", e ? e->message : std::to_string(soup_message_get_status(m)).c_str());
        done->set_value();
    });
}

void HttpSignaller::end_session(const std::string&, const std::string& reason)
{
    on_thread([reason](HttpSignaller& s) {
        GST_INFO("ending the %s session%s", s.protocol_, reason.empty() ? "" : (": " + reason).c_str());
        s.delete_resource();
    });
}

} // namespace signalbin
