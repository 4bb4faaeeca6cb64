// signalbin-server's configuration file: a GKeyFile ([server] group) whose
// keys are the command line's long options (port=8443, cert=/etc/...).
// /etc/signalbin/server.conf in the Debian package; `--config FILE`.
#pragma once

#include "expected.h"
#include "server.h"

#include <string>

namespace signalbin::server {

// The keys a [server] group may hold, for messages and the man page.
extern const char* const kConfigKeys[];

// Reads `path` into `options` (keys absent from the file leave options as
// they are). Fails, naming the file, line or key, on an unreadable file, a
// syntax error, an unknown group or key (a typo must not pass silently) or
// a value out of range; `options` is then unchanged.
Expected<bool> read_config_file(const std::string& path, ServerOptions& options);

// Same, from the file's text (tests); `name` names it in messages.
Expected<bool> read_config_text(const std::string& text, const std::string& name, ServerOptions& options);

} // namespace signalbin::server
