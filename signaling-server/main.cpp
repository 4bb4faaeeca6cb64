// signalbin-server: the signalling server on its own.
#include "glib-ptr.h"
#include "server-config.h"
#include "server.h"

#include <glib-unix.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <cstdlib>

using namespace signalbin;

namespace {

void log_line(const std::string& line)
{
    GDateTime* raw = g_date_time_new_now_local();
    GCharPtr stamp(g_date_time_format(raw, "%Y-%m-%d %H:%M:%S"));
    g_date_time_unref(raw);
    std::fprintf(stderr, "%s %s\n", stamp.get(), line.c_str());
}

} // namespace

// Command-line values override the configuration file's; these mark "not
// given" for the numeric ones.
namespace {
constexpr int kUnsetInt = std::numeric_limits<int>::min();
constexpr double kUnsetDouble = std::numeric_limits<double>::quiet_NaN();
bool given(double value)
{
    return !std::isnan(value);
}
} // namespace

int main(int argc, char** argv)
{
    server::ServerOptions options;
    char* config = nullptr;
    char* host = nullptr;
    int port = kUnsetInt;
    char* cert = nullptr;
    char* key = nullptr;
    char* token = nullptr;
    char* web_root = nullptr;
    int max_peers = kUnsetInt;
    int max_message = kUnsetInt;
    double rate = kUnsetDouble;
    double burst = kUnsetDouble;
    gboolean quiet = FALSE;

    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Read settings from this file ([server] group, keys named as these options); options given here override it", "FILE"},
        {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)", "IP"},
        {"port", 0, 0, G_OPTION_ARG_INT, &port, "Port (default 8443; 0 picks a free one and prints it)", "PORT"},
        {"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "TLS certificate, PEM: serve wss:// and https://; SIGHUP reads it again", "FILE"},
        {"key", 0, 0, G_OPTION_ARG_FILENAME, &key, "TLS private key, PEM", "FILE"},
        {"token", 0, 0, G_OPTION_ARG_STRING, &token, "Clients must present this bearer token (or ?token=)", "TOKEN"},
        {"web-root", 0, 0, G_OPTION_ARG_FILENAME, &web_root, "Serve static files from this folder over HTTP", "DIR"},
        {"max-peers", 0, 0, G_OPTION_ARG_INT, &max_peers, "Refuse connections beyond this many peers (default 20000)", "N"},
        {"max-message-size", 0, 0, G_OPTION_ARG_INT, &max_message, "Close connections that send larger frames, in bytes (default 1048576)", "BYTES"},
        {"rate-limit", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Messages a second allowed per peer (default 100)", "N"},
        {"rate-burst", 0, 0, G_OPTION_ARG_DOUBLE, &burst, "Messages allowed at once per peer (default 200)", "N"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Log nothing but errors", nullptr},
        {},
    };
    GUnique<GOptionContext> context(g_option_context_new("- signalbin WebRTC signalling server"));
    g_option_context_add_main_entries(context.get(), entries, nullptr);
    g_option_context_set_description(context.get(),
                                     "Signals:\n"
                                     "  SIGHUP reads the TLS certificate and key again (a renewed certificate):\n"
                                     "  new connections get it, connected peers stay.\n"
                                     "  SIGINT and SIGTERM close every connection and exit 0.\n"
                                     "\n"
                                     "Examples:\n"
                                     "  signalbin-server\n"
                                     "  signalbin-server --host 0.0.0.0 --port 8443 --cert cert.crt --key cert.key\n"
                                     "  signalbin-server --port 0 --token s3cret --web-root web/\n"
                                     "  signalbin-server --config /etc/signalbin/server.conf\n");
    GErrorPtr error;
    if (!g_option_context_parse(context.get(), &argc, &argv, GErrorOut(error))) {
        std::fprintf(stderr, "signalbin-server: %s (see --help)\n", error->message);
        return 2;
    }
    GCharPtr own_config(config), own_host(host), own_cert(cert), own_key(key), own_token(token), own_root(web_root);
    if (argc > 1) {
        std::fprintf(stderr, "signalbin-server: unexpected argument \"%s\" (see --help)\n", argv[1]);
        return 2;
    }
    if ((port != kUnsetInt && (port < 0 || port > 65535)) || (max_peers != kUnsetInt && max_peers < 1) ||
        (max_message != kUnsetInt && max_message < 1) || (given(rate) && !(rate > 0)) ||
        (given(burst) && !(burst >= 1))) {
        std::fprintf(stderr, "signalbin-server: --port must be 0-65535; --max-peers, --max-message-size, "
                             "--rate-limit and --rate-burst must be positive\n");
        return 2;
    }
    if (config) {
        Expected<bool> read = server::read_config_file(config, options);
        if (!read) {
            std::fprintf(stderr, "signalbin-server: %s\n", read.error().c_str());
            return 2;
        }
    }
    if (host)
        options.host = host;
    if (port != kUnsetInt)
        options.port = static_cast<unsigned>(port);
    if (cert)
        options.cert_file = cert;
    if (key)
        options.key_file = key;
    if (token)
        options.token = token;
    if (web_root)
        options.web_root = web_root;
    if (max_peers != kUnsetInt)
        options.max_peers = static_cast<size_t>(max_peers);
    if (max_message != kUnsetInt)
        options.max_message_bytes = static_cast<size_t>(max_message);
    if (given(rate))
        options.rate_limit = rate;
    if (given(burst))
        options.rate_burst = burst;
    if (!quiet)
        options.log = log_line;

    // Signals are ours from the start: a reload (SIGHUP) sent while the
    // server starts must not end it, as SIGHUP's default action would.
    GRef<GMainLoop> loop = adopt_ref(g_main_loop_new(nullptr, FALSE));
    struct Stop {
        server::Server* server;
        GMainLoop* loop;
        bool quiet;
        bool stopping = false;
    } stop {nullptr, loop.get(), quiet != FALSE};
    auto on_signal = [](gpointer data) -> gboolean {
        auto* s = static_cast<Stop*>(data);
        if (s->server && !s->stopping) {
            s->stopping = true;
            log_line("shutting down: closing every connection");
            s->server->shutdown([s] { g_main_loop_quit(s->loop); });
        }
        return G_SOURCE_CONTINUE;
    };
    // A failure is logged even with --quiet: the old certificate stays.
    auto on_hangup = [](gpointer data) -> gboolean {
        auto* s = static_cast<Stop*>(data);
        if (!s->server)
            return G_SOURCE_CONTINUE;
        Expected<bool> reloaded = s->server->reload_certificate();
        if (!reloaded)
            log_line("SIGHUP: " + reloaded.error());
        else if (!s->quiet)
            log_line("SIGHUP: reloaded the TLS certificate; new connections get it");
        return G_SOURCE_CONTINUE;
    };
    guint sigint = g_unix_signal_add(SIGINT, on_signal, &stop);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &stop);
    guint sighup = g_unix_signal_add(SIGHUP, on_hangup, &stop);
    auto started = server::Server::start(nullptr, options);
    if (!started) {
        std::fprintf(stderr, "signalbin-server: %s\n", started.error().c_str());
        return 1;
    }
    std::unique_ptr<server::Server> server = std::move(started.value());
    std::printf("signalbin-server listening on %s\n", server->url().c_str());
    std::fflush(stdout);

    stop.server = server.get();
    g_main_loop_run(loop.get());
    g_source_remove(sigint);
    g_source_remove(sigterm);
    g_source_remove(sighup);
    server.reset();
    return 0;
}
