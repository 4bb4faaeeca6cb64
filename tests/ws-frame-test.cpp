// Unit tests of signalbin::server::ws: the server frame writers produce the
// exact bytes of RFC 6455 (all three length encodings), and the decoder of
// client frames gives the right events whole, byte by byte and in random
// chunks, reassembles fragmented messages around control frames, and stops
// at the first error with the close code the RFC asks for.
#include "ws-frame.h"

#include <gst/check/gstcheck.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace signalbin::server::ws;
using Kind = FrameEvent::Kind;

// Compares two std::string values (ck_assert_str_eq would keep a pointer into
// a temporary), printing at most the first bytes of long ones.
#define assert_strings_equal(a, b)                                                                        \
    do {                                                                                                  \
        const std::string actual_ = (a);                                                                  \
        const std::string wanted_ = (b);                                                                  \
        fail_unless(actual_ == wanted_, "%s is \"%s\" (%zu bytes), expected \"%s\" (%zu bytes)", #a,      \
                    printable(actual_).c_str(), actual_.size(), printable(wanted_).c_str(), wanted_.size()); \
    } while (0)

namespace {

constexpr size_t kMaxMessage = 1 << 20;

// Escapes bytes that are not printable ASCII and cuts long strings.
std::string printable(std::string_view bytes)
{
    std::string text;
    const size_t shown = bytes.size() < 64 ? bytes.size() : 64;
    for (size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            text.push_back(static_cast<char>(c));
        } else {
            char escaped[8];
            g_snprintf(escaped, sizeof escaped, "\\x%02x", c);
            text += escaped;
        }
    }
    if (shown < bytes.size())
        text += "...";
    return text;
}

const char* kind_name(Kind kind)
{
    switch (kind) {
    case Kind::Text:
        return "Text";
    case Kind::Binary:
        return "Binary";
    case Kind::Ping:
        return "Ping";
    case Kind::Pong:
        return "Pong";
    case Kind::Close:
        return "Close";
    case Kind::Error:
        return "Error";
    }
    return "?";
}

// A FrameEvent copied out of the decoder's buffer.
struct Event {
    Kind kind;
    std::string payload;
    uint16_t code = 0;
    std::string reason;
};

std::string describe(const std::vector<Event>& events)
{
    std::string text = "[";
    for (const Event& e : events) {
        if (text.size() > 1)
            text += ", ";
        text += kind_name(e.kind);
        text += "(" + std::to_string(e.payload.size()) + " bytes \"" + printable(e.payload) + "\"";
        if (e.kind == Kind::Close || e.kind == Kind::Error)
            text += ", code " + std::to_string(e.code) + ", \"" + printable(e.reason) + "\"";
        text += ")";
    }
    return text + "]";
}

// Feeds `bytes` in chunks of `chunk` bytes (0: all at once) and returns the
// events, copied while the views are valid.
std::vector<Event> feed(FrameDecoder& decoder, std::string_view bytes, size_t chunk = 0)
{
    std::vector<Event> events;
    auto record = [&events](const FrameEvent& e) {
        events.push_back(Event {e.kind, std::string(e.payload), e.code, std::string(e.reason)});
    };
    if (chunk == 0)
        chunk = bytes.size();
    for (size_t at = 0; at < bytes.size(); at += chunk)
        decoder.feed(bytes.data() + at, bytes.size() - at < chunk ? bytes.size() - at : chunk, record);
    if (bytes.empty())
        decoder.feed(bytes.data(), 0, record);
    return events;
}

std::vector<Event> decode(std::string_view bytes, size_t chunk = 0, size_t max_message = kMaxMessage)
{
    FrameDecoder decoder(max_message);
    return feed(decoder, bytes, chunk);
}

void check_single(const std::vector<Event>& events, Kind kind, std::string_view payload)
{
    fail_unless(events.size() == 1 && events[0].kind == kind && events[0].payload == payload,
                "expected one %s of %zu bytes \"%s\", got %s", kind_name(kind), payload.size(),
                printable(payload).c_str(), describe(events).c_str());
}

void check_error(const std::vector<Event>& events, uint16_t code, const char* what)
{
    fail_unless(events.size() == 1 && events[0].kind == Kind::Error && events[0].code == code,
                "%s: expected exactly one Error %u, got %s", what, static_cast<unsigned>(code),
                describe(events).c_str());
    fail_unless(!events[0].reason.empty(), "%s: the error has no reason", what);
}

// A client frame as the RFC has it, built here independently of the code
// under test: FIN, RSV1-3 and opcode in `first`, the shortest length
// encoding, the masking key (when `masked`), the masked payload.
std::string raw_frame(uint8_t first, std::string_view payload, uint32_t key = 0x37fa213d, bool masked = true)
{
    std::string out;
    out.push_back(static_cast<char>(first));
    const uint8_t mask_bit = masked ? 0x80 : 0x00;
    const uint64_t size = payload.size();
    if (size < 126) {
        out.push_back(static_cast<char>(mask_bit | size));
    } else if (size <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(size >> 8));
        out.push_back(static_cast<char>(size & 0xFF));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((size >> shift) & 0xFF));
    }
    unsigned char k[4] = {static_cast<unsigned char>(key >> 24), static_cast<unsigned char>(key >> 16),
                          static_cast<unsigned char>(key >> 8), static_cast<unsigned char>(key)};
    if (masked)
        out.append(reinterpret_cast<const char*>(k), 4);
    for (size_t i = 0; i < payload.size(); ++i)
        out.push_back(masked ? static_cast<char>(payload[i] ^ k[i % 4]) : payload[i]);
    return out;
}

std::string client_frame(Opcode opcode, std::string_view payload, bool fin = true, uint32_t key = 0x37fa213d)
{
    return raw_frame(static_cast<uint8_t>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(opcode)), payload, key);
}

// Turns a server frame (as append_frame writes it) into the same frame sent
// by a client: mask bit set, key after the length, payload masked.
std::string mask_server_frame(std::string_view frame, uint32_t key = 0x01020304)
{
    fail_unless(frame.size() >= 2, "frame too short");
    const auto second = static_cast<unsigned char>(frame[1]);
    fail_unless((second & 0x80) == 0, "server frames must not be masked");
    const size_t header = (second & 0x7F) == 127 ? 10 : (second & 0x7F) == 126 ? 4 : 2;
    std::string out(frame.substr(0, header));
    out[1] = static_cast<char>(second | 0x80);
    unsigned char k[4] = {static_cast<unsigned char>(key >> 24), static_cast<unsigned char>(key >> 16),
                          static_cast<unsigned char>(key >> 8), static_cast<unsigned char>(key)};
    out.append(reinterpret_cast<const char*>(k), 4);
    for (size_t i = header; i < frame.size(); ++i)
        out.push_back(static_cast<char>(frame[i] ^ k[(i - header) % 4]));
    return out;
}

std::string pattern(size_t size)
{
    std::string s;
    s.reserve(size);
    for (size_t i = 0; i < size; ++i)
        s.push_back(static_cast<char>('a' + (i * 7 + i / 26) % 26));
    return s;
}

unsigned byte(const std::string& s, size_t i)
{
    return static_cast<unsigned char>(s.at(i));
}

} // namespace

GST_START_TEST(test_masked_text_frame)
{
    const std::string frame = client_frame(Opcode::Text, "Hello, WebSocket");
    // The example of RFC 6455, section 5.7: a masked "Hello".
    const std::string rfc_hello("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    assert_strings_equal(client_frame(Opcode::Text, "Hello"), rfc_hello);
    check_single(decode(rfc_hello), Kind::Text, "Hello");

    check_single(decode(frame), Kind::Text, "Hello, WebSocket");
    check_single(decode(frame, 1), Kind::Text, "Hello, WebSocket");
    check_single(decode(frame, 3), Kind::Text, "Hello, WebSocket");

    // Byte by byte, the event comes with the last byte and not before.
    FrameDecoder decoder(kMaxMessage);
    for (size_t i = 0; i + 1 < frame.size(); ++i) {
        std::vector<Event> events = feed(decoder, std::string_view(frame).substr(i, 1));
        fail_unless(events.empty(), "event after byte %zu of %zu: %s", i, frame.size(), describe(events).c_str());
    }
    check_single(feed(decoder, std::string_view(frame).substr(frame.size() - 1)), Kind::Text, "Hello, WebSocket");
    ck_assert(!decoder.done());

    // An empty text message.
    check_single(decode(client_frame(Opcode::Text, "")), Kind::Text, "");
}
GST_END_TEST;

GST_START_TEST(test_two_frames_in_one_feed)
{
    const std::string bytes =
        client_frame(Opcode::Text, "first") + client_frame(Opcode::Text, "second", true, 0xdeadbeef);
    for (size_t chunk : {size_t(0), size_t(1), size_t(5), size_t(11), size_t(12)}) {
        std::vector<Event> events = decode(bytes, chunk);
        fail_unless(events.size() == 2 && events[0].kind == Kind::Text && events[0].payload == "first" &&
                        events[1].kind == Kind::Text && events[1].payload == "second",
                    "chunk %zu: expected Text \"first\", Text \"second\", got %s", chunk, describe(events).c_str());
    }

    // The decoder keeps going across many feeds on one connection.
    FrameDecoder decoder(kMaxMessage);
    for (int i = 0; i < 100; ++i) {
        const std::string message = "message " + std::to_string(i);
        check_single(feed(decoder, client_frame(Opcode::Text, message, true, 0x11111111u * static_cast<uint32_t>(i))),
                     Kind::Text, message);
    }
}
GST_END_TEST;

GST_START_TEST(test_append_frame_lengths)
{
    struct Case {
        size_t size;
        size_t header;
    };
    for (Case c : {Case {0, 2}, Case {1, 2}, Case {125, 2}, Case {126, 4}, Case {200, 4}, Case {65535, 4},
                   Case {65536, 10}, Case {70000, 10}}) {
        fail_unless(frame_size(c.size) == c.size + c.header, "frame_size(%zu) is %zu, expected %zu", c.size,
                    frame_size(c.size), c.size + c.header);
        const std::string payload = pattern(c.size);
        std::string out = "prefix";
        append_frame(out, Opcode::Binary, payload);
        fail_unless(out.size() == 6 + frame_size(c.size), "append_frame of %zu bytes wrote %zu bytes", c.size,
                    out.size() - 6);
        fail_unless(out.compare(0, 6, "prefix") == 0, "append_frame changed what was already there");
        fail_unless(byte(out, 6) == 0x82, "first byte 0x%02x, expected 0x82", byte(out, 6));
        fail_unless(out.compare(6 + c.header, std::string::npos, payload) == 0, "payload of %zu bytes not copied",
                    c.size);
    }

    // 7-bit length.
    std::string small;
    append_frame(small, Opcode::Text, "abc");
    assert_strings_equal(small, std::string("\x81\x03" "abc", 5));

    // 16-bit length: 200 = 0x00C8.
    std::string medium;
    append_frame(medium, Opcode::Text, pattern(200));
    ck_assert(medium.size() == 204 && frame_size(200) == 204);
    fail_unless(byte(medium, 0) == 0x81 && byte(medium, 1) == 126 && byte(medium, 2) == 0x00 &&
                    byte(medium, 3) == 0xC8,
                "16-bit header is %02x %02x %02x %02x", byte(medium, 0), byte(medium, 1), byte(medium, 2),
                byte(medium, 3));
    assert_strings_equal(medium.substr(4), pattern(200));

    // 16-bit length at its top: 65535 = 0xFFFF.
    std::string top;
    append_frame(top, Opcode::Binary, pattern(65535));
    ck_assert(byte(top, 1) == 126 && byte(top, 2) == 0xFF && byte(top, 3) == 0xFF);

    // 64-bit length: 70000 = 0x0000000000011170.
    std::string large;
    append_frame(large, Opcode::Binary, pattern(70000));
    ck_assert(large.size() == 70010 && frame_size(70000) == 70010);
    const unsigned char wanted[10] = {0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70};
    for (size_t i = 0; i < 10; ++i)
        fail_unless(byte(large, i) == wanted[i], "64-bit header byte %zu is 0x%02x, expected 0x%02x", i,
                    byte(large, i), wanted[i]);
    assert_strings_equal(large.substr(10), pattern(70000));

    // Control frames.
    std::string ping;
    append_frame(ping, Opcode::Ping, "p");
    assert_strings_equal(ping, std::string("\x89\x01p", 3));
    std::string pong;
    append_frame(pong, Opcode::Pong, "");
    assert_strings_equal(pong, std::string("\x8A\x00", 2));

    // What the server writes, masked as a client would, decodes back.
    check_single(decode(mask_server_frame(medium)), Kind::Text, pattern(200));
    check_single(decode(mask_server_frame(large)), Kind::Binary, pattern(70000));
}
GST_END_TEST;

GST_START_TEST(test_decode_extended_lengths)
{
    // 16-bit length.
    const std::string medium = client_frame(Opcode::Text, pattern(200));
    ck_assert(medium.size() == 2 + 2 + 4 + 200);
    ck_assert(byte(medium, 1) == (0x80 | 126) && byte(medium, 2) == 0x00 && byte(medium, 3) == 0xC8);
    check_single(decode(medium), Kind::Text, pattern(200));
    check_single(decode(medium, 1), Kind::Text, pattern(200));
    check_single(decode(medium, 7), Kind::Text, pattern(200));

    // 64-bit length.
    const std::string large = client_frame(Opcode::Binary, pattern(70000));
    ck_assert(large.size() == 2 + 8 + 4 + 70000);
    ck_assert(byte(large, 1) == (0x80 | 127) && byte(large, 7) == 0x01 && byte(large, 8) == 0x11 &&
                byte(large, 9) == 0x70);
    check_single(decode(large), Kind::Binary, pattern(70000));
    check_single(decode(large, 1), Kind::Binary, pattern(70000));
    check_single(decode(large, 4096), Kind::Binary, pattern(70000));

    // The boundaries between encodings.
    for (size_t size : {size_t(125), size_t(126), size_t(127), size_t(65535), size_t(65536)})
        check_single(decode(client_frame(Opcode::Binary, pattern(size))), Kind::Binary, pattern(size));

    // A message of exactly max_message bytes is accepted.
    check_single(decode(client_frame(Opcode::Text, pattern(300)), 0, 300), Kind::Text, pattern(300));

    // Both, back to back, with an odd chunking.
    std::vector<Event> events = decode(medium + large + medium, 999);
    fail_unless(events.size() == 3 && events[0].payload == pattern(200) && events[1].payload == pattern(70000) &&
                    events[2].payload == pattern(200) && events[0].kind == Kind::Text &&
                    events[1].kind == Kind::Binary && events[2].kind == Kind::Text,
                "got %s", describe(events).c_str());
}
GST_END_TEST;

GST_START_TEST(test_fragmented_message_with_ping)
{
    const std::string bytes = client_frame(Opcode::Text, "Hel", false) + client_frame(Opcode::Ping, "are you there?") +
                              client_frame(Opcode::Continuation, "lo, ", false, 0x0badf00d) +
                              client_frame(Opcode::Continuation, "world", true, 0xcafebabe);
    for (size_t chunk : {size_t(0), size_t(1), size_t(2), size_t(9)}) {
        std::vector<Event> events = decode(bytes, chunk);
        fail_unless(events.size() == 2 && events[0].kind == Kind::Ping && events[0].payload == "are you there?" &&
                        events[1].kind == Kind::Text && events[1].payload == "Hello, world",
                    "chunk %zu: expected Ping then Text \"Hello, world\", got %s", chunk, describe(events).c_str());
    }

    // The fragments alone give nothing until the last one.
    FrameDecoder decoder(kMaxMessage);
    ck_assert(feed(decoder, client_frame(Opcode::Binary, "\x01\x02", false)).empty());
    check_single(feed(decoder, client_frame(Opcode::Pong, "")), Kind::Pong, "");
    ck_assert(feed(decoder, client_frame(Opcode::Continuation, "", false)).empty());
    check_single(feed(decoder, client_frame(Opcode::Continuation, std::string("\xff\x00", 2))), Kind::Binary,
                 std::string("\x01\x02\xff\x00", 4));
    // And a new message may follow.
    check_single(feed(decoder, client_frame(Opcode::Text, "next")), Kind::Text, "next");

    // A character split between fragments is valid UTF-8 once reassembled.
    check_single(decode(client_frame(Opcode::Text, "caf\xc3", false) + client_frame(Opcode::Continuation, "\xa9")),
                 Kind::Text, "caf\xc3\xa9");

    // A fragmented message larger than one frame of 16-bit length.
    const std::string big = pattern(100000);
    const std::string big_bytes = client_frame(Opcode::Text, big.substr(0, 40000), false) +
                                  client_frame(Opcode::Continuation, big.substr(40000, 30000), false) +
                                  client_frame(Opcode::Ping, "x") +
                                  client_frame(Opcode::Continuation, big.substr(70000), true);
    std::vector<Event> events = decode(big_bytes, 1000);
    fail_unless(events.size() == 2 && events[0].kind == Kind::Ping && events[1].kind == Kind::Text &&
                    events[1].payload == big,
                "got %s", describe(events).c_str());
}
GST_END_TEST;

GST_START_TEST(test_errors_stop_the_decoder)
{
    const std::string valid = client_frame(Opcode::Text, "valid") + client_frame(Opcode::Ping, "ping");
    struct Case {
        const char* what;
        std::string bytes;
        uint16_t code;
        size_t max_message;
    };
    const std::vector<Case> cases = {
        {"unmasked frame", raw_frame(0x81, "hello", 0, false), kCloseProtocolError, kMaxMessage},
        {"RSV1 set", raw_frame(0x80 | 0x40 | 0x1, "hello"), kCloseProtocolError, kMaxMessage},
        {"RSV2 set", raw_frame(0x80 | 0x20 | 0x1, "hello"), kCloseProtocolError, kMaxMessage},
        {"RSV3 set", raw_frame(0x80 | 0x10 | 0x2, "hello"), kCloseProtocolError, kMaxMessage},
        {"unknown data opcode 3", raw_frame(0x80 | 0x3, "hello"), kCloseProtocolError, kMaxMessage},
        {"unknown data opcode 7", raw_frame(0x80 | 0x7, "hello"), kCloseProtocolError, kMaxMessage},
        {"unknown control opcode 0xB", raw_frame(0x80 | 0xB, "hello"), kCloseProtocolError, kMaxMessage},
        {"unknown control opcode 0xF", raw_frame(0x80 | 0xF, ""), kCloseProtocolError, kMaxMessage},
        {"fragmented ping", client_frame(Opcode::Ping, "ping", false), kCloseProtocolError, kMaxMessage},
        {"fragmented close", client_frame(Opcode::Close, std::string("\x03\xe8", 2), false), kCloseProtocolError,
         kMaxMessage},
        {"ping of 126 bytes", client_frame(Opcode::Ping, pattern(126)), kCloseProtocolError, kMaxMessage},
        {"close of 126 bytes", client_frame(Opcode::Close, "\x03\xe8" + pattern(124)), kCloseProtocolError,
         kMaxMessage},
        {"continuation without a start", client_frame(Opcode::Continuation, "orphan"), kCloseProtocolError,
         kMaxMessage},
        {"unfinished continuation without a start", client_frame(Opcode::Continuation, "orphan", false),
         kCloseProtocolError, kMaxMessage},
        {"text while a message is in progress",
         client_frame(Opcode::Text, "one", false) + client_frame(Opcode::Text, "two"), kCloseProtocolError,
         kMaxMessage},
        {"binary while a message is in progress",
         client_frame(Opcode::Binary, "one", false) + client_frame(Opcode::Binary, "two", false),
         kCloseProtocolError, kMaxMessage},
        {"invalid UTF-8 text", client_frame(Opcode::Text, "ab\xc3\x28"), kCloseInvalidData, kMaxMessage},
        {"UTF-16 surrogate in text", client_frame(Opcode::Text, "\xed\xa0\x80"), kCloseInvalidData, kMaxMessage},
        {"truncated character in text", client_frame(Opcode::Text, "caf\xc3"), kCloseInvalidData, kMaxMessage},
        {"invalid UTF-8 in a fragmented text",
         client_frame(Opcode::Text, "ok", false) + client_frame(Opcode::Continuation, "\xff"), kCloseInvalidData,
         kMaxMessage},
        {"text over max_message", client_frame(Opcode::Text, pattern(301)), kCloseTooBig, 300},
        {"binary over max_message, 64-bit length", client_frame(Opcode::Binary, pattern(70000)), kCloseTooBig,
         65536},
        {"fragments over max_message",
         client_frame(Opcode::Text, pattern(200), false) + client_frame(Opcode::Continuation, pattern(101)),
         kCloseTooBig, 300},
        {"close with a one-byte payload", client_frame(Opcode::Close, "\x03"), kCloseProtocolError, kMaxMessage},
    };
    for (const Case& c : cases) {
        for (size_t chunk : {size_t(0), size_t(1)}) {
            FrameDecoder decoder(c.max_message);
            std::vector<Event> events = feed(decoder, c.bytes + valid, chunk);
            check_error(events, c.code, c.what);
            fail_unless(decoder.done(), "%s: decoder not done after an error", c.what);
            // Nothing after the error, whatever comes.
            std::vector<Event> after = feed(decoder, valid + client_frame(Opcode::Close, ""));
            fail_unless(after.empty(), "%s: events after the error: %s", c.what, describe(after).c_str());
        }
    }

    // The frames that follow each error are valid: without the error before
    // them they give their events.
    std::vector<Event> events = decode(valid);
    ck_assert(events.size() == 2 && events[0].kind == Kind::Text && events[1].kind == Kind::Ping);
}
GST_END_TEST;

GST_START_TEST(test_too_big_from_header_alone)
{
    // 7-bit length: two bytes are enough.
    {
        FrameDecoder decoder(100);
        const std::string frame = client_frame(Opcode::Text, pattern(101));
        std::vector<Event> first = feed(decoder, frame.substr(0, 1));
        fail_unless(first.empty(), "event after one byte: %s", describe(first).c_str());
        check_error(feed(decoder, frame.substr(1, 1)), kCloseTooBig, "7-bit length over max_message");
        ck_assert(feed(decoder, frame.substr(2)).empty());
    }
    // 16-bit length: four bytes, no masking key, no payload.
    {
        FrameDecoder decoder(1000);
        const std::string frame = client_frame(Opcode::Binary, pattern(1001));
        for (size_t i = 0; i < 3; ++i)
            fail_unless(feed(decoder, frame.substr(i, 1)).empty(), "event after byte %zu", i);
        check_error(feed(decoder, frame.substr(3, 1)), kCloseTooBig, "16-bit length over max_message");
        ck_assert(feed(decoder, frame.substr(4)).empty());
    }
    // 64-bit length announcing 4 GiB: ten bytes, the payload is never sent.
    {
        FrameDecoder decoder(kMaxMessage);
        const std::string header("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00", 10);
        for (size_t i = 0; i < 9; ++i)
            fail_unless(feed(decoder, header.substr(i, 1)).empty(), "event after byte %zu", i);
        check_error(feed(decoder, header.substr(9, 1)), kCloseTooBig, "64-bit length over max_message");
        ck_assert(decoder.done());
    }
    // 64-bit length just over the limit, all in one feed of the header.
    {
        FrameDecoder decoder(70000);
        const std::string frame = client_frame(Opcode::Binary, pattern(70001));
        check_error(feed(decoder, frame.substr(0, 10)), kCloseTooBig, "70001 bytes over 70000");
    }
    // The second fragment's header alone pushes the message over the limit.
    {
        FrameDecoder decoder(300);
        ck_assert(feed(decoder, client_frame(Opcode::Text, pattern(200), false)).empty());
        const std::string second = client_frame(Opcode::Continuation, pattern(101));
        ck_assert(feed(decoder, second.substr(0, 1)).empty());
        check_error(feed(decoder, second.substr(1, 1)), kCloseTooBig, "fragments over max_message");
    }
    // And exactly at the limit across fragments, it is accepted.
    {
        FrameDecoder decoder(300);
        const std::string bytes = client_frame(Opcode::Text, pattern(200), false) +
                                  client_frame(Opcode::Continuation, pattern(100));
        check_single(feed(decoder, bytes), Kind::Text, pattern(200) + pattern(100));
    }
    // A length with its top bit set is a protocol error.
    {
        FrameDecoder decoder(kMaxMessage);
        check_error(feed(decoder, std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10)), kCloseProtocolError,
                    "64-bit length with its top bit set");
    }
}
GST_END_TEST;

GST_START_TEST(test_close_frames)
{
    {
        FrameDecoder decoder(kMaxMessage);
        const std::string bytes =
            client_frame(Opcode::Close, std::string("\x03\xe8", 2) + "bye") + client_frame(Opcode::Text, "late");
        std::vector<Event> events = feed(decoder, bytes);
        fail_unless(events.size() == 1 && events[0].kind == Kind::Close && events[0].code == 1000 &&
                        events[0].reason == "bye",
                    "expected Close 1000 \"bye\", got %s", describe(events).c_str());
        ck_assert(decoder.done());
        ck_assert(feed(decoder, client_frame(Opcode::Text, "later")).empty());
    }
    {
        std::vector<Event> events = decode(client_frame(Opcode::Close, ""));
        fail_unless(events.size() == 1 && events[0].kind == Kind::Close && events[0].code == kCloseNoStatus &&
                        events[0].code == 1005 && events[0].reason.empty(),
                    "expected Close 1005, got %s", describe(events).c_str());
    }
    {
        // A code and no reason, byte by byte.
        std::vector<Event> events = decode(client_frame(Opcode::Close, std::string("\x0f\xa1", 2)), 1);
        fail_unless(events.size() == 1 && events[0].kind == Kind::Close && events[0].code == 4001 &&
                        events[0].reason.empty(),
                    "expected Close 4001, got %s", describe(events).c_str());
    }
    {
        // What append_close writes, masked, decodes to the same code and reason.
        std::string out;
        append_close(out, kCloseGoingAway, "server shutting down");
        assert_strings_equal(out, std::string("\x88\x16\x03\xe9", 4) + "server shutting down");
        std::vector<Event> events = decode(mask_server_frame(out));
        fail_unless(events.size() == 1 && events[0].kind == Kind::Close && events[0].code == 1001 &&
                        events[0].reason == "server shutting down",
                    "got %s", describe(events).c_str());
    }
}
GST_END_TEST;

GST_START_TEST(test_binary_frames)
{
    const std::string bytes("\xff\xfe\x00\x80\xc3\x28", 6);
    check_single(decode(client_frame(Opcode::Binary, bytes)), Kind::Binary, bytes);
    check_single(decode(client_frame(Opcode::Binary, bytes), 1), Kind::Binary, bytes);
    check_single(decode(client_frame(Opcode::Binary, "")), Kind::Binary, "");
    // Control payloads are bytes too.
    check_single(decode(client_frame(Opcode::Ping, bytes)), Kind::Ping, bytes);
    check_single(decode(client_frame(Opcode::Pong, bytes)), Kind::Pong, bytes);
    // 125 bytes is the largest control payload.
    check_single(decode(client_frame(Opcode::Ping, pattern(125))), Kind::Ping, pattern(125));
}
GST_END_TEST;

GST_START_TEST(test_append_close_truncates_on_character)
{
    std::string reason;
    for (int i = 0; i < 100; ++i)
        reason += "\xc3\xa9"; // é: 200 bytes
    std::string out;
    append_close(out, kClosePolicyViolation, reason);
    // 123 bytes would cut the 62nd é in half: 61 of them, 122 bytes, remain.
    fail_unless(byte(out, 0) == 0x88, "first byte 0x%02x", byte(out, 0));
    const size_t payload = byte(out, 1);
    fail_unless(payload <= 125 && payload == 2 + 122, "close payload is %zu bytes, expected 124", payload);
    ck_assert(out.size() == 2 + payload && out.size() == frame_size(payload));
    fail_unless(byte(out, 2) == 0x03 && byte(out, 3) == 0xF0, "code bytes %02x %02x", byte(out, 2), byte(out, 3));
    const std::string kept = out.substr(4);
    ck_assert(kept.size() <= 123);
    fail_unless(g_utf8_validate(kept.data(), static_cast<gssize>(kept.size()), nullptr), "reason cut mid-character");
    assert_strings_equal(kept, reason.substr(0, 122));

    std::vector<Event> events = decode(mask_server_frame(out));
    fail_unless(events.size() == 1 && events[0].kind == Kind::Close && events[0].code == kClosePolicyViolation &&
                    events[0].reason == reason.substr(0, 122),
                "got %s", describe(events).c_str());

    // With one ASCII byte in front, the 123rd byte ends an é: nothing more is cut.
    std::string odd;
    append_close(odd, kCloseNormal, "x" + reason);
    fail_unless(byte(odd, 1) == 125, "close payload is %u bytes, expected 125", byte(odd, 1));
    assert_strings_equal(odd.substr(4), "x" + reason.substr(0, 122));

    // A three-byte character (€) across the limit.
    std::string euros;
    for (int i = 0; i < 50; ++i)
        euros += "\xe2\x82\xac";
    std::string e;
    append_close(e, kCloseNormal, euros);
    fail_unless(byte(e, 1) == 2 + 123, "close payload is %u bytes, expected 125", byte(e, 1));
    std::string e2;
    append_close(e2, kCloseNormal, "ab" + euros); // 2 + 3 * 40 = 122, the 41st € would end at 125
    fail_unless(byte(e2, 1) == 2 + 122, "close payload is %u bytes, expected 124", byte(e2, 1));
    assert_strings_equal(e2.substr(4), "ab" + euros.substr(0, 120));

    // A reason that fits is kept whole, one of 123 bytes too.
    std::string exact;
    append_close(exact, kCloseNormal, pattern(123));
    ck_assert(byte(exact, 1) == 125);
    assert_strings_equal(exact.substr(4), pattern(123));
    std::string empty;
    append_close(empty, kCloseNormal, "");
    assert_strings_equal(empty, std::string("\x88\x02\x03\xe8", 4));
}
GST_END_TEST;

GST_START_TEST(test_random_round_trip)
{
    std::mt19937 random(1);
    auto uniform = [&random](size_t low, size_t high) {
        return std::uniform_int_distribution<size_t>(low, high)(random);
    };
    static const char* const kPieces[] = {"a", "Z", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x8e\xa5", "{", "\""};

    struct Message {
        Kind kind;
        std::string payload;
    };
    std::vector<Message> sent;
    std::string stream;
    for (int m = 0; m < 80; ++m) {
        // Sizes over the whole range, with the small and the boundary ones
        // more often than a uniform draw would give.
        size_t size;
        switch (uniform(0, 3)) {
        case 0:
            size = uniform(0, 130);
            break;
        case 1:
            size = uniform(65530, 65540);
            break;
        default:
            size = uniform(0, 100000);
            break;
        }
        Message message;
        if (uniform(0, 1) == 0) {
            message.kind = Kind::Text;
            while (message.payload.size() < size) {
                const char* piece = kPieces[uniform(0, 7)];
                if (message.payload.size() + std::strlen(piece) > size)
                    piece = "a";
                message.payload += piece;
            }
        } else {
            message.kind = Kind::Binary;
            message.payload.resize(size);
            for (char& c : message.payload)
                c = static_cast<char>(uniform(0, 255));
        }
        ck_assert(message.payload.size() == size);

        // One frame, or fragments (of any size, cutting characters too)
        // with control frames between them.
        const Opcode opcode = message.kind == Kind::Text ? Opcode::Text : Opcode::Binary;
        const size_t fragments = uniform(0, 2) == 0 ? uniform(2, 5) : 1;
        size_t at = 0;
        for (size_t f = 0; f < fragments; ++f) {
            const bool last = f + 1 == fragments;
            const size_t length = last ? size - at : uniform(0, size - at);
            const std::string_view piece = std::string_view(message.payload).substr(at, length);
            stream += client_frame(f == 0 ? opcode : Opcode::Continuation, piece, last,
                                   static_cast<uint32_t>(random()));
            at += length;
            if (!last && uniform(0, 1) == 0) {
                const std::string ping = "ping " + std::to_string(m) + "/" + std::to_string(f);
                stream += client_frame(Opcode::Ping, ping, true, static_cast<uint32_t>(random()));
                sent.push_back(Message {Kind::Ping, ping});
            }
        }
        sent.push_back(std::move(message));
    }
    stream += client_frame(Opcode::Close, std::string("\x03\xe8", 2) + "done", true, static_cast<uint32_t>(random()));
    sent.push_back(Message {Kind::Close, "done"});

    // The stream in random chunks: single bytes, a few bytes, whole frames.
    FrameDecoder decoder(100000);
    std::vector<Event> received;
    size_t feeds = 0;
    for (size_t at = 0; at < stream.size(); ++feeds) {
        size_t chunk;
        switch (uniform(0, 3)) {
        case 0:
            chunk = 1;
            break;
        case 1:
            chunk = uniform(1, 16);
            break;
        case 2:
            chunk = uniform(1, 4096);
            break;
        default:
            chunk = uniform(1, 150000);
            break;
        }
        if (chunk > stream.size() - at)
            chunk = stream.size() - at;
        std::vector<Event> events = feed(decoder, std::string_view(stream).substr(at, chunk));
        received.insert(received.end(), events.begin(), events.end());
        at += chunk;
    }
    fail_unless(feeds > 100, "only %zu feeds", feeds);
    fail_unless(decoder.done(), "decoder not done after the close frame");
    fail_unless(received.size() == sent.size(), "%zu events for %zu messages", received.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        const Event& e = received[i];
        const std::string& wanted = sent[i].kind == Kind::Close ? e.reason : e.payload;
        fail_unless(e.kind == sent[i].kind && wanted == sent[i].payload,
                    "message %zu: expected %s of %zu bytes, got %s of %zu bytes \"%s\"", i, kind_name(sent[i].kind),
                    sent[i].payload.size(), kind_name(e.kind), wanted.size(), printable(wanted).c_str());
    }
    ck_assert(received.back().code == kCloseNormal);
}
GST_END_TEST;

GST_START_TEST(test_views_valid_until_next_feed)
{
    // ws-frame.h: the views "stay valid until the next call to feed()", so
    // they are read here only after feed() has returned.
    std::vector<FrameEvent> events;
    auto keep = [&events](const FrameEvent& e) { events.push_back(e); };
    FrameDecoder decoder(kMaxMessage);

    // A large frame and the start of the next one: over 64 KiB consumed,
    // with bytes left in the buffer.
    const std::string next = client_frame(Opcode::Text, pattern(100));
    const std::string first = client_frame(Opcode::Binary, pattern(70000)) + client_frame(Opcode::Ping, "ping") +
                              next.substr(0, 60);
    decoder.feed(first.data(), first.size(), keep);
    fail_unless(events.size() == 2, "%zu events", events.size());
    assert_strings_equal(std::string(events[0].payload), pattern(70000));
    assert_strings_equal(std::string(events[1].payload), "ping");

    // The rest of that frame: everything in the buffer consumed.
    events.clear();
    decoder.feed(next.data() + 60, next.size() - 60, keep);
    fail_unless(events.size() == 1 && events[0].kind == Kind::Text, "%zu events", events.size());
    assert_strings_equal(std::string(events[0].payload), pattern(100));

    // A fragmented message, then a close with a reason.
    events.clear();
    const std::string last = client_frame(Opcode::Text, pattern(70000).substr(0, 40000), false) +
                             client_frame(Opcode::Continuation, pattern(70000).substr(40000)) +
                             client_frame(Opcode::Close, std::string("\x03\xe8", 2) + "over") +
                             client_frame(Opcode::Text, "ignored");
    decoder.feed(last.data(), last.size(), keep);
    fail_unless(events.size() == 2 && events[0].kind == Kind::Text && events[1].kind == Kind::Close, "%zu events",
                events.size());
    assert_strings_equal(std::string(events[0].payload), pattern(70000));
    assert_strings_equal(std::string(events[1].reason), "over");
    ck_assert(events[1].code == kCloseNormal);
}
GST_END_TEST;

static Suite* ws_frame_suite()
{
    Suite* s = suite_create("ws-frame");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_masked_text_frame);
    tcase_add_test(tc, test_two_frames_in_one_feed);
    tcase_add_test(tc, test_append_frame_lengths);
    tcase_add_test(tc, test_decode_extended_lengths);
    tcase_add_test(tc, test_fragmented_message_with_ping);
    tcase_add_test(tc, test_errors_stop_the_decoder);
    tcase_add_test(tc, test_too_big_from_header_alone);
    tcase_add_test(tc, test_close_frames);
    tcase_add_test(tc, test_binary_frames);
    tcase_add_test(tc, test_append_close_truncates_on_character);
    tcase_add_test(tc, test_random_round_trip);
    tcase_add_test(tc, test_views_valid_until_next_feed);
    return s;
}

GST_CHECK_MAIN(ws_frame);
