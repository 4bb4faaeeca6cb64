// One GSource for any number of sockets: an epoll set whose descriptor is the
// only thing GLib polls. GLib's own sources cost every pass of the main loop
// time in proportion to their number (each is polled and checked); with this,
// a pass costs the same with ten thousand idle connections as with one.
#pragma once

#include "expected.h"
#include "glib-ptr.h"

#include <glib.h>
#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace signalbin::server {

class EpollSource {
public:
    // Called on `context` with the events ready, at most a few hundred at a
    // time; the source dispatches again while more are pending.
    using Handler = std::function<void(const epoll_event* events, size_t count)>;

    static Expected<std::unique_ptr<EpollSource>> create(GMainContext* context, Handler handler);
    ~EpollSource();
    EpollSource(const EpollSource&) = delete;
    EpollSource& operator=(const EpollSource&) = delete;

    // Level-triggered; `tag` comes back in epoll_event::data.ptr.
    bool add(int fd, uint32_t events, void* tag);
    bool modify(int fd, uint32_t events, void* tag);
    void remove(int fd);
    // Dispatches on the next pass even if no descriptor is ready (the handler
    // then gets zero events): for work left over from a previous dispatch.
    void wake();

private:
    struct Source;
    EpollSource(int epoll_fd, Handler handler);
    bool control(int op, int fd, uint32_t events, void* tag);
    static gboolean dispatch(GSource* source, GSourceFunc, gpointer);

    int epoll_fd_;
    Handler handler_;
    ScopedSource source_; // destroyed before the epoll descriptor closes
};

} // namespace signalbin::server
