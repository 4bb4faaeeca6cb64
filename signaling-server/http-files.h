// Static files over plain HTTP for the signalling server (the web page).
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace signalbin::server {

// Answers a GET/HEAD for `path` from the files under `root`: "/" means
// index.html; paths that leave the root, hidden files and anything that is
// not a regular file get 404.
void serve_file(SoupServerMessage* msg, const std::string& root, const char* path);

} // namespace signalbin::server
