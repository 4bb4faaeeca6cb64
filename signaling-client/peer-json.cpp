#include "peer-json.h"

#include <glib.h>

#include <cstdint>

namespace signalbin::protocol {

namespace {

// A cursor over JSON text that gives up (returns false) at the first thing
// outside the plain shape; it never says why, the full parser will.
class Reader {
public:
    explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

    bool at_end()
    {
        skip_space();
        return p_ == end_;
    }

    bool consume(char c)
    {
        skip_space();
        if (p_ == end_ || *p_ != c)
            return false;
        ++p_;
        return true;
    }

    bool peek(char c)
    {
        skip_space();
        return p_ != end_ && *p_ == c;
    }

    // A string without NULs (json-glib's C strings would cut it there),
    // decoded into `out`.
    bool string(std::string& out)
    {
        if (!consume('"'))
            return false;
        out.clear();
        const char* run = p_;
        bool ascii = true;
        while (true) {
            if (p_ == end_)
                return false;
            unsigned char c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                out.append(run, p_);
                ++p_;
                // Only strings can hold bytes above 0x7f here; escapes
                // decode to valid UTF-8, so the result is checked once.
                return ascii || g_utf8_validate(out.data(), static_cast<gssize>(out.size()), nullptr);
            }
            if (c < 0x20)
                return false;
            if (c >= 0x80)
                ascii = false;
            if (c != '\\') {
                ++p_;
                continue;
            }
            out.append(run, p_);
            if (++p_ == end_)
                return false;
            switch (*p_++) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u':
                if (!unicode_escape(out))
                    return false;
                break;
            default:
                return false;
            }
            run = p_;
        }
    }

    // A whole number in plain notation (no sign, fraction or exponent).
    bool uint32(uint32_t& out)
    {
        skip_space();
        if (p_ == end_ || *p_ < '0' || *p_ > '9')
            return false;
        if (*p_ == '0' && p_ + 1 != end_ && p_[1] >= '0' && p_[1] <= '9')
            return false;
        uint64_t v = 0;
        while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
            v = v * 10 + static_cast<uint64_t>(*p_++ - '0');
            if (v > UINT32_MAX)
                return false;
        }
        if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E'))
            return false;
        out = static_cast<uint32_t>(v);
        return true;
    }

private:
    void skip_space()
    {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
            ++p_;
    }

    bool hex4(uint32_t& out)
    {
        if (end_ - p_ < 4)
            return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            int d = g_ascii_xdigit_value(*p_++);
            if (d < 0)
                return false;
            out = out << 4 | static_cast<uint32_t>(d);
        }
        return true;
    }

    bool unicode_escape(std::string& out)
    {
        uint32_t cp;
        if (!hex4(cp) || cp == 0)
            return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return false; // a low surrogate alone
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
                return false;
            p_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF)
                return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        char buf[6];
        out.append(buf, static_cast<size_t>(g_unichar_to_utf8(cp, buf)));
        return true;
    }

    const char* p_;
    const char* end_;
};

// Reads `{"key": value, ...}`, calling `member(key)` to read each value;
// a key seen twice gives up (json-glib would keep the last one).
template <typename F>
bool read_object(Reader& r, F&& member)
{
    if (!r.consume('{'))
        return false;
    if (r.consume('}'))
        return true;
    std::string key;
    do {
        if (!r.string(key) || !r.consume(':') || !member(key))
            return false;
    } while (r.consume(','));
    return r.consume('}');
}

void append_escaped(std::string& out, std::string_view s)
{
    static const char kHex[] = "0123456789abcdef";
    out.push_back('"');
    const char* run = s.data();
    const char* end = s.data() + s.size();
    for (const char* p = run; p != end; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(run, p);
        run = p + 1;
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    out.append(run, end);
    out.push_back('"');
}

} // namespace

std::optional<Peer> read_plain_peer(std::string_view text)
{
    // The type is usually first; anything else is the full parser's.
    Reader r(text);
    bool type = false, session = false, sdp = false, ice = false;
    Peer peer;
    std::string value;
    bool ok = read_object(r, [&](const std::string& key) {
        if (key == "type") {
            if (type || !r.string(value) || value != "peer")
                return false;
            return type = true;
        }
        if (key == "sessionId") {
            if (session || !r.string(peer.session_id))
                return false;
            return session = true;
        }
        if (key == "sdp") {
            if (sdp || ice)
                return false;
            Sdp s;
            bool has_type = false, has_sdp = false;
            if (!read_object(r, [&](const std::string& k) {
                    if (k == "type" && !has_type) {
                        if (!r.string(value))
                            return false;
                        if (value == "offer")
                            s.type = Sdp::Type::Offer;
                        else if (value == "answer")
                            s.type = Sdp::Type::Answer;
                        else
                            return false;
                        return has_type = true;
                    }
                    if (k == "sdp" && !has_sdp)
                        return has_sdp = r.string(s.sdp);
                    return false;
                }) ||
                !has_type || !has_sdp)
                return false;
            peer.payload = std::move(s);
            return sdp = true;
        }
        if (key == "ice") {
            if (sdp || ice)
                return false;
            Ice c;
            bool has_candidate = false, has_index = false, has_mid = false;
            if (!read_object(r, [&](const std::string& k) {
                    if (k == "candidate" && !has_candidate)
                        return has_candidate = r.string(c.candidate);
                    if (k == "sdpMLineIndex" && !has_index)
                        return has_index = r.uint32(c.sdp_mline_index);
                    if (k == "sdpMid" && !has_mid && r.peek('"')) {
                        c.sdp_mid.emplace();
                        return has_mid = r.string(*c.sdp_mid);
                    }
                    return false;
                }) ||
                !has_candidate || !has_index)
                return false;
            peer.payload = std::move(c);
            return ice = true;
        }
        return false;
    });
    if (!ok || !r.at_end() || !type || !session || !(sdp || ice))
        return std::nullopt;
    return peer;
}

std::string write_peer(const Peer& peer)
{
    std::string out;
    out.reserve(64 + peer.session_id.size() +
                (std::holds_alternative<Sdp>(peer.payload) ? std::get<Sdp>(peer.payload).sdp.size() * 11 / 10
                                                           : 160));
    out.append("{\"type\":\"peer\",\"sessionId\":");
    append_escaped(out, peer.session_id);
    if (auto* sdp = std::get_if<Sdp>(&peer.payload)) {
        out.append(",\"sdp\":{\"type\":");
        out.append(sdp->type == Sdp::Type::Offer ? "\"offer\"" : "\"answer\"");
        out.append(",\"sdp\":");
        append_escaped(out, sdp->sdp);
    } else {
        const Ice& ice = std::get<Ice>(peer.payload);
        out.append(",\"ice\":{\"candidate\":");
        append_escaped(out, ice.candidate);
        out.append(",\"sdpMLineIndex\":");
        out.append(std::to_string(ice.sdp_mline_index));
        if (ice.sdp_mid) {
            out.append(",\"sdpMid\":");
            append_escaped(out, *ice.sdp_mid);
        }
    }
    out.append("}}");
    return out;
}

} // namespace signalbin::protocol
