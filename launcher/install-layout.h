// Where signalbin-launch finds the plugin and the web page: next to it in
// the build tree, or relative to its own executable once installed (any
// prefix, including a DESTDIR staging tree or a moved install), so
// `meson install --prefix P` works without environment variables.
#pragma once

#include <string>

namespace signalbin::launcher {

struct InstallLayout {
    bool build_tree = false; // running from build/launcher/
    std::string web_root;    // the page's folder
    std::string plugin_dir;  // folder holding libgstsignalbin.so
};

InstallLayout find_install_layout();

} // namespace signalbin::launcher
