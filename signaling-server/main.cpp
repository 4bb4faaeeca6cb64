// signalbin-server: the signalling server on its own.
#include "glib-ptr.h"
#include "server.h"

#include <glib-unix.h>

#include <cstdio>
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

int main(int argc, char** argv)
{
    server::ServerOptions options;
    char* host = nullptr;
    int port = static_cast<int>(options.port);
    char* cert = nullptr;
    char* key = nullptr;
    char* token = nullptr;
    char* web_root = nullptr;
    int max_peers = static_cast<int>(options.max_peers);
    int max_message = static_cast<int>(options.max_message_bytes);
    double rate = options.rate_limit;
    double burst = options.rate_burst;
    gboolean quiet = FALSE;

    GOptionEntry entries[] = {
        {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)", "IP"},
        {"port", 0, 0, G_OPTION_ARG_INT, &port, "Port (default 8443; 0 picks a free one and prints it)", "PORT"},
        {"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "TLS certificate, PEM: serve wss:// and https://", "FILE"},
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
                                     "Examples:\n"
                                     "  signalbin-server\n"
                                     "  signalbin-server --host 0.0.0.0 --port 8443 --cert cert.crt --key cert.key\n"
                                     "  signalbin-server --port 0 --token s3cret --web-root web/\n");
    GErrorPtr error;
    if (!g_option_context_parse(context.get(), &argc, &argv, GErrorOut(error))) {
        std::fprintf(stderr, "signalbin-server: %s (see --help)\n", error->message);
        return 2;
    }
    if (port < 0 || port > 65535 || max_peers < 1 || max_message < 1 || rate <= 0 || burst < 1) {
        std::fprintf(stderr, "signalbin-server: --port must be 0-65535; --max-peers, --max-message-size, "
                             "--rate-limit and --rate-burst must be positive\n");
        return 2;
    }
    GCharPtr own_host(host), own_cert(cert), own_key(key), own_token(token), own_root(web_root);
    if (host)
        options.host = host;
    options.port = static_cast<unsigned>(port);
    if (cert)
        options.cert_file = cert;
    if (key)
        options.key_file = key;
    if (token)
        options.token = token;
    if (web_root)
        options.web_root = web_root;
    options.max_peers = static_cast<size_t>(max_peers);
    options.max_message_bytes = static_cast<size_t>(max_message);
    options.rate_limit = rate;
    options.rate_burst = burst;
    if (!quiet)
        options.log = log_line;

    auto started = server::Server::start(nullptr, options);
    if (!started) {
        std::fprintf(stderr, "signalbin-server: %s\n", started.error().c_str());
        return 1;
    }
    std::unique_ptr<server::Server> server = std::move(started.value());
    std::printf("signalbin-server listening on %s\n", server->url().c_str());
    std::fflush(stdout);

    GRef<GMainLoop> loop = adopt_ref(g_main_loop_new(nullptr, FALSE));
    struct Stop {
        server::Server* server;
        GMainLoop* loop;
        bool stopping = false;
    } stop {server.get(), loop.get()};
    auto on_signal = [](gpointer data) -> gboolean {
        auto* s = static_cast<Stop*>(data);
        if (!s->stopping) {
            s->stopping = true;
            log_line("shutting down: closing every connection");
            s->server->shutdown([s] { g_main_loop_quit(s->loop); });
        }
        return G_SOURCE_CONTINUE;
    };
    guint sigint = g_unix_signal_add(SIGINT, on_signal, &stop);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &stop);
    g_main_loop_run(loop.get());
    g_source_remove(sigint);
    g_source_remove(sigterm);
    server.reset();
    return 0;
}
