#include "epoll-source.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace signalbin::server {

namespace {
constexpr int kMaxEvents = 256;
}

struct EpollSource::Source {
    GSource base;
    EpollSource* owner;
};

Expected<std::unique_ptr<EpollSource>> EpollSource::create(GMainContext* context, Handler handler)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return Expected<std::unique_ptr<EpollSource>>::failure(std::string("epoll_create1: ") +
                                                               std::strerror(errno));
    std::unique_ptr<EpollSource> self(new EpollSource(fd, std::move(handler)));
    static GSourceFuncs funcs = {nullptr, nullptr, &EpollSource::dispatch, nullptr, nullptr, nullptr};
    GRef<GSource> source = adopt_ref(g_source_new(&funcs, sizeof(Source)));
    reinterpret_cast<Source*>(source.get())->owner = self.get();
    g_source_set_name(source.get(), "signalbin-epoll");
    g_source_add_unix_fd(source.get(), fd, G_IO_IN);
    g_source_attach(source.get(), context);
    self->source_ = ScopedSource(std::move(source));
    return self;
}

EpollSource::EpollSource(int epoll_fd, Handler handler) : epoll_fd_(epoll_fd), handler_(std::move(handler)) {}

EpollSource::~EpollSource()
{
    source_.cancel();
    close(epoll_fd_);
}

bool EpollSource::add(int fd, uint32_t events, void* tag)
{
    return control(EPOLL_CTL_ADD, fd, events, tag);
}

bool EpollSource::modify(int fd, uint32_t events, void* tag)
{
    return control(EPOLL_CTL_MOD, fd, events, tag);
}

bool EpollSource::control(int op, int fd, uint32_t events, void* tag)
{
    epoll_event event {};
    event.events = events;
    event.data.ptr = tag;
    return epoll_ctl(epoll_fd_, op, fd, &event) == 0;
}

void EpollSource::remove(int fd)
{
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EpollSource::wake()
{
    if (GSource* source = source_.get())
        g_source_set_ready_time(source, 0);
}

gboolean EpollSource::dispatch(GSource* source, GSourceFunc, gpointer)
{
    EpollSource* self = reinterpret_cast<Source*>(source)->owner;
    g_source_set_ready_time(source, -1);
    epoll_event events[kMaxEvents];
    int n = epoll_wait(self->epoll_fd_, events, kMaxEvents, 0);
    self->handler_(events, n > 0 ? static_cast<size_t>(n) : 0);
    return G_SOURCE_CONTINUE;
}

} // namespace signalbin::server
