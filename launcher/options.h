// signalbin-launch's command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace signalbin::launcher {

struct Options {
    std::string host = "127.0.0.1";
    unsigned port = 8443;
    std::string cert_file;
    std::string key_file;
    std::string token;
    std::string stun_server;
    std::vector<std::string> turn_servers;
    std::vector<std::string> ice_local_addresses;
    std::string server_url; // external server; empty: run our own
    std::string whip_url;   // signalsinks publish there by WHIP (whip-endpoint)
    std::string whip_token; // its bearer token
    std::string web_root;   // empty: the built-in page
    bool camera = false;
    std::string device; // implies camera
    std::string name = "signalbin-test";
    unsigned status_interval_s = 5;
    bool verbose = false;
    std::string pipeline; // gst-launch syntax; empty: the main job
};

// Parses argv; on failure or --help, sets `exit_code` and returns nothing
// (the message is already printed).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code);

} // namespace signalbin::launcher
