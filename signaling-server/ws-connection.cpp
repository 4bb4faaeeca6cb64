#include "ws-connection.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace signalbin::server {

WsConnection::WsConnection(GRef<GIOStream> stream, GRef<GSocket> socket, bool raw_socket, size_t max_message)
    : stream_(std::move(stream)), socket_(std::move(socket)), fd_(g_socket_get_fd(socket_.get())),
      raw_socket_(raw_socket), decoder_(max_message)
{
}

WsConnection::~WsConnection()
{
    close_now();
}

// A recv()/send() result as read_some()/write_some() return it.
ssize_t WsConnection::socket_result(ssize_t n, const char* what)
{
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return kWouldBlock;
    error_ = std::string(what) + " failed: " + std::strerror(errno);
    return -1;
}

// The same for a GIO pollable stream's result.
ssize_t WsConnection::stream_result(gssize n, const GError* error, const char* what)
{
    if (n >= 0)
        return n;
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return kWouldBlock;
    error_ = std::string(what) + " failed: " + (error ? error->message : "unknown error");
    return -1;
}

ssize_t WsConnection::read_some(char* buffer, size_t size)
{
    if (closed_)
        return 0;
    if (direct_) {
        ssize_t n;
        do
            n = recv(fd_, buffer, size, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        return socket_result(n, "read");
    }
    GErrorPtr error;
    gssize got = g_pollable_input_stream_read_nonblocking(
        G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream_.get())), buffer, size, nullptr, GErrorOut(error));
    ssize_t n = stream_result(got, error.get(), "read");
    if (n == kWouldBlock)
        direct_ = raw_socket_; // whatever libsoup had buffered is consumed
    return n;
}

ssize_t WsConnection::write_some(const char* data, size_t size)
{
    if (raw_socket_) {
        ssize_t n;
        do
            n = send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return socket_result(n, "write");
    }
    GErrorPtr error;
    gssize put = g_pollable_output_stream_write_nonblocking(
        G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream_.get())), data, size, nullptr, GErrorOut(error));
    return stream_result(put, error.get(), "write");
}

void WsConnection::queue(ws::Opcode opcode, std::string_view payload)
{
    if (close_queued_ || closed_)
        return;
    size_t before = out_.size();
    ws::append_frame(out_, opcode, payload);
    queued_total_ += out_.size() - before;
}

void WsConnection::queue_close(uint16_t code, std::string_view reason)
{
    if (close_queued_ || closed_)
        return;
    size_t before = out_.size();
    ws::append_close(out_, code, reason);
    queued_total_ += out_.size() - before;
    close_queued_ = true;
}

WsConnection::WriteStatus WsConnection::flush()
{
    while (out_offset_ < out_.size()) {
        if (closed_)
            return WriteStatus::Failed;
        ssize_t n = write_some(out_.data() + out_offset_, out_.size() - out_offset_);
        if (n == kWouldBlock)
            break;
        if (n <= 0) {
            if (error_.empty())
                error_ = "write failed";
            return WriteStatus::Failed;
        }
        out_offset_ += static_cast<size_t>(n);
    }
    if (out_offset_ == out_.size()) {
        out_.clear();
        out_offset_ = 0;
        return WriteStatus::Done;
    }
    // Drop what went out, unless that would move more bytes than it frees.
    if (out_offset_ >= 64 * 1024 && out_offset_ * 2 >= out_.size()) {
        out_.erase(0, out_offset_);
        out_offset_ = 0;
    }
    return WriteStatus::Blocked;
}

void WsConnection::shutdown_write()
{
    if (!closed_ && raw_socket_)
        ::shutdown(fd_, SHUT_WR);
}

void WsConnection::close_now()
{
    if (closed_)
        return;
    closed_ = true;
    // Closing libsoup's stream closes the socket too; the socket is closed
    // directly as well in case the stream was made not to.
    g_io_stream_close(stream_.get(), nullptr, nullptr);
    g_socket_close(socket_.get(), nullptr);
}

} // namespace signalbin::server
