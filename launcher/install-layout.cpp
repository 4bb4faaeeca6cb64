#include "install-layout.h"

#include "glib-ptr.h"

#include <glib.h>

namespace signalbin::launcher {

InstallLayout find_install_layout()
{
    InstallLayout layout;
    GCharPtr exe(g_file_read_link("/proc/self/exe", nullptr));
    GCharPtr bindir(g_path_get_dirname(exe ? exe.get() : SIGNALBIN_BUILD_LAUNCHER_DIR "/signalbin-launch"));
    GCharPtr canonical(g_canonicalize_filename(SIGNALBIN_BUILD_LAUNCHER_DIR, nullptr));
    if (g_strcmp0(bindir.get(), canonical.get()) == 0) {
        layout.build_tree = true;
        layout.web_root = SIGNALBIN_BUILD_WEB_ROOT;
        layout.plugin_dir = SIGNALBIN_BUILD_PLUGIN_DIR;
        return layout;
    }
    // <prefix>/<bindir>/signalbin-launch: go up as many levels as bindir has.
    GCharPtr prefix(g_strdup(bindir.get()));
    GStrvPtr parts(g_strsplit(SIGNALBIN_BINDIR, "/", -1));
    for (char** p = parts.get(); *p; ++p)
        if (**p)
            prefix.reset(g_path_get_dirname(prefix.get()));
    GCharPtr web(g_build_filename(prefix.get(), SIGNALBIN_DATADIR, "signalbin", "web", nullptr));
    GCharPtr plugins(g_build_filename(prefix.get(), SIGNALBIN_LIBDIR, "gstreamer-1.0", nullptr));
    layout.web_root = web.get();
    layout.plugin_dir = plugins.get();
    return layout;
}

} // namespace signalbin::launcher
