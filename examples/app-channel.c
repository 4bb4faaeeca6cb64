/* Embedding signalsink and signalsrc in a C program.
 *
 * A "robot" publishes a test camera with signalsink (its own signalling
 * server inside, an application channel called "robot"); a "remote" in the
 * same process watches it with signalsrc and sends a command over that
 * channel. The robot reacts to consumer-added and consumer-removed, answers
 * the command, and reads the `stats` of its consumers. In real life the two
 * are separate machines and the server may be signalbin-server.
 *
 *     cc app-channel.c -o app-channel $(pkg-config --cflags --libs gstreamer-1.0)
 *     GST_PLUGIN_PATH=build/gst-plugin ./app-channel     (not needed once installed)
 *
 * Exits 0 once the consumer came, both sides heard each other, its stats
 * showed bytes sent, and it left; 1 after 30 s without, or on an error.
 *
 * Signals from signalsink arrive on its own threads (signalling, SCTP): the
 * handlers here hand the work to the main loop with g_idle_add(), except
 * what must happen before the signal returns (configuring a webrtcbin).
 */
#include <gst/gst.h>

#include <stdio.h>
#include <string.h>

typedef struct {
    GMainLoop *loop;
    GstElement *robot, *remote, *sink, *src;
    gboolean consumer_came, robot_heard, remote_heard, stats_seen, consumer_left;
    int exit_code;
} App;

typedef struct {
    App *app;
    char *peer_id;
    char *text;
} Message;

static Message *message_new(App *app, const char *peer_id, const char *text)
{
    Message *m = g_new0(Message, 1);
    m->app = app;
    m->peer_id = g_strdup(peer_id);
    m->text = g_strdup(text);
    return m;
}

static void message_free(gpointer data)
{
    Message *m = data;
    g_free(m->peer_id);
    g_free(m->text);
    g_free(m);
}

/* ---- the robot: signalsink -------------------------------------------- */

static gboolean consumer_came(gpointer data)
{
    Message *m = data;
    printf("robot: consumer %s joined (%s)\n", m->peer_id, m->text);
    m->app->consumer_came = TRUE;
    return G_SOURCE_REMOVE;
}

static void on_consumer_added(GstElement *sink, const char *peer_id, GstElement *webrtcbin, gpointer data)
{
    (void) sink;
    /* Before negotiation, on the signalling thread: this is the place to set
     * webrtcbin's properties or create data channels, synchronously. */
    g_idle_add_full(G_PRIORITY_DEFAULT, consumer_came, message_new(data, peer_id, GST_ELEMENT_NAME(webrtcbin)),
                    message_free);
}

static gboolean consumer_left(gpointer data)
{
    Message *m = data;
    printf("robot: consumer %s left\n", m->peer_id);
    m->app->consumer_left = TRUE;
    g_main_loop_quit(m->app->loop);
    return G_SOURCE_REMOVE;
}

static void on_consumer_removed(GstElement *sink, const char *peer_id, GstElement *webrtcbin, gpointer data)
{
    (void) sink;
    (void) webrtcbin;
    g_idle_add_full(G_PRIORITY_DEFAULT, consumer_left, message_new(data, peer_id, NULL), message_free);
}

static gboolean answer_command(gpointer data)
{
    Message *m = data;
    gboolean sent = FALSE;
    printf("robot: %s says %s\n", m->peer_id, m->text);
    m->app->robot_heard = TRUE;
    /* To that consumer only; NULL would send to every one. */
    g_signal_emit_by_name(m->app->sink, "send-app-message", m->peer_id, "{\"battery\": 0.82}", &sent);
    if (!sent)
        fprintf(stderr, "robot: the answer did not go out\n");
    return G_SOURCE_REMOVE;
}

static void on_robot_message(GstElement *sink, const char *peer_id, const char *text, gpointer data)
{
    (void) sink;
    g_idle_add_full(G_PRIORITY_DEFAULT, answer_command, message_new(data, peer_id, text), message_free);
}

static gboolean print_consumer(GQuark field, const GValue *value, gpointer data)
{
    App *app = data;
    const GstStructure *consumer;
    guint64 bytes = 0;
    guint64 bitrate = 0;
    const char *state;
    if (!g_str_has_prefix(g_quark_to_string(field), "consumer-") || !GST_VALUE_HOLDS_STRUCTURE(value))
        return TRUE;
    consumer = gst_value_get_structure(value);
    gst_structure_get_uint64(consumer, "bytes-sent", &bytes);
    gst_structure_get_uint64(consumer, "bitrate", &bitrate);
    state = gst_structure_get_string(consumer, "connection-state");
    printf("robot: stats of %s: %s, %" G_GUINT64_FORMAT " bytes sent, %" G_GUINT64_FORMAT " bit/s\n",
           gst_structure_get_string(consumer, "peer-id"), state ? state : "?", bytes, bitrate);
    if (bytes > 0)
        app->stats_seen = TRUE;
    return TRUE;
}

/* Every second: the stats snapshot (reading it never blocks). Once both
 * sides have talked and bytes were counted, the remote leaves. */
static gboolean read_stats(gpointer data)
{
    App *app = data;
    GstStructure *stats = NULL;
    g_object_get(app->sink, "stats", &stats, NULL);
    if (stats) {
        gst_structure_foreach(stats, print_consumer, app);
        gst_structure_free(stats);
    }
    if (app->robot_heard && app->remote_heard && app->stats_seen) {
        printf("remote: leaving\n");
        gst_element_set_state(app->remote, GST_STATE_NULL);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* ---- the remote: signalsrc -------------------------------------------- */

static gboolean remote_heard(gpointer data)
{
    Message *m = data;
    printf("remote: the robot says %s\n", m->text);
    m->app->remote_heard = TRUE;
    return G_SOURCE_REMOVE;
}

static void on_remote_message(GstElement *src, const char *text, gpointer data)
{
    (void) src;
    g_idle_add_full(G_PRIORITY_DEFAULT, remote_heard, message_new(data, NULL, text), message_free);
}

/* FALSE until the channel is open: try again. */
static gboolean drive(gpointer data)
{
    App *app = data;
    gboolean sent = FALSE;
    g_signal_emit_by_name(app->src, "send-app-message", "{\"drive\": [0.5, 0.0]}", &sent);
    return sent ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* ---- both ----------------------------------------------------------------- */

static gboolean on_bus(GstBus *bus, GstMessage *message, gpointer data)
{
    App *app = data;
    GError *error = NULL;
    char *debug = NULL;
    (void) bus;
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
        gst_message_parse_error(message, &error, &debug);
        fprintf(stderr, "error from %s: %s\n", GST_OBJECT_NAME(message->src), error->message);
        g_clear_error(&error);
        g_free(debug);
        app->exit_code = 1;
        g_main_loop_quit(app->loop);
    } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_WARNING) {
        gst_message_parse_warning(message, &error, &debug);
        fprintf(stderr, "warning from %s: %s\n", GST_OBJECT_NAME(message->src), error->message);
        g_clear_error(&error);
        g_free(debug);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean give_up(gpointer data)
{
    App *app = data;
    fprintf(stderr, "gave up after 30 s\n");
    app->exit_code = 1;
    g_main_loop_quit(app->loop);
    return G_SOURCE_REMOVE;
}

static GstElement *launch(const char *description)
{
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(description, &error);
    if (!pipeline) {
        fprintf(stderr, "cannot build \"%s\": %s\n", description, error->message);
        g_clear_error(&error);
    }
    return pipeline;
}

int main(int argc, char **argv)
{
    App app;
    guint port = 0;
    char *remote_description;
    GstBus *bus;
    guint robot_watch, remote_watch;
    memset(&app, 0, sizeof app);
    gst_init(&argc, &argv);
    app.loop = g_main_loop_new(NULL, FALSE);

    app.robot = launch("videotestsrc is-live=true ! video/x-raw,width=320,height=240 ! "
                       "signalsink name=sink run-server=true server-url=ws://127.0.0.1:0 "
                       "ice-local-addresses=127.0.0.1 meta=\"meta,name=robot\" app-data-channel=robot");
    if (!app.robot)
        return 1;
    app.sink = gst_bin_get_by_name(GST_BIN(app.robot), "sink");
    g_signal_connect(app.sink, "consumer-added", G_CALLBACK(on_consumer_added), &app);
    g_signal_connect(app.sink, "consumer-removed", G_CALLBACK(on_consumer_removed), &app);
    g_signal_connect(app.sink, "app-message", G_CALLBACK(on_robot_message), &app);
    bus = gst_element_get_bus(app.robot);
    robot_watch = gst_bus_add_watch(bus, on_bus, &app);
    gst_object_unref(bus);
    if (gst_element_set_state(app.robot, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE ||
        gst_element_get_state(app.robot, NULL, NULL, GST_CLOCK_TIME_NONE) == GST_STATE_CHANGE_FAILURE) {
        fprintf(stderr, "the robot's pipeline did not start\n");
        return 1;
    }
    g_object_get(app.sink, "server-port", &port, NULL);
    printf("robot: serving on port %u\n", port);

    remote_description = g_strdup_printf("signalsrc name=src server-url=ws://127.0.0.1:%u producer-name=robot "
                                         "ice-local-addresses=127.0.0.1 app-data-channel=robot ! fakesink",
                                         port);
    app.remote = launch(remote_description);
    g_free(remote_description);
    if (!app.remote)
        return 1;
    app.src = gst_bin_get_by_name(GST_BIN(app.remote), "src");
    g_signal_connect(app.src, "app-message", G_CALLBACK(on_remote_message), &app);
    bus = gst_element_get_bus(app.remote);
    remote_watch = gst_bus_add_watch(bus, on_bus, &app);
    gst_object_unref(bus);
    gst_element_set_state(app.remote, GST_STATE_PLAYING);

    g_timeout_add(100, drive, &app);
    g_timeout_add_seconds(1, read_stats, &app);
    g_timeout_add_seconds(30, give_up, &app);
    g_main_loop_run(app.loop);

    gst_element_set_state(app.remote, GST_STATE_NULL);
    gst_element_set_state(app.robot, GST_STATE_NULL);
    g_source_remove(robot_watch);
    g_source_remove(remote_watch);
    gst_object_unref(app.src);
    gst_object_unref(app.sink);
    gst_object_unref(app.remote);
    gst_object_unref(app.robot);
    g_main_loop_unref(app.loop);

    if (app.exit_code == 0 &&
        !(app.consumer_came && app.robot_heard && app.remote_heard && app.stats_seen && app.consumer_left)) {
        fprintf(stderr, "not done: consumer came %d, robot heard %d, remote heard %d, stats %d, consumer left %d\n",
                app.consumer_came, app.robot_heard, app.remote_heard, app.stats_seen, app.consumer_left);
        app.exit_code = 1;
    }
    if (app.exit_code == 0)
        printf("done: the consumer came, both sides heard each other, its stats counted bytes, it left\n");
    return app.exit_code;
}
