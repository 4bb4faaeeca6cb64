// One WebSocket connection after libsoup's handshake, driven by the caller's
// readiness events: non-blocking reads into a frame decoder, and an outgoing
// queue written with as few system calls as possible (everything queued
// during one pass of the server goes out in one send()).
#pragma once

#include "glib-ptr.h"
#include "ws-frame.h"

#include <gio/gio.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace signalbin::server {

class WsConnection {
public:
    // `stream` is what libsoup hands over after the handshake: it may hold
    // bytes read past the handshake, so reads go through it until it runs
    // dry. After that a plain connection reads and writes the socket
    // directly; a TLS one (`raw_socket` false) keeps using the stream.
    WsConnection(GRef<GIOStream> stream, GRef<GSocket> socket, bool raw_socket, size_t max_message);
    ~WsConnection();
    WsConnection(const WsConnection&) = delete;
    WsConnection& operator=(const WsConnection&) = delete;

    int fd() const { return fd_; }

    enum class ReadStatus {
        Drained,  // nothing more to read for now
        More,     // stopped at the budget with data left in the TLS layer: read again soon
        Closed,   // end of stream or a read error (see error())
    };
    // Reads up to `budget` bytes and passes every decoded event to `on_event`.
    template <typename F>
    ReadStatus read(size_t budget, F&& on_event)
    {
        static thread_local char buffer[64 * 1024];
        size_t total = 0;
        while (total < budget) {
            ssize_t n = read_some(buffer, sizeof buffer);
            if (n == kWouldBlock)
                return ReadStatus::Drained;
            if (n <= 0)
                return ReadStatus::Closed;
            total += static_cast<size_t>(n);
            decoder_.feed(buffer, static_cast<size_t>(n), on_event);
            if (static_cast<size_t>(n) < sizeof buffer && direct_)
                return ReadStatus::Drained; // a short read from the socket: it is empty
        }
        return direct_ ? ReadStatus::Drained : ReadStatus::More;
    }

    void queue(ws::Opcode opcode, std::string_view payload);
    void queue_close(uint16_t code, std::string_view reason);
    bool close_queued() const { return close_queued_; }

    enum class WriteStatus { Done, Blocked, Failed };
    // Writes what is queued: Blocked means wait until the socket is writable.
    WriteStatus flush();
    // Every byte ever queued, headers included: with the kernel's count of
    // bytes acknowledged, how much the peer has not taken yet.
    uint64_t queued_total() const { return queued_total_; }

    // No more writes (TCP FIN after what is queued has gone): the peer sees
    // the end of the stream and answers a close frame by closing.
    void shutdown_write();
    // Closes the socket now.
    void close_now();
    const std::string& error() const { return error_; }

private:
    static constexpr ssize_t kWouldBlock = -2;
    ssize_t read_some(char* buffer, size_t size);
    ssize_t write_some(const char* data, size_t size);
    ssize_t socket_result(ssize_t n, const char* what);
    ssize_t stream_result(gssize n, const GError* error, const char* what);

    GRef<GIOStream> stream_;
    GRef<GSocket> socket_;
    int fd_;
    bool raw_socket_;
    bool direct_ = false; // the stream's buffer is empty: use the socket itself
    ws::FrameDecoder decoder_;
    std::string out_;
    size_t out_offset_ = 0;
    uint64_t queued_total_ = 0;
    bool close_queued_ = false;
    bool closed_ = false;
    std::string error_;
};

} // namespace signalbin::server
