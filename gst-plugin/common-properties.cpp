#include "common-properties.h"

#include <gst/gst.h>

#include <algorithm>

namespace signalbin {

namespace {

enum Offset {
    SERVER_URL,
    STUN_SERVER,
    TURN_SERVERS,
    ICE_LOCAL_ADDRESSES,
    TOKEN,
    CA_FILE,
    TLS_INSECURE,
    CONNECT_TIMEOUT,
    RUN_SERVER,
    SESSION_TIMEOUT,
};
static_assert(SESSION_TIMEOUT + 1 == kCommonPropertyCount, "update kCommonPropertyCount");

constexpr auto kFlags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 GST_PARAM_MUTABLE_READY);

GParamSpec* string_list_spec(const char* name, const char* nick, const char* blurb)
{
    return string_list_param_spec(name, nick, blurb, nullptr, kFlags);
}

std::string trimmed(const std::string& text)
{
    size_t begin = text.find_first_not_of(" \t\n");
    size_t end = text.find_last_not_of(" \t\n");
    return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

} // namespace

Signaller::Options CommonSettings::signaller_options(Signaller::Role role) const
{
    Signaller::Options o;
    o.role = role;
    o.client.url = server_url;
    o.client.token = token;
    o.client.ca_file = ca_file;
    o.client.insecure = tls_insecure;
    o.connect_timeout_ms = connect_timeout_ms;
    o.run_server = run_server;
    return o;
}

WebRtcConfig CommonSettings::webrtc_config(unsigned latency_ms) const
{
    WebRtcConfig c;
    c.stun_server = stun_server;
    c.turn_servers = turn_servers;
    c.local_addresses = local_addresses;
    c.latency_ms = latency_ms;
    return c;
}

void install_common_properties(GObjectClass* klass, guint first)
{
    g_object_class_install_property(
        klass, first + SERVER_URL,
        g_param_spec_string("server-url", "Signalling server URL",
                            "WebSocket URL of the signalling server (ws:// or wss://). With run-server=true, the "
                            "embedded server listens on this URL's host and port (port 0: any free port, see "
                            "server-port)",
                            kDefaultServerUrl, kFlags));
    g_object_class_install_property(
        klass, first + STUN_SERVER,
        g_param_spec_string("stun-server", "STUN server",
                            "STUN server as stun://host:port, e.g. stun://stun.l.google.com:19302. Default none, so "
                            "an offline machine does not wait on it; peers on one LAN need none",
                            nullptr, kFlags));
    g_object_class_install_property(
        klass, first + TURN_SERVERS,
        string_list_spec("turn-servers", "TURN servers",
                         "TURN servers as turn(s)://user:password@host:port, e.g. "
                         "turn-servers=turn://u:p@turn.example.com:3478"));
    g_object_class_install_property(
        klass, first + ICE_LOCAL_ADDRESSES,
        string_list_spec("ice-local-addresses", "ICE local addresses",
                         "Extra local addresses to gather ICE candidates on, e.g. ice-local-addresses=127.0.0.1 on a "
                         "host whose only interface is loopback (libnice skips loopback otherwise)"));
    g_object_class_install_property(
        klass, first + TOKEN,
        g_param_spec_string("token", "Token",
                            "Bearer token presented to the signalling server (its --token); with run-server=true, "
                            "the embedded server requires it",
                            nullptr, kFlags));
    g_object_class_install_property(
        klass, first + CA_FILE,
        g_param_spec_string("ca-file", "CA file",
                            "PEM file of certificates to trust for a wss:// server-url (e.g. mkcert's rootCA.pem); "
                            "default: the system's trust store",
                            nullptr, kFlags));
    g_object_class_install_property(
        klass, first + TLS_INSECURE,
        g_param_spec_boolean("tls-insecure", "Insecure TLS",
                             "Accept any certificate from a wss:// server, self-signed ones included. For testing "
                             "only: anyone in the path can then read the signalling",
                             FALSE, kFlags));
    g_object_class_install_property(
        klass, first + CONNECT_TIMEOUT,
        g_param_spec_uint("connect-timeout", "Connect timeout",
                          "Milliseconds to reach the signalling server before posting an error; after the first "
                          "connection a lost server is only a warning and the element reconnects. 0: wait forever",
                          0, G_MAXUINT, kDefaultConnectTimeoutMs, kFlags));
    g_object_class_install_property(
        klass, first + RUN_SERVER,
        g_param_spec_boolean("run-server", "Run server",
                             "Start a signalling server inside this process on server-url's host and port (shared "
                             "with other elements asking for the same port), so no separate signalbin-server is needed",
                             FALSE, kFlags));
    g_object_class_install_property(
        klass, first + SESSION_TIMEOUT,
        g_param_spec_uint("session-timeout", "Session timeout",
                          "Milliseconds a session may take to connect (offer and answer, ICE and DTLS). Past it the "
                          "session ends with a warning that says where it stopped: signalsink drops that consumer "
                          "and tells it, signalsrc asks the producers again. 0: wait forever",
                          0, G_MAXUINT, kDefaultSessionTimeoutMs, kFlags));
}

std::string string_value(const GValue* value)
{
    const char* text = g_value_get_string(value);
    return text ? text : "";
}

void set_string_value(GValue* value, const std::string& text)
{
    g_value_set_string(value, text.empty() ? nullptr : text.c_str());
}

GParamSpec* string_list_param_spec(const char* name, const char* nick, const char* blurb, const char* default_value,
                                   GParamFlags flags)
{
    std::string text = std::string(blurb) + ". A list: comma-separated (a,b), or GStreamer's array syntax (<a, b>, "
                                            "<\"a\", \"b\">, which quotes an entry with a comma in it)";
    return g_param_spec_string(name, nick, g_intern_string(text.c_str()), default_value,
                               static_cast<GParamFlags>(flags & ~G_PARAM_STATIC_BLURB));
}

std::vector<std::string> parse_string_list(const std::string& input)
{
    std::string text = trimmed(input);
    if (text.size() >= 2 && text.front() == '<' && text.back() == '>')
        text = text.substr(1, text.size() - 2);
    std::vector<std::string> out;
    std::string item;
    bool quoted = false; // inside "..."
    bool was_quoted = false;
    auto finish = [&] {
        std::string entry = was_quoted ? item : trimmed(item);
        if (!entry.empty())
            out.push_back(entry);
        item.clear();
        was_quoted = false;
    };
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '\\' && i + 1 < text.size())
                item += text[++i];
            else if (c == '"')
                quoted = false;
            else
                item += c;
        } else if (c == '"') {
            // A quoted entry: what was before it is only blanks.
            item.clear();
            quoted = was_quoted = true;
        } else if (c == ',') {
            finish();
        } else if (!was_quoted) {
            item += c;
        }
    }
    finish();
    return out;
}

std::string format_string_list(const std::vector<std::string>& items)
{
    bool plain = std::all_of(items.begin(), items.end(), [](const std::string& s) {
        return !s.empty() && s.find_first_of(",\"\\<> \t\n") == std::string::npos;
    });
    std::string out;
    for (const std::string& s : items) {
        if (!out.empty())
            out += plain ? "," : ", ";
        if (plain) {
            out += s;
            continue;
        }
        out += '"';
        for (char c : s) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return plain ? out : "<" + out + ">";
}

std::vector<std::string> string_array(const GValue* value)
{
    return parse_string_list(string_value(value));
}

void set_string_array(GValue* value, const std::vector<std::string>& strings)
{
    set_string_value(value, format_string_list(strings));
}

bool set_common_property(CommonSettings& s, guint first, guint id, const GValue* value)
{
    if (id < first || id >= first + kCommonPropertyCount)
        return false;
    switch (static_cast<Offset>(id - first)) {
    case SERVER_URL:
        s.server_url = g_value_get_string(value) ? string_value(value) : kDefaultServerUrl;
        break;
    case STUN_SERVER:
        s.stun_server = string_value(value);
        break;
    case TURN_SERVERS:
        s.turn_servers = string_array(value);
        break;
    case ICE_LOCAL_ADDRESSES:
        s.local_addresses = string_array(value);
        break;
    case TOKEN:
        s.token = string_value(value);
        break;
    case CA_FILE:
        s.ca_file = string_value(value);
        break;
    case TLS_INSECURE:
        s.tls_insecure = g_value_get_boolean(value);
        break;
    case CONNECT_TIMEOUT:
        s.connect_timeout_ms = g_value_get_uint(value);
        break;
    case RUN_SERVER:
        s.run_server = g_value_get_boolean(value);
        break;
    case SESSION_TIMEOUT:
        s.session_timeout_ms = g_value_get_uint(value);
        break;
    }
    return true;
}

bool get_common_property(const CommonSettings& s, guint first, guint id, GValue* value)
{
    if (id < first || id >= first + kCommonPropertyCount)
        return false;
    switch (static_cast<Offset>(id - first)) {
    case SERVER_URL:
        g_value_set_string(value, s.server_url.c_str());
        break;
    case STUN_SERVER:
        set_string_value(value, s.stun_server);
        break;
    case TURN_SERVERS:
        set_string_array(value, s.turn_servers);
        break;
    case ICE_LOCAL_ADDRESSES:
        set_string_array(value, s.local_addresses);
        break;
    case TOKEN:
        set_string_value(value, s.token);
        break;
    case CA_FILE:
        set_string_value(value, s.ca_file);
        break;
    case TLS_INSECURE:
        g_value_set_boolean(value, s.tls_insecure);
        break;
    case CONNECT_TIMEOUT:
        g_value_set_uint(value, s.connect_timeout_ms);
        break;
    case RUN_SERVER:
        g_value_set_boolean(value, s.run_server);
        break;
    case SESSION_TIMEOUT:
        g_value_set_uint(value, s.session_timeout_ms);
        break;
    }
    return true;
}

} // namespace signalbin
