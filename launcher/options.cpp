#include "options.h"

#include "glib-ptr.h"

#include <cstdio>

namespace signalbin::launcher {

std::optional<Options> parse_options(int argc, char** argv, int& exit_code)
{
    Options o;
    char* host = nullptr;
    int port = static_cast<int>(o.port);
    char* cert = nullptr;
    char* key = nullptr;
    char* token = nullptr;
    char* stun = nullptr;
    char** turn = nullptr;
    char** local = nullptr;
    char* server_url = nullptr;
    char* whip = nullptr;
    char* whip_token = nullptr;
    char* web_root = nullptr;
    char* device = nullptr;
    char* name = nullptr;
    int status = static_cast<int>(o.status_interval_s);
    gboolean camera = FALSE;
    gboolean verbose = FALSE;
    char** rest = nullptr;

    GOptionEntry entries[] = {
        {"host", 0, 0, G_OPTION_ARG_STRING, &host,
         "Address the server listens on (default 127.0.0.1; 0.0.0.0 to let other machines and phones connect)", "IP"},
        {"port", 0, 0, G_OPTION_ARG_INT, &port, "Port of the web page and signalling server (default 8443; 0: any free port)", "PORT"},
        {"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "TLS certificate (PEM, e.g. mkcert's cert.crt): serve https and wss", "FILE"},
        {"key", 0, 0, G_OPTION_ARG_FILENAME, &key, "TLS private key (PEM, e.g. mkcert's cert.key)", "FILE"},
        {"token", 0, 0, G_OPTION_ARG_STRING, &token, "Require this token from every signalling client (open the page with ?token=TOKEN)", "TOKEN"},
        {"stun", 0, 0, G_OPTION_ARG_STRING, &stun, "STUN server for the elements, stun://host:port", "URL"},
        {"turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn, "TURN server for the elements, turn://user:pass@host:port (repeatable)", "URL"},
        {"ice-local-address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &local,
         "Gather ICE candidates on this address too (repeatable; e.g. 127.0.0.1 on a loopback-only host)", "IP"},
        {"server-url", 0, 0, G_OPTION_ARG_STRING, &server_url,
         "Use this signalling server instead of starting one (no web page then)", "URL"},
        {"whip", 0, 0, G_OPTION_ARG_STRING, &whip,
         "Publish the signalsink by WHIP to this endpoint (an SFU such as Janus, a CDN) instead of to the launcher's "
         "server", "URL"},
        {"whip-token", 0, 0, G_OPTION_ARG_STRING, &whip_token, "Bearer token for the --whip endpoint", "TOKEN"},
        {"web-root", 0, 0, G_OPTION_ARG_FILENAME, &web_root, "Serve this folder as the web page instead of the built-in one", "DIR"},
        {"camera", 0, 0, G_OPTION_ARG_NONE, &camera, "Publish the first camera instead of a test source", nullptr},
        {"device", 0, 0, G_OPTION_ARG_FILENAME, &device, "Publish this camera (e.g. /dev/video2)", "DEVICE"},
        {"name", 0, 0, G_OPTION_ARG_STRING, &name, "Producer name of the main job (default signalbin-test)", "NAME"},
        {"status-interval", 0, 0, G_OPTION_ARG_INT, &status, "Seconds between status lines (default 5; 0: none)", "S"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log every connection, session and warning", nullptr},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, nullptr, "[PIPELINE]"},
        {},
    };
    GUnique<GOptionContext> context(g_option_context_new("[PIPELINE] - run WebRTC pipelines with a signalling server and web page"));
    g_option_context_add_main_entries(context.get(), entries, nullptr);
    g_option_context_set_description(
        context.get(),
        "With no PIPELINE, publishes a live test source (video and audio) and prints the page to open.\n"
        "With a PIPELINE (gst-launch-1.0 syntax), runs it; every signalsink and signalsrc in it uses the\n"
        "launcher's server.\n\n"
        "Examples:\n"
        "  signalbin-launch\n"
        "  signalbin-launch --camera --host 0.0.0.0 --cert cert.crt --key cert.key\n"
        "  signalbin-launch 'v4l2src ! signalsink meta=\"meta,name=door\"'\n"
        "  signalbin-launch 'signalsrc producer-name=phone ! videoconvert ! autovideosink'\n"
        "  signalbin-launch --server-url ws://10.0.0.5:8443 'videotestsrc is-live=true ! signalsink'\n"
        "  signalbin-launch --whip https://sfu.example/whip/room1 --whip-token SECRET\n");
    GErrorPtr error;
    auto finish = [&](int code) {
        g_free(host);
        g_free(cert);
        g_free(key);
        g_free(token);
        g_free(stun);
        g_strfreev(turn);
        g_strfreev(local);
        g_free(server_url);
        g_free(whip);
        g_free(whip_token);
        g_free(web_root);
        g_free(device);
        g_free(name);
        g_strfreev(rest);
        exit_code = code;
    };
    if (!g_option_context_parse(context.get(), &argc, &argv, GErrorOut(error))) {
        std::fprintf(stderr, "signalbin-launch: %s (see --help)\n", error->message);
        finish(2);
        return std::nullopt;
    }
    if (port < 0 || port > 65535 || status < 0) {
        std::fprintf(stderr, "signalbin-launch: --port must be 0-65535 and --status-interval 0 or more\n");
        finish(2);
        return std::nullopt;
    }
    auto set = [](std::string& target, const char* value) {
        if (value)
            target = value;
    };
    set(o.host, host);
    o.port = static_cast<unsigned>(port);
    set(o.cert_file, cert);
    set(o.key_file, key);
    set(o.token, token);
    set(o.stun_server, stun);
    for (char** t = turn; t && *t; ++t)
        o.turn_servers.emplace_back(*t);
    for (char** a = local; a && *a; ++a)
        o.ice_local_addresses.emplace_back(*a);
    set(o.server_url, server_url);
    set(o.whip_url, whip);
    set(o.whip_token, whip_token);
    set(o.web_root, web_root);
    set(o.device, device);
    set(o.name, name);
    o.camera = camera || device;
    o.verbose = verbose;
    o.status_interval_s = static_cast<unsigned>(status);
    for (char** r = rest; r && *r; ++r) {
        if (!o.pipeline.empty())
            o.pipeline += " ";
        o.pipeline += *r;
    }
    if (!o.pipeline.empty() && o.camera) {
        std::fprintf(stderr, "signalbin-launch: --camera and --device are for the main job; put v4l2src in your "
                             "pipeline instead\n");
        finish(2);
        return std::nullopt;
    }
    finish(0);
    return o;
}

} // namespace signalbin::launcher
