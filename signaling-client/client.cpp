#include "client.h"

#include "glib-ptr.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

namespace signalbin::client {

const char* to_string(State state)
{
    switch (state) {
    case State::Connecting:
        return "connecting";
    case State::Connected:
        return "connected";
    case State::Reconnecting:
        return "reconnecting";
    case State::Closed:
        return "closed";
    }
    return "?";
}

Expected<bool> validate_url(const std::string& url)
{
    GErrorPtr error;
    GRef<GUri> uri = adopt_ref(g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, GErrorOut(error)));
    if (!uri)
        return Expected<bool>::failure("\"" + url + "\" is not a valid URL (" + error->message + ")");
    const char* scheme = g_uri_get_scheme(uri.get());
    if (g_ascii_strcasecmp(scheme, "ws") != 0 && g_ascii_strcasecmp(scheme, "wss") != 0)
        return Expected<bool>::failure("\"" + url + "\" is not a WebSocket URL: use ws://host:port or wss://host:port");
    const char* host = g_uri_get_host(uri.get());
    if (!host || !*host)
        return Expected<bool>::failure("\"" + url + "\" has no host");
    return true;
}

class Client::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(GMainContext* context, ClientOptions options, Callbacks callbacks)
        : context_(take_ref(context ? context : g_main_context_default())),
          options_(std::move(options)),
          callbacks_(std::move(callbacks))
    {
    }

    ~Impl() { teardown(); }

    void start()
    {
        stopped_ = false;
        Expected<bool> valid = validate_url(options_.url);
        if (!valid) {
            report_later(State::Closed, valid.error());
            return;
        }
        if (!session_) {
            ThreadDefaultContext scope(context_.get());
            session_ = adopt_ref(soup_session_new_with_options("timeout", 15u, "idle-timeout", 0u, nullptr));
            if (!options_.ca_file.empty()) {
                GErrorPtr error;
                GRef<GTlsDatabase> db =
                    adopt_ref(g_tls_file_database_new(options_.ca_file.c_str(), GErrorOut(error)));
                if (!db) {
                    report_later(State::Closed, "cannot load the CA file " + options_.ca_file + ": " +
                                                    (error ? error->message : "unknown error"));
                    return;
                }
                soup_session_set_tls_database(session_.get(), db.get());
            }
        }
        // Reported from the context, not from inside start().
        retry_ = ScopedSource::idle(context_.get(), [weak = weak_from_this()] {
            if (auto self = weak.lock())
                self->connect();
        });
    }

    void stop()
    {
        if (stopped_)
            return;
        stopped_ = true;
        teardown();
        set_state(State::Closed, "stopped");
    }

    bool send(const protocol::ClientMessage& message)
    {
        if (state_ != State::Connected || !ws_)
            return false;
        std::string text = protocol::serialize(message);
        soup_websocket_connection_send_text(ws_.get(), text.c_str());
        return true;
    }

    State state() const { return state_; }
    const std::string& url() const { return options_.url; }
    unsigned failed_attempts() const { return failures_; }

private:
    // Carries a weak handle through an async call, so a reply that arrives
    // after the client is gone is dropped.
    struct Pending {
        std::weak_ptr<Impl> impl;
        GRef<SoupMessage> message;
    };

    void connect()
    {
        if (stopped_)
            return;
        set_state(State::Connecting, options_.url);
        ThreadDefaultContext scope(context_.get());
        GRef<SoupMessage> message = adopt_ref(soup_message_new(SOUP_METHOD_GET, options_.url.c_str()));
        if (!message) {
            fail_for_good("\"" + options_.url + "\" cannot be used as a WebSocket URL");
            return;
        }
        if (!options_.token.empty())
            soup_message_headers_replace(soup_message_get_request_headers(message.get()), "Authorization",
                                         ("Bearer " + options_.token).c_str());
        if (options_.insecure)
            g_signal_connect(message.get(), "accept-certificate",
                             G_CALLBACK(+[](SoupMessage*, GTlsCertificate*, GTlsCertificateFlags) -> gboolean {
                                 return TRUE;
                             }),
                             nullptr);
        cancellable_ = adopt_ref(g_cancellable_new());
        auto* pending = new Pending {weak_from_this(), message};
        soup_session_websocket_connect_async(session_.get(), message.get(), nullptr, nullptr, G_PRIORITY_DEFAULT,
                                             cancellable_.get(), &Impl::on_connected, pending);
    }

    static void on_connected(GObject* source, GAsyncResult* result, gpointer data)
    {
        std::unique_ptr<Pending> pending(static_cast<Pending*>(data));
        GErrorPtr error;
        GRef<SoupWebsocketConnection> ws = adopt_ref(
            soup_session_websocket_connect_finish(SOUP_SESSION(source), result, GErrorOut(error)));
        std::shared_ptr<Impl> self = pending->impl.lock();
        if (!self) {
            if (ws)
                soup_websocket_connection_close(ws.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
            return;
        }
        if (!ws) {
            if (g_error_matches(error.get(), G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
            std::string detail = error ? error->message : "unknown error";
            guint status = soup_message_get_status(pending->message.get());
            if (status >= 300) {
                const char* reason = soup_message_get_reason_phrase(pending->message.get());
                detail += " (HTTP " + std::to_string(status) + (reason ? std::string(" ") + reason : "") + ")";
            }
            self->connection_failed("cannot connect to " + self->options_.url + ": " + detail);
            return;
        }
        self->connected(std::move(ws));
    }

    void connected(GRef<SoupWebsocketConnection> ws)
    {
        ws_ = std::move(ws);
        failures_ = 0;
        backoff_ms_ = 0;
        soup_websocket_connection_set_max_incoming_payload_size(ws_.get(), options_.max_message_bytes);
        soup_websocket_connection_set_keepalive_interval(ws_.get(), options_.keepalive_seconds);
        on_message_ = connect_signal(ws_.get(), "message", &Impl::on_ws_message, this);
        on_closed_ = connect_signal(ws_.get(), "closed", &Impl::on_ws_closed, this);
        on_pong_ = connect_signal(ws_.get(), "pong", &Impl::on_ws_pong, this);
        last_heard_us_ = g_get_monotonic_time();
        if (options_.keepalive_seconds > 0)
            watchdog_ = ScopedSource::timeout(context_.get(), options_.keepalive_seconds * 1000, [this] {
                return check_alive();
            });
        set_state(State::Connected, options_.url);
    }

    static void on_ws_message(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data)
    {
        auto* self = static_cast<Impl*>(data);
        self->last_heard_us_ = g_get_monotonic_time();
        if (type != SOUP_WEBSOCKET_DATA_TEXT) {
            if (self->callbacks_.on_invalid)
                self->callbacks_.on_invalid(protocol::ParseError {"(frame)", "a text frame, got a binary one"});
            return;
        }
        gsize size = 0;
        auto* text = static_cast<const char*>(g_bytes_get_data(message, &size));
        protocol::Parsed<protocol::ServerMessage> parsed = protocol::parse_server_message({text, size});
        // A callback may destroy the client: keep it alive until we return.
        std::shared_ptr<Impl> keep = self->shared_from_this();
        if (parsed) {
            if (self->callbacks_.on_message)
                self->callbacks_.on_message(parsed.value());
        } else if (self->callbacks_.on_invalid) {
            self->callbacks_.on_invalid(parsed.error());
        }
    }

    static void on_ws_pong(SoupWebsocketConnection*, GBytes*, gpointer data)
    {
        static_cast<Impl*>(data)->last_heard_us_ = g_get_monotonic_time();
    }

    static void on_ws_closed(SoupWebsocketConnection* ws, gpointer data)
    {
        auto* self = static_cast<Impl*>(data);
        gushort code = soup_websocket_connection_get_close_code(ws);
        const char* reason = soup_websocket_connection_get_close_data(ws);
        std::string detail = "connection to " + self->options_.url + " closed (code " + std::to_string(code);
        if (reason && *reason)
            detail += std::string(", \"") + reason + "\"";
        detail += ")";
        std::shared_ptr<Impl> keep = self->shared_from_this();
        self->drop_connection();
        self->connection_failed(detail);
    }

    bool check_alive()
    {
        int64_t silent = g_get_monotonic_time() - last_heard_us_;
        if (silent <= int64_t(options_.keepalive_seconds) * 3 * G_USEC_PER_SEC)
            return true;
        // Nothing heard, not even a pong: the link is dead.
        std::shared_ptr<Impl> keep = shared_from_this();
        drop_connection();
        connection_failed("no reply from " + options_.url + " for " +
                          std::to_string(options_.keepalive_seconds * 3) + " s");
        return false;
    }

    void connection_failed(const std::string& detail)
    {
        ++failures_;
        if (stopped_)
            return;
        if (!options_.reconnect) {
            fail_for_good(detail);
            return;
        }
        backoff_ms_ = backoff_ms_ == 0 ? options_.backoff_initial_ms : std::min(backoff_ms_ * 2, options_.backoff_max_ms);
        set_state(State::Reconnecting, detail + "; retrying in " + std::to_string(backoff_ms_) + " ms");
        retry_ = ScopedSource::timeout(context_.get(), backoff_ms_, [weak = weak_from_this()] {
            if (auto self = weak.lock())
                self->connect();
            return false;
        });
    }

    void fail_for_good(const std::string& detail)
    {
        stopped_ = true;
        teardown();
        set_state(State::Closed, detail);
    }

    // Forgets the current connection without reporting anything.
    void drop_connection()
    {
        watchdog_.cancel();
        on_message_.disconnect();
        on_closed_.disconnect();
        on_pong_.disconnect();
        if (ws_ && soup_websocket_connection_get_state(ws_.get()) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_close(ws_.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
        ws_.reset();
    }

    void teardown()
    {
        retry_.cancel();
        if (cancellable_)
            g_cancellable_cancel(cancellable_.get());
        cancellable_.reset();
        drop_connection();
    }

    void set_state(State state, const std::string& detail)
    {
        state_ = state;
        if (callbacks_.on_state)
            callbacks_.on_state(state, detail);
    }

    void report_later(State state, std::string detail)
    {
        stopped_ = true;
        retry_ = ScopedSource::idle(context_.get(), [weak = weak_from_this(), state, detail] {
            if (auto self = weak.lock())
                self->set_state(state, detail);
        });
    }

    GRef<GMainContext> context_;
    ClientOptions options_;
    Callbacks callbacks_;
    GRef<SoupSession> session_;
    GRef<GCancellable> cancellable_;
    GRef<SoupWebsocketConnection> ws_;
    SignalConnection on_message_, on_closed_, on_pong_;
    ScopedSource retry_;
    ScopedSource watchdog_;
    State state_ = State::Closed;
    bool stopped_ = false;
    unsigned failures_ = 0;
    unsigned backoff_ms_ = 0;
    int64_t last_heard_us_ = 0;
};

Client::Client(GMainContext* context, ClientOptions options, Callbacks callbacks)
    : impl_(std::make_shared<Impl>(context, std::move(options), std::move(callbacks)))
{
}

Client::~Client() = default;

void Client::start()
{
    impl_->start();
}

void Client::stop()
{
    impl_->stop();
}

bool Client::send(const protocol::ClientMessage& message)
{
    return impl_->send(message);
}

State Client::state() const
{
    return impl_->state();
}

const std::string& Client::url() const
{
    return impl_->url();
}

unsigned Client::failed_attempts() const
{
    return impl_->failed_attempts();
}

} // namespace signalbin::client
