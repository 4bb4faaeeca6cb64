// WebSocket framing (RFC 6455) for the server side, with no I/O: a decoder
// of client frames that reassembles messages, and writers of server frames.
// The server hands it the bytes it reads and queues the bytes it writes, so
// the whole data path runs without a GSource per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace signalbin::server::ws {

enum class Opcode : uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

// Close codes used here (RFC 6455, section 7.4.1).
constexpr uint16_t kCloseNormal = 1000;
constexpr uint16_t kCloseGoingAway = 1001;
constexpr uint16_t kCloseProtocolError = 1002;
constexpr uint16_t kCloseNoStatus = 1005; // never sent: "the close frame had no code"
constexpr uint16_t kCloseInvalidData = 1007;
constexpr uint16_t kClosePolicyViolation = 1008;
constexpr uint16_t kCloseTooBig = 1009;

// Appends one unmasked, final server frame.
void append_frame(std::string& out, Opcode opcode, std::string_view payload);
// Appends a close frame; the reason is cut to fit a control frame.
void append_close(std::string& out, uint16_t code, std::string_view reason);
// Bytes append_frame adds for a payload of `size`.
size_t frame_size(size_t size);

// What the decoder found. Views point into the decoder's buffer and stay
// valid until the next call to feed().
struct FrameEvent {
    enum class Kind { Text, Binary, Ping, Pong, Close, Error };
    Kind kind;
    std::string_view payload; // message or control payload
    uint16_t code = 0;        // Close: the peer's code (kCloseNoStatus if none); Error: ours to send
    std::string_view reason;  // Close: the peer's reason; Error: why, to log and send
};

class FrameDecoder {
public:
    // Messages (after reassembly) larger than `max_message` are an error
    // (kCloseTooBig), found from the frame header before the payload arrives.
    explicit FrameDecoder(size_t max_message) : max_message_(max_message) {}

    // Takes the next bytes read from the peer and calls `on_event` for each
    // complete message or control frame, in order. After an Error or a Close
    // it stops and ignores whatever follows: the connection is over.
    template <typename F>
    void feed(const char* data, size_t size, F&& on_event)
    {
        if (done_)
            return;
        // Compacting here, not after the events, keeps their views valid
        // until this call.
        compact();
        buffer_.append(data, size);
        FrameEvent event {};
        for (Step step; !done_ && (step = next(event)) != Step::NeedMore;) {
            if (step == Step::Consumed)
                continue;
            if (event.kind == FrameEvent::Kind::Error || event.kind == FrameEvent::Kind::Close)
                done_ = true;
            on_event(event);
        }
    }

    bool done() const { return done_; }

private:
    enum class Step { NeedMore, Consumed, Event };
    // Decodes at most one frame from the buffer: Event when it completes one.
    Step next(FrameEvent& event);
    Step fail(FrameEvent& event, uint16_t code, const char* reason);
    void compact();

    size_t max_message_;
    std::string buffer_;   // bytes read and not yet consumed, from offset_
    size_t offset_ = 0;
    std::string message_;  // fragments of a message in progress
    bool in_message_ = false;
    bool message_text_ = false;
    bool done_ = false;
};

} // namespace signalbin::server::ws
