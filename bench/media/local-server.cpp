#include "local-server.h"

#include "bench-util.h"

#include <condition_variable>
#include <mutex>
#include <utility>

namespace signalbin::bench {

LocalServer::LocalServer(std::string host) : host_(std::move(host))
{
    std::string error;
    thread_.invoke_sync([&] {
        server::ServerOptions options;
        options.host = host_;
        options.port = 0;
        options.rate_limit = 10000;
        options.rate_burst = 20000;
        auto started = server::Server::start(thread_.context(), options);
        if (started)
            server_ = std::move(started.value());
        else
            error = started.error();
    });
    if (!server_)
        throw BenchError("the signalling server did not start: " + error);
    port_ = server_->port();
}

LocalServer::~LocalServer()
{
    stop();
}

size_t LocalServer::peer_count()
{
    size_t n = 0;
    thread_.invoke_sync([&] { n = server_ ? server_->peer_count() : 0; });
    return n;
}

void LocalServer::stop()
{
    if (!server_)
        return;
    struct Done {
        std::mutex lock;
        std::condition_variable cond;
        bool done = false;
    };
    auto done = std::make_shared<Done>();
    thread_.invoke_sync([&] {
        server_->shutdown(
            [done] {
                std::lock_guard<std::mutex> guard(done->lock);
                done->done = true;
                done->cond.notify_all();
            },
            2000);
    });
    {
        std::unique_lock<std::mutex> guard(done->lock);
        done->cond.wait_for(guard, std::chrono::seconds(5), [&] { return done->done; });
    }
    thread_.invoke_sync([&] { server_.reset(); });
}

} // namespace signalbin::bench
