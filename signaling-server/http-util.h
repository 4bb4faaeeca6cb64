// Small HTTP pieces shared by the server's handlers (WebSocket handshake,
// WHEP): plain-text responses, and the token a request presents.
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace signalbin::server {

inline void set_text_response(SoupServerMessage* msg, guint status, const char* reason, const std::string& body)
{
    soup_server_message_set_status(msg, status, reason);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(), body.size());
}

// Compares without an early exit, so the time taken says nothing of where a
// wrong token differs.
inline bool same_secret(const std::string& a, const std::string& b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

// The token of "Authorization: Bearer T", or else of ?token=T; "" if none.
inline std::string presented_token(SoupServerMessage* msg, GHashTable* query)
{
    const char* auth = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    if (auth && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0)
        return auth + 7;
    if (query)
        if (auto* t = static_cast<const char*>(g_hash_table_lookup(query, "token")))
            return t;
    return "";
}

} // namespace signalbin::server
