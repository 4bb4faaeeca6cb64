// The properties signalsink and signalsrc share (server, ICE, auth), their
// documentation, defaults and storage, installed on both classes from one
// place.
#pragma once

#include "signaller.h"
#include "webrtc-utils.h"

#include <glib-object.h>

#include <string>
#include <vector>

namespace signalbin {

constexpr const char* kDefaultServerUrl = "ws://127.0.0.1:8443";
constexpr unsigned kDefaultConnectTimeoutMs = 10000;
constexpr unsigned kDefaultSessionTimeoutMs = 20000;

struct CommonSettings {
    std::string server_url = kDefaultServerUrl;
    std::string stun_server;
    std::vector<std::string> turn_servers;
    std::vector<std::string> local_addresses;
    std::string token;
    std::string ca_file;
    bool tls_insecure = false;
    unsigned connect_timeout_ms = kDefaultConnectTimeoutMs;
    bool run_server = false;
    unsigned session_timeout_ms = kDefaultSessionTimeoutMs;

    Signaller::Options signaller_options(Signaller::Role role) const;
    WebRtcConfig webrtc_config(unsigned latency_ms) const;
};

// Property ids first_id .. first_id + kCommonPropertyCount - 1.
constexpr guint kCommonPropertyCount = 10;
void install_common_properties(GObjectClass* klass, guint first_id);
// False when `id` is not a common property. Call with the object lock held.
bool set_common_property(CommonSettings& settings, guint first_id, guint id, const GValue* value);
bool get_common_property(const CommonSettings& settings, guint first_id, guint id, GValue* value);

// A string property's value, "" for NULL; and back, NULL for "".
std::string string_value(const GValue* value);
void set_string_value(GValue* value, const std::string& text);

// List properties are strings, so that what a user types works: "a",
// "a,b", or GStreamer's array syntax "<a, b>" / "<\"a\", \"b\">" (quotes
// keep a comma or blanks inside an entry; backslash escapes " and \). An
// application setting a GstValueArray gets it turned into that syntax by
// GStreamer's transform to string. Empty entries are dropped.
GParamSpec* string_list_param_spec(const char* name, const char* nick, const char* blurb, const char* default_value,
                                   GParamFlags flags);
std::vector<std::string> parse_string_list(const std::string& text);
// "a,b" when no entry needs quotes, else <"a", "b,c">.
std::string format_string_list(const std::vector<std::string>& items);

// A list property's value <-> vector.
std::vector<std::string> string_array(const GValue* value);
void set_string_array(GValue* value, const std::vector<std::string>& strings);

} // namespace signalbin
