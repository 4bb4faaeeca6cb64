#include "ws-frame.h"

#include <glib.h>

#include <cstring>

namespace signalbin::server::ws {

namespace {

constexpr size_t kMaxControlPayload = 125;

void unmask(char* data, size_t size, const unsigned char key[4])
{
    // Eight bytes at a time: a relayed ICE candidate is a few hundred bytes.
    uint64_t key8;
    unsigned char repeated[8];
    for (int i = 0; i < 8; ++i)
        repeated[i] = key[i % 4];
    std::memcpy(&key8, repeated, 8);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        std::memcpy(&word, data + i, 8);
        word ^= key8;
        std::memcpy(data + i, &word, 8);
    }
    for (; i < size; ++i)
        data[i] = static_cast<char>(data[i] ^ key[i % 4]);
}

} // namespace

size_t frame_size(size_t size)
{
    return size + (size < 126 ? 2 : size < 65536 ? 4 : 10);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload)
{
    unsigned char header[10];
    size_t n = 0;
    header[n++] = static_cast<unsigned char>(0x80 | static_cast<uint8_t>(opcode));
    size_t size = payload.size();
    if (size < 126) {
        header[n++] = static_cast<unsigned char>(size);
    } else if (size < 65536) {
        header[n++] = 126;
        header[n++] = static_cast<unsigned char>(size >> 8);
        header[n++] = static_cast<unsigned char>(size);
    } else {
        header[n++] = 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            header[n++] = static_cast<unsigned char>(static_cast<uint64_t>(size) >> shift);
    }
    out.append(reinterpret_cast<const char*>(header), n);
    out.append(payload.data(), payload.size());
}

void append_close(std::string& out, uint16_t code, std::string_view reason)
{
    if (reason.size() > kMaxControlPayload - 2) {
        // Cut on a character boundary, so the reason stays valid UTF-8.
        size_t end = kMaxControlPayload - 2;
        while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80)
            --end;
        reason = reason.substr(0, end);
    }
    std::string payload;
    payload.reserve(2 + reason.size());
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason);
    append_frame(out, Opcode::Close, payload);
}

FrameDecoder::Step FrameDecoder::fail(FrameEvent& event, uint16_t code, const char* reason)
{
    event = FrameEvent {FrameEvent::Kind::Error, {}, code, reason};
    return Step::Event;
}

FrameDecoder::Step FrameDecoder::next(FrameEvent& event)
{
    const size_t available = buffer_.size() - offset_;
    if (available < 2)
        return Step::NeedMore;
    auto* p = reinterpret_cast<unsigned char*>(&buffer_[offset_]);
    const bool fin = p[0] & 0x80;
    const unsigned opcode = p[0] & 0x0F;
    const bool masked = p[1] & 0x80;
    uint64_t length = p[1] & 0x7F;
    size_t header = 2;

    // Everything that can be judged from the first two bytes is judged
    // before waiting for more.
    if (p[0] & 0x70)
        return fail(event, kCloseProtocolError, "reserved bits set: no extension was negotiated");
    if (!masked)
        return fail(event, kCloseProtocolError, "client frames must be masked");
    const bool control = opcode & 0x08;
    if (control) {
        if (opcode != 0x8 && opcode != 0x9 && opcode != 0xA)
            return fail(event, kCloseProtocolError, "unknown control opcode");
        if (!fin)
            return fail(event, kCloseProtocolError, "control frames must not be fragmented");
        if (length > kMaxControlPayload)
            return fail(event, kCloseProtocolError, "control frame payload over 125 bytes");
    } else {
        if (opcode > 0x2)
            return fail(event, kCloseProtocolError, "unknown data opcode");
        if (opcode == 0x0 && !in_message_)
            return fail(event, kCloseProtocolError, "continuation frame without a message to continue");
        if (opcode != 0x0 && in_message_)
            return fail(event, kCloseProtocolError, "new message before the previous one ended");
    }

    if (length == 126) {
        if (available < 4)
            return Step::NeedMore;
        length = (uint64_t(p[2]) << 8) | p[3];
        header = 4;
    } else if (length == 127) {
        if (available < 10)
            return Step::NeedMore;
        length = 0;
        for (int i = 2; i < 10; ++i)
            length = (length << 8) | p[i];
        header = 10;
        if (length >> 63)
            return fail(event, kCloseProtocolError, "frame length has its top bit set");
    }
    if (!control) {
        const uint64_t so_far = in_message_ ? message_.size() : 0;
        if (length > max_message_ || so_far + length > max_message_)
            return fail(event, kCloseTooBig, "message too big");
    }
    header += 4; // the masking key
    if (available < header + length)
        return Step::NeedMore;

    unsigned char key[4];
    std::memcpy(key, p + header - 4, 4);
    char* payload = &buffer_[offset_ + header];
    const size_t size = static_cast<size_t>(length);
    unmask(payload, size, key);
    offset_ += header + size;
    std::string_view data(payload, size);

    if (control) {
        switch (opcode) {
        case 0x9:
            event = FrameEvent {FrameEvent::Kind::Ping, data, 0, {}};
            return Step::Event;
        case 0xA:
            event = FrameEvent {FrameEvent::Kind::Pong, data, 0, {}};
            return Step::Event;
        default:
            if (size == 1)
                return fail(event, kCloseProtocolError, "close frame with a one-byte payload");
            event = FrameEvent {FrameEvent::Kind::Close, {}, kCloseNoStatus, {}};
            if (size >= 2) {
                event.code = static_cast<uint16_t>((static_cast<unsigned char>(data[0]) << 8) |
                                                   static_cast<unsigned char>(data[1]));
                event.reason = data.substr(2);
            }
            return Step::Event;
        }
    }

    std::string_view message;
    bool text;
    if (opcode != 0x0 && fin) {
        message = data; // the common case: one frame, no copy
        text = opcode == 0x1;
    } else {
        if (opcode != 0x0) {
            in_message_ = true;
            message_text_ = opcode == 0x1;
            message_.clear();
        }
        message_.append(data);
        if (!fin)
            return Step::Consumed;
        in_message_ = false;
        message = message_;
        text = message_text_;
    }
    if (text && !g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr))
        return fail(event, kCloseInvalidData, "text message is not valid UTF-8");
    event = FrameEvent {text ? FrameEvent::Kind::Text : FrameEvent::Kind::Binary, message, 0, {}};
    return Step::Event;
}

void FrameDecoder::compact()
{
    // Keeps the buffer from growing with a slow trickle of partial frames,
    // without moving bytes on every call.
    if (offset_ > 0 && (offset_ == buffer_.size() || offset_ >= 64 * 1024)) {
        buffer_.erase(0, offset_);
        offset_ = 0;
    }
}

} // namespace signalbin::server::ws
