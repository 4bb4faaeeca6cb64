// The signalbin plugin: its elements, and nothing else.
#include "gstsignalsink.h"
#include "gstsignalsrc.h"

static gboolean plugin_init(GstPlugin* plugin)
{
    gboolean ok = FALSE;
    ok |= GST_ELEMENT_REGISTER(signalsink, plugin);
    ok |= GST_ELEMENT_REGISTER(signalsrc, plugin);
    return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, signalbin, "WebRTC made easy: signalsink and signalsrc",
                  plugin_init, "0.1.0", "MPL", "signalbin", "https://github.com/signalbin/signalbin")
