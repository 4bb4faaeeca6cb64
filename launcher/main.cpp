// signalbin-launch: runs WebRTC pipelines with the signalling server and the
// web page in the same process, and reports what happens.
#include "glib-ptr.h"
#include "gst-bin.h"
#include "install-layout.h"
#include "options.h"
#include "server.h"
#include "status.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <glib-unix.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstdio>
#include <memory>

using namespace signalbin;
using namespace signalbin::launcher;

namespace {

void say(const std::string& line)
{
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

void fail_line(const std::string& line)
{
    std::fprintf(stderr, "signalbin-launch: %s\n", line.c_str());
}

// IPv4 addresses of the interfaces that are up, for the "open this" lines.
std::vector<std::string> lan_addresses()
{
    std::vector<std::string> out;
    struct ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return out;
    for (struct ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP) ||
            (a->ifa_flags & IFF_LOOPBACK))
            continue;
        GRef<GInetAddress> inet = adopt_ref(g_inet_address_new_from_bytes(
            reinterpret_cast<const guint8*>(&reinterpret_cast<struct sockaddr_in*>(a->ifa_addr)->sin_addr),
            G_SOCKET_FAMILY_IPV4));
        GCharPtr text(g_inet_address_to_string(inet.get()));
        out.emplace_back(text.get());
    }
    freeifaddrs(list);
    return out;
}

std::string default_web_root(const launcher::InstallLayout& layout)
{
    if (const char* env = g_getenv("SIGNALBIN_WEB_ROOT"))
        return env;
    return layout.web_root;
}

std::string main_job_pipeline(const Options& o)
{
    std::string video;
    if (o.camera) {
        video = "v4l2src" + (o.device.empty() ? std::string() : " device=" + o.device) +
                " ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720";
    } else {
        video = "videotestsrc is-live=true pattern=smpte ! "
                "video/x-raw,width=1280,height=720,framerate=30/1 ! "
                "timeoverlay font-desc=\"Sans 36\" halignment=center valignment=bottom";
    }
    std::string audio = o.camera ? "autoaudiosrc ! audioconvert"
                                 : "audiotestsrc is-live=true wave=sine freq=440 volume=0.05";
    return video + " ! signalsink name=sink meta=\"meta,name=" + o.name + "\" " + audio + " ! sink.";
}

struct App {
    Options options;
    launcher::InstallLayout layout;
    bool plugin_path_needed = false; // the plugin is not in GStreamer's own path
    std::unique_ptr<server::Server> server;
    std::string element_url;
    GRef<GstElement> pipeline;
    GRef<GMainLoop> loop;
    std::vector<GstElement*> sinks; // owned by the pipeline
    ScopedSource status_timer;
    ScopedSource stop_timer;
    bool stopping = false;
    int exit_code = 0;
};

// Points every signalsink and signalsrc of the pipeline at our server.
void configure_elements(App& app)
{
    for (const GRef<GstElement>& e : bin_elements(GST_BIN(app.pipeline.get()))) {
        GstElement* element = e.get();
        std::string kind = factory_name(element);
        if (kind == "signalsink" || kind == "signalsrc") {
            const Options& o = app.options;
            g_object_set(element, "server-url", app.element_url.c_str(), "run-server", FALSE, nullptr);
            if (kind == "signalsink" && !o.whip_url.empty()) {
                g_object_set(element, "whip-endpoint", o.whip_url.c_str(), nullptr);
                if (!o.whip_token.empty())
                    g_object_set(element, "token", o.whip_token.c_str(), nullptr);
                app.sinks.push_back(element);
                continue;
            }
            if (!o.token.empty())
                g_object_set(element, "token", o.token.c_str(), nullptr);
            // Our own server over loopback: its certificate is for browsers.
            if (app.server && app.server->tls())
                g_object_set(element, "tls-insecure", TRUE, nullptr);
            if (!o.stun_server.empty())
                g_object_set(element, "stun-server", o.stun_server.c_str(), nullptr);
            auto set_list = [element](const char* property, const std::vector<std::string>& values) {
                if (values.empty())
                    return;
                std::string text = "<";
                for (size_t i = 0; i < values.size(); ++i)
                    text += (i ? ",\"" : "\"") + values[i] + "\"";
                gst_util_set_object_arg(G_OBJECT(element), property, (text + ">").c_str());
            };
            set_list("turn-servers", o.turn_servers);
            set_list("ice-local-addresses", o.ice_local_addresses);
            if (kind == "signalsink")
                app.sinks.push_back(element);
        }
    }
}

void finish(App& app)
{
    app.status_timer.cancel();
    app.stop_timer.cancel();
    gst_element_set_state(app.pipeline.get(), GST_STATE_NULL); // ends every session
    if (app.server)
        app.server->shutdown([&app] { g_main_loop_quit(app.loop.get()); }, 2000);
    else
        g_main_loop_quit(app.loop.get());
}

void stop(App& app, int exit_code)
{
    if (app.stopping)
        return;
    app.stopping = true;
    app.exit_code = exit_code;
    // EOS first, so muxers and sinks finish cleanly; a live pipeline that
    // never delivers it is stopped anyway.
    gst_element_send_event(app.pipeline.get(), gst_event_new_eos());
    app.stop_timer = ScopedSource::timeout(nullptr, 2000, [&app] {
        finish(app);
        return false;
    });
}

gboolean on_bus(GstBus*, GstMessage* message, gpointer data)
{
    App& app = *static_cast<App*>(data);
    switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
        GErrorPtr error;
        GCharPtr debug;
        {
            GError* e = nullptr;
            char* d = nullptr;
            gst_message_parse_error(message, &e, &d);
            error.reset(e);
            debug.reset(d);
        }
        // While stopping, errors from elements being torn down are noise.
        if (!app.stopping || app.options.verbose)
            fail_line(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " + error->message +
                      (debug && app.options.verbose ? std::string(" (") + debug.get() + ")" : ""));
        if (!app.stopping) {
            app.stopping = true;
            app.exit_code = 1;
            finish(app);
        }
        break;
    }
    case GST_MESSAGE_WARNING: {
        GError* e = nullptr;
        gst_message_parse_warning(message, &e, nullptr);
        GErrorPtr error(e);
        say(std::string("warning: ") + GST_OBJECT_NAME(GST_MESSAGE_SRC(message)) + ": " + error->message);
        break;
    }
    case GST_MESSAGE_EOS:
        if (app.stopping)
            finish(app);
        else {
            say("end of stream");
            app.stopping = true;
            finish(app);
        }
        break;
    case GST_MESSAGE_ELEMENT: {
        const GstStructure* s = gst_message_get_structure(message);
        if (s && g_str_has_prefix(gst_structure_get_name(s), "signalsrc-")) {
            const char* producer = gst_structure_get_string(s, "producer-id");
            const char* detail = gst_structure_get_string(s, "detail");
            say(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " + gst_structure_get_name(s) + " " +
                (producer ? producer : "") + (detail && *detail ? std::string(" (") + detail + ")" : ""));
        }
        break;
    }
    default:
        break;
    }
    return TRUE;
}

void on_consumer(GstElement* sink, const char* peer, GstElement*, gpointer added)
{
    say(std::string(GST_OBJECT_NAME(sink)) + ": consumer " + peer + (added ? " joined" : " left"));
}

} // namespace

int main(int argc, char** argv)
{
    gst_init(&argc, &argv);
    int exit_code = 0;
    std::optional<Options> parsed = parse_options(argc, argv, exit_code);
    if (!parsed)
        return exit_code;

    App app;
    app.options = std::move(*parsed);
    const Options& o = app.options;
    app.loop = adopt_ref(g_main_loop_new(nullptr, FALSE));

    // The plugin next to us (build tree, or the prefix we are installed in)
    // when GStreamer's own path does not have it.
    app.layout = launcher::find_install_layout();
    if (!GRef<GstElementFactory>::adopt(gst_element_factory_find("signalsink")) &&
        g_file_test(app.layout.plugin_dir.c_str(), G_FILE_TEST_IS_DIR)) {
        gst_registry_scan_path(gst_registry_get(), app.layout.plugin_dir.c_str());
        app.plugin_path_needed = true;
    }
    if (!GRef<GstElementFactory>::adopt(gst_element_factory_find("signalsink"))) {
        fail_line("the signalbin plugin is not found in GStreamer's plugin path nor in " + app.layout.plugin_dir +
                  ": run from the build (scripts/run), install it, or set GST_PLUGIN_PATH to the folder holding "
                  "libgstsignalbin.so");
        return 1;
    }

    if (o.server_url.empty()) {
        server::ServerOptions so;
        so.host = o.host;
        so.port = o.port;
        so.cert_file = o.cert_file;
        so.key_file = o.key_file;
        so.token = o.token;
        so.web_root = o.web_root.empty() ? default_web_root(app.layout) : o.web_root;
        if (o.verbose)
            so.log = [](const std::string& line) { say("server: " + line); };
        auto started = server::Server::start(nullptr, so);
        if (!started) {
            const std::string& why = started.error();
            std::string hint;
            if (why.find("cannot listen") != std::string::npos)
                hint = " (is another signalbin running there? stop it or pick another --port)";
            else if (!o.cert_file.empty() || !o.key_file.empty())
                hint = " (--cert and --key take a PEM certificate and its key, e.g. cert.crt and cert.key from "
                       "mkcert create-cert)";
            else if (why.find("host") != std::string::npos)
                hint = " (--host takes an IP address such as 127.0.0.1 or 0.0.0.0)";
            fail_line("cannot start the server: " + why + hint);
            return 1;
        }
        app.server = std::move(started.value());
        app.element_url = std::string(app.server->tls() ? "wss" : "ws") + "://127.0.0.1:" +
                          std::to_string(app.server->port());
        if (o.host.find(':') != std::string::npos && o.host != "::")
            app.element_url = std::string(app.server->tls() ? "wss" : "ws") + "://[" + o.host + "]:" +
                              std::to_string(app.server->port());
    } else {
        app.element_url = o.server_url;
    }

    std::string description = o.pipeline.empty() ? main_job_pipeline(o) : o.pipeline;
    GErrorPtr error;
    GstElement* parsed_pipeline = gst_parse_launch(description.c_str(), GErrorOut(error));
    if (!parsed_pipeline || error) {
        fail_line(std::string("cannot build the pipeline: ") + (error ? error->message : "unknown error") +
                  (o.pipeline.empty() ? "" : " (check the gst-launch-1.0 syntax and that its plugins are installed)"));
        if (parsed_pipeline)
            gst_object_unref(parsed_pipeline);
        return 2;
    }
    if (!GST_IS_PIPELINE(parsed_pipeline)) {
        GstElement* wrapper = gst_pipeline_new(nullptr);
        gst_bin_add(GST_BIN(wrapper), parsed_pipeline);
        parsed_pipeline = wrapper;
    }
    app.pipeline = GRef<GstElement>::ref(parsed_pipeline); // sinks the floating reference
    configure_elements(app);
    for (GstElement* sink : app.sinks) {
        g_signal_connect(sink, "consumer-added", G_CALLBACK(on_consumer), GINT_TO_POINTER(1));
        g_signal_connect(sink, "consumer-removed", G_CALLBACK(on_consumer), nullptr);
    }

    GRef<GstBus> bus = adopt_ref(gst_element_get_bus(app.pipeline.get()));
    gst_bus_add_watch(bus.get(), on_bus, &app);

    if (gst_element_set_state(app.pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        // The bus carries the reason; let it print.
        while (GstMessage* m = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)) {
            on_bus(bus.get(), m, &app);
            gst_message_unref(m);
        }
        if (!app.stopping)
            fail_line("the pipeline would not start (run with GST_DEBUG=3 for details)");
        gst_element_set_state(app.pipeline.get(), GST_STATE_NULL);
        gst_bus_remove_watch(bus.get());
        return 1;
    }

    if (app.server) {
        std::string scheme = app.server->tls() ? "https" : "http";
        std::string port = std::to_string(app.server->port());
        std::vector<std::string> hosts;
        if (o.host == "0.0.0.0" || o.host == "::")
            hosts = lan_addresses();
        hosts.insert(hosts.begin(), o.host == "0.0.0.0" || o.host == "::" ? "127.0.0.1" : o.host);
        say("signalbin-launch: server on " + app.server->url());
        for (const std::string& h : hosts)
            say("Open " + scheme + "://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port + "/" +
                (o.token.empty() ? "" : "?token=" + o.token) + " in a browser");
        std::string base = scheme + "://" + (hosts[0].find(':') != std::string::npos ? "[" + hosts[0] + "]" : hosts[0]) +
                           ":" + port;
        if (o.whip_url.empty())
            say("Watch by WHEP: " + base + "/whep/<producer name>" +
                (o.pipeline.empty() ? " (this one: " + base + "/whep/" + o.name + ")" : std::string()));
        say("Publish by WHIP: " + base + "/whip/<name>");
    }
    if (!o.whip_url.empty())
        say("Publishing by WHIP to " + o.whip_url);
    if (o.pipeline.empty() && o.whip_url.empty()) {
        say(std::string("Publishing ") + (o.camera ? "the camera" : "a test source (1280x720, 30 fps, with audio)") +
            " as \"" + o.name + "\"");
        std::string watch = "gst-launch-1.0 signalsrc server-url=" + app.element_url + " producer-name=" + o.name;
        if (!o.token.empty())
            watch += " token=" + o.token;
        if (app.server && app.server->tls())
            watch += " tls-insecure=true";
        // Another terminal's gst-launch-1.0 needs the plugin path only when
        // we had to find the plugin ourselves.
        say("Watch from a terminal: " +
            (app.plugin_path_needed ? "GST_PLUGIN_PATH=" + app.layout.plugin_dir + " " : std::string()) + watch +
            " ! videoconvert ! autovideosink");
    }
    say("Ctrl-C stops.");

    if (o.status_interval_s > 0 && !app.sinks.empty())
        app.status_timer = ScopedSource::timeout(nullptr, o.status_interval_s * 1000, [&app] {
            for (GstElement* sink : app.sinks) {
                GstStructure* stats = nullptr;
                g_object_get(sink, "stats", &stats, nullptr);
                say(status_line(GST_OBJECT_NAME(sink), stats));
                if (stats)
                    gst_structure_free(stats);
            }
            return true;
        });

    auto on_signal = [](gpointer data) -> gboolean {
        App& app = *static_cast<App*>(data);
        say("stopping");
        stop(app, 0);
        return G_SOURCE_CONTINUE;
    };
    guint sigint = g_unix_signal_add(SIGINT, on_signal, &app);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &app);
    g_main_loop_run(app.loop.get());
    g_source_remove(sigint);
    g_source_remove(sigterm);
    gst_bus_remove_watch(bus.get());
    app.pipeline.reset();
    app.server.reset();
    return app.exit_code;
}
