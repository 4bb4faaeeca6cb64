// The project's signalling server, in this process on a thread of its own,
// on 127.0.0.1 (or another address of this host) and a free port.
#pragma once

#include "context-thread.h"
#include "server.h"

#include <memory>
#include <string>

namespace signalbin::bench {

class LocalServer {
public:
    // Starts it; BenchError if it cannot. Rate limits are raised so that many
    // consumers joining at once are not slowed down by them.
    explicit LocalServer(std::string host = "127.0.0.1");
    ~LocalServer();
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;

    std::string url() const { return "ws://" + host_ + ":" + std::to_string(port_); }
    size_t peer_count();

private:
    void stop();

    ContextThread thread_ {"bench-server"};
    std::unique_ptr<server::Server> server_;
    std::string host_;
    unsigned port_ = 0;
};

} // namespace signalbin::bench
