#include "http-files.h"

#include "glib-ptr.h"

#include <cstring>
#include <string_view>

namespace signalbin::server {

namespace {

const char* content_type(std::string_view name)
{
    static constexpr std::pair<const char*, const char*> types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".txt", "text/plain; charset=utf-8"},
    };
    for (auto& [ext, type] : types) {
        size_t n = std::strlen(ext);
        if (name.size() >= n && name.compare(name.size() - n, n, ext) == 0)
            return type;
    }
    return "application/octet-stream";
}

// Every segment must be a plain name: no "..", no hidden files, no empty
// segments, no backslashes.
bool safe_relative_path(std::string_view rel)
{
    size_t start = 0;
    while (start <= rel.size()) {
        size_t end = rel.find('/', start);
        if (end == std::string_view::npos)
            end = rel.size();
        std::string_view segment = rel.substr(start, end - start);
        if (segment.empty() || segment[0] == '.' || segment.find('\\') != std::string_view::npos ||
            segment.find('\0') != std::string_view::npos)
            return false;
        start = end + 1;
    }
    return true;
}

void not_found(SoupServerMessage* msg)
{
    static constexpr char body[] = "not found\n";
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, body, sizeof body - 1);
}

} // namespace

void serve_file(SoupServerMessage* msg, const std::string& root, const char* path)
{
    // Decode once more in case the path still holds escapes; an escaped "/"
    // or NUL makes this fail, and the request with it.
    GCharPtr decoded(path ? g_uri_unescape_string(path, "/") : nullptr);
    if (!decoded || decoded.get()[0] != '/') {
        not_found(msg);
        return;
    }
    std::string rel = std::strcmp(decoded.get(), "/") != 0 ? decoded.get() + 1 : "index.html";
    if (!rel.empty() && rel.back() == '/')
        rel += "index.html";
    if (root.empty() || !safe_relative_path(rel)) {
        not_found(msg);
        return;
    }
    GCharPtr file(g_build_filename(root.c_str(), rel.c_str(), nullptr));
    if (!g_file_test(file.get(), G_FILE_TEST_IS_REGULAR)) {
        not_found(msg);
        return;
    }
    char* contents = nullptr;
    gsize length = 0;
    if (!g_file_get_contents(file.get(), &contents, &length, nullptr)) {
        not_found(msg);
        return;
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-cache");
    soup_server_message_set_response(msg, content_type(rel), SOUP_MEMORY_TAKE, contents, length);
}

} // namespace signalbin::server
