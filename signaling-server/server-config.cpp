#include "server-config.h"

#include "glib-ptr.h"

#include <glib.h>

#include <cmath>
#include <cstring>

namespace signalbin::server {

const char* const kConfigKeys[] = {
    "host", "port", "cert", "key", "token", "web-root", "max-peers", "max-message-size", "rate-limit", "rate-burst",
    nullptr,
};

namespace {

constexpr const char* kGroup = "server";

bool known_key(const char* key)
{
    for (const char* const* k = kConfigKeys; *k; ++k)
        if (std::strcmp(*k, key) == 0)
            return true;
    return false;
}

std::string key_list()
{
    std::string out;
    for (const char* const* k = kConfigKeys; *k; ++k)
        out += std::string(out.empty() ? "" : ", ") + *k;
    return out;
}

// Reads a key holding a whole number in [min, max].
Expected<bool> read_uint(GKeyFile* file, const std::string& name, const char* key, guint64 min, guint64 max,
                         guint64& out)
{
    GCharPtr text(g_key_file_get_string(file, kGroup, key, nullptr));
    guint64 value = 0;
    GErrorPtr error;
    if (!text || !g_ascii_string_to_unsigned(g_strstrip(text.get()), 10, min, max, &value, GErrorOut(error)))
        return Expected<bool>::failure(name + ": " + key + " must be a whole number from " + std::to_string(min) +
                                       " to " + std::to_string(max) + ", not \"" + (text ? text.get() : "") + "\"");
    out = value;
    return true;
}

// Reads a key holding a number above 0 (or, with at_least_one, of at least 1).
Expected<bool> read_positive(GKeyFile* file, const std::string& name, const char* key, bool at_least_one, double& out)
{
    GCharPtr text(g_key_file_get_string(file, kGroup, key, nullptr));
    char* end = nullptr;
    double value = text ? g_ascii_strtod(g_strstrip(text.get()), &end) : NAN;
    bool in_range = at_least_one ? value >= 1 : value > 0;
    if (!text || end == text.get() || *end != '\0' || !std::isfinite(value) || !in_range)
        return Expected<bool>::failure(name + ": " + key + " must be a number " +
                                       (at_least_one ? "of at least 1" : "above 0") + ", not \"" +
                                       (text ? text.get() : "") + "\"");
    out = value;
    return true;
}

std::string read_string(GKeyFile* file, const char* key)
{
    GCharPtr text(g_key_file_get_string(file, kGroup, key, nullptr));
    return text ? g_strstrip(text.get()) : "";
}

Expected<bool> apply(GKeyFile* file, const std::string& name, ServerOptions& options)
{
    gsize group_count = 0;
    GStrvPtr groups(g_key_file_get_groups(file, &group_count));
    for (gsize i = 0; i < group_count; ++i)
        if (std::strcmp(groups.get()[i], kGroup) != 0)
            return Expected<bool>::failure(name + ": unknown group [" + groups.get()[i] +
                                           "]; the settings go in [server]");
    if (!g_key_file_has_group(file, kGroup))
        return true;
    gsize key_count = 0;
    GStrvPtr keys(g_key_file_get_keys(file, kGroup, &key_count, nullptr));
    for (gsize i = 0; i < key_count; ++i)
        if (!known_key(keys.get()[i]))
            return Expected<bool>::failure(name + ": unknown key \"" + keys.get()[i] + "\" in [server] (known: " +
                                           key_list() + ")");

    ServerOptions out = options;
    auto has = [&](const char* key) { return g_key_file_has_key(file, kGroup, key, nullptr); };
    if (has("host"))
        out.host = read_string(file, "host");
    if (has("cert"))
        out.cert_file = read_string(file, "cert");
    if (has("key"))
        out.key_file = read_string(file, "key");
    if (has("token"))
        out.token = read_string(file, "token");
    if (has("web-root"))
        out.web_root = read_string(file, "web-root");
    guint64 number = 0;
    if (has("port")) {
        Expected<bool> ok = read_uint(file, name, "port", 0, 65535, number);
        if (!ok)
            return ok;
        out.port = static_cast<unsigned>(number);
    }
    if (has("max-peers")) {
        Expected<bool> ok = read_uint(file, name, "max-peers", 1, G_MAXINT, number);
        if (!ok)
            return ok;
        out.max_peers = static_cast<size_t>(number);
    }
    if (has("max-message-size")) {
        Expected<bool> ok = read_uint(file, name, "max-message-size", 1, G_MAXINT, number);
        if (!ok)
            return ok;
        out.max_message_bytes = static_cast<size_t>(number);
    }
    if (has("rate-limit")) {
        Expected<bool> ok = read_positive(file, name, "rate-limit", false, out.rate_limit);
        if (!ok)
            return ok;
    }
    if (has("rate-burst")) {
        Expected<bool> ok = read_positive(file, name, "rate-burst", true, out.rate_burst);
        if (!ok)
            return ok;
    }
    options = std::move(out);
    return true;
}

} // namespace

Expected<bool> read_config_text(const std::string& text, const std::string& name, ServerOptions& options)
{
    GUnique<GKeyFile> file(g_key_file_new());
    GErrorPtr error;
    if (!g_key_file_load_from_data(file.get(), text.data(), text.size(), G_KEY_FILE_NONE, GErrorOut(error)))
        return Expected<bool>::failure(name + ": " + error->message);
    return apply(file.get(), name, options);
}

Expected<bool> read_config_file(const std::string& path, ServerOptions& options)
{
    char* contents = nullptr;
    gsize length = 0;
    GErrorPtr error;
    if (!g_file_get_contents(path.c_str(), &contents, &length, GErrorOut(error)))
        return Expected<bool>::failure(std::string("cannot read the configuration file: ") + error->message);
    GCharPtr owner(contents);
    return read_config_text(std::string(contents, length), path, options);
}

} // namespace signalbin::server
