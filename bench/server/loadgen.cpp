// signalbin-server-loadgen: the load generator of the signalling-server
// benchmark (bench/server/run.py). It speaks the signalbin protocol
// (docs/protocol.md) over many WebSocket connections at once, on one thread
// with epoll and non-blocking sockets, against any server of the protocol on
// 127.0.0.1, and prints one JSON object of raw numbers on stdout (progress and
// problems on stderr).
//
// One run, every phase bounded in time:
//  1. Held peers. `--listeners` peers register as ["listener"]; then the rest
//     register as ["producer"] up to each of `--levels` (total connections).
//     A level is reached when every connection got `welcome` and every
//     listener heard every producer's `peerStatusChanged` (so every
//     registration has been processed). At each level it reads the server's
//     VmRSS/VmHWM and CPU time from /proc/<--server-pid>.
//  2. Sessions. `--pairs` more producers register; as many consumers (roles
//     [], like an element) connect and `startSession` with one each; a pair
//     is ready when the consumer got `sessionStarted` and the producer got
//     `startSession`. The held peers stay connected, idle.
//  3. Throughput. Both members of every pair send `peer` ICE messages to the
//     other, each keeping at most `--window` sent but not yet delivered, for
//     `--warmup` + `--duration` seconds; deliveries during the last
//     `--duration` seconds are counted. Each candidate string carries its send
//     time (CLOCK_MONOTONIC ns), so the receiving side measures the relay
//     latency (both sides are in this process). "sent" and "delivered" count
//     the measured seconds only.
//  4. Fixed rate. The same senders, round-robin, at `--rate` messages a second
//     in total, for `--warmup` + `--rate-duration` seconds: latency where
//     queueing is not the point. A sender whose window is full skips its turn
//     ("window_full": the server is not keeping up with the rate).
//
// The WebSocket client is the minimum the benchmark needs: HTTP/1.1 upgrade
// (one fixed Sec-WebSocket-Key, whose accept value is checked), masked text
// frames out, unmasked frames in (fragments reassembled; pings answered).
// JSON is written with snprintf and read by looking up the few fields used
// ("type", "peerId", "sessionId", "roles", the candidate's "ts="): enough for
// the servers' own output, not a JSON parser.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr size_t kMaxFrame = 4 * 1024 * 1024;
constexpr size_t kMaxHandshake = 16 * 1024;
// RFC 6455's example key and the accept value a server must answer it with.
constexpr const char* kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr const char* kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

int64_t now_ns()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double cpu_seconds_self()
{
    timespec ts {};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
void note(const char* format, ...)
{
    va_list args;
    va_start(args, format);
    std::fputs("loadgen: ", stderr);
    std::vfprintf(stderr, format, args);
    std::fputc('\n', stderr);
    va_end(args);
}

// ---- The server process, from /proc ----------------------------------------

struct ProcSample {
    long rss_kb = -1;
    long hwm_kb = -1;
    double cpu_s = -1; // user + system
};

ProcSample sample_process(int pid)
{
    ProcSample s;
    if (pid <= 0)
        return s;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0)
            s.rss_kb = std::strtol(line.c_str() + 6, nullptr, 10);
        else if (line.rfind("VmHWM:", 0) == 0)
            s.hwm_kb = std::strtol(line.c_str() + 6, nullptr, 10);
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');
    if (paren != std::string::npos) {
        // After "pid (comm)" come the fields from 3 (state); utime and stime
        // are fields 14 and 15.
        std::istringstream rest(text.substr(paren + 1));
        std::string field;
        long long utime = -1, stime = -1;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
            if (i == 14)
                utime = std::atoll(field.c_str());
            else if (i == 15)
                stime = std::atoll(field.c_str());
        }
        if (utime >= 0 && stime >= 0)
            s.cpu_s = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
    }
    return s;
}

// ---- Minimal JSON reading --------------------------------------------------

size_t skip_space(std::string_view s, size_t i)
{
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        ++i;
    return i;
}

// The raw (unescaped) value of the first string member `key` in `json`, or
// empty. Good for the ids, types and fixed strings the servers send.
std::string_view string_field(std::string_view json, std::string_view key)
{
    std::string quoted = "\"" + std::string(key) + "\"";
    for (size_t at = json.find(quoted); at != std::string_view::npos; at = json.find(quoted, at + 1)) {
        size_t i = skip_space(json, at + quoted.size());
        if (i >= json.size() || json[i] != ':')
            continue;
        i = skip_space(json, i + 1);
        if (i >= json.size() || json[i] != '"')
            return {};
        size_t start = i + 1;
        for (size_t j = start; j < json.size(); ++j) {
            if (json[j] == '\\')
                ++j;
            else if (json[j] == '"')
                return json.substr(start, j - start);
        }
        return {};
    }
    return {};
}

// Whether the "roles" array of `json` names `role`.
bool roles_include(std::string_view json, std::string_view role)
{
    size_t at = json.find("\"roles\"");
    if (at == std::string_view::npos)
        return false;
    size_t open = json.find('[', at);
    size_t close = json.find(']', at);
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return false;
    std::string quoted = "\"" + std::string(role) + "\"";
    return json.substr(open, close - open).find(quoted) != std::string_view::npos;
}

// The send time stamped into a candidate string ("ts=<ns>"), or -1.
int64_t stamp_of(std::string_view json)
{
    size_t at = json.find("ts=");
    if (at == std::string_view::npos)
        return -1;
    int64_t v = 0;
    size_t i = at + 3;
    size_t start = i;
    while (i < json.size() && json[i] >= '0' && json[i] <= '9')
        v = v * 10 + (json[i++] - '0');
    return i > start ? v : -1;
}

// ---- Options ---------------------------------------------------------------

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    int server_pid = 0;
    std::vector<int> levels {1000};
    int listeners = 10;
    int pairs = 8;
    int window = 32;
    double warmup = 0.5;
    double duration = 2.0;
    double rate = 2000;
    double rate_duration = 2.0;
    int connect_parallel = 64;
    double phase_timeout = 60;
    double settle = 0.2; // idle time before reading the server's memory
};

[[noreturn]] void usage(const char* problem)
{
    if (problem)
        std::fprintf(stderr, "signalbin-server-loadgen: %s\n\n", problem);
    std::fputs("usage: signalbin-server-loadgen --port PORT [--host 127.0.0.1] [--server-pid PID]\n"
               "         [--levels 1000,5000,10000] [--listeners 10] [--pairs 8] [--window 32]\n"
               "         [--warmup 0.5] [--duration 2] [--rate 2000] [--rate-duration 2]\n"
               "         [--connect-parallel 64] [--phase-timeout 60] [--settle 0.2]\n"
               "Prints one JSON object of results on stdout; see the comment at the top of loadgen.cpp.\n",
               stderr);
    std::exit(2);
}

Options parse_options(int argc, char** argv)
{
    Options o;
    auto number = [&](int& i) -> double {
        if (i + 1 >= argc)
            usage((std::string(argv[i]) + " needs a value").c_str());
        char* end = nullptr;
        double v = std::strtod(argv[++i], &end);
        if (!end || *end || !std::isfinite(v))
            usage((std::string(argv[i - 1]) + ": not a number: " + argv[i]).c_str());
        return v;
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--host" && i + 1 < argc)
            o.host = argv[++i];
        else if (a == "--port")
            o.port = int(number(i));
        else if (a == "--server-pid")
            o.server_pid = int(number(i));
        else if (a == "--levels" && i + 1 < argc) {
            o.levels.clear();
            std::stringstream list(argv[++i]);
            std::string item;
            while (std::getline(list, item, ','))
                o.levels.push_back(std::atoi(item.c_str()));
        } else if (a == "--listeners")
            o.listeners = int(number(i));
        else if (a == "--pairs")
            o.pairs = int(number(i));
        else if (a == "--window")
            o.window = int(number(i));
        else if (a == "--warmup")
            o.warmup = number(i);
        else if (a == "--duration")
            o.duration = number(i);
        else if (a == "--rate")
            o.rate = number(i);
        else if (a == "--rate-duration")
            o.rate_duration = number(i);
        else if (a == "--connect-parallel")
            o.connect_parallel = int(number(i));
        else if (a == "--phase-timeout")
            o.phase_timeout = number(i);
        else if (a == "--settle")
            o.settle = number(i);
        else if (a == "--help" || a == "-h")
            usage(nullptr);
        else
            usage(("unknown or incomplete option " + a).c_str());
    }
    if (o.port <= 0 || o.port > 65535)
        usage("--port must be 1-65535");
    if (o.levels.empty() || o.listeners < 1 || o.pairs < 1 || o.window < 1 || o.connect_parallel < 1)
        usage("--levels, --listeners, --pairs, --window and --connect-parallel must be positive");
    int previous = o.listeners;
    for (int level : o.levels) {
        if (level <= previous)
            usage("--levels must increase, and the first must exceed --listeners");
        previous = level;
    }
    if (o.duration <= 0 || o.rate <= 0 || o.rate_duration <= 0 || o.warmup < 0 || o.phase_timeout <= 0)
        usage("--duration, --rate, --rate-duration and --phase-timeout must be positive");
    return o;
}

// ---- Latency statistics ----------------------------------------------------

struct LatencyStats {
    size_t n = 0;
    double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
};

LatencyStats summarise(std::vector<int64_t>& samples)
{
    LatencyStats s;
    s.n = samples.size();
    if (samples.empty())
        return s;
    std::sort(samples.begin(), samples.end());
    auto at = [&](double q) {
        size_t rank = size_t(std::ceil(q * double(samples.size())));
        return double(samples[std::min(samples.size() - 1, rank > 0 ? rank - 1 : 0)]) / 1e3;
    };
    s.p50_us = at(0.50);
    s.p90_us = at(0.90);
    s.p99_us = at(0.99);
    s.max_us = double(samples.back()) / 1e3;
    double total = 0;
    for (int64_t v : samples)
        total += double(v);
    s.mean_us = total / double(samples.size()) / 1e3;
    return s;
}

// ---- Connections -----------------------------------------------------------

enum class Kind { Listener, Producer, PairProducer, PairConsumer };
enum class State { Connecting, Upgrading, Open, Closed };

struct Conn {
    int fd = -1;
    Kind kind = Kind::Producer;
    State state = State::Connecting;
    std::string in; // received, not yet parsed (usually a partial frame, or nothing)
    std::string out;
    size_t out_sent = 0;
    bool dirty = false;
    std::string fragment; // a message arriving in several frames
    bool fragmented = false;

    std::string peer_id;   // from welcome
    bool welcomed = false;
    bool registered = false;  // listeners: heard their own announcement
    long producers_heard = 0; // listeners: producer announcements
    int partner = -1;         // pairs: the other member's index
    std::string session_id;
    bool in_session = false;
    long in_flight = 0; // peer messages sent, not yet delivered to the partner
    uint64_t seq = 0;
};

struct LevelResult {
    int peers;
    double ramp_s;
    ProcSample sample;
};

struct SendResult {
    bool ran = false;
    double seconds = 0;
    uint64_t sent = 0;
    uint64_t delivered = 0;
    uint64_t window_full = 0;
    LatencyStats latency;
    double server_cpu_s = -1;
    double loadgen_cpu_s = 0;
};

struct PhaseCounts {
    uint64_t delivered = 0;
    std::vector<int64_t> latencies_ns;
};

class LoadGen {
public:
    explicit LoadGen(Options options) : o_(std::move(options)) {}

    int run();

private:
    // -- sockets --
    bool open_connection(Kind kind);
    void handle_event(uint32_t index, uint32_t events);
    void on_connected(Conn& c);
    void read_from(Conn& c);
    bool parse_handshake(Conn& c);
    void parse_frames(Conn& c);
    void on_frame(Conn& c, bool fin, int opcode, const char* data, size_t len);
    void on_text(Conn& c, std::string_view text);
    void send_frame(Conn& c, int opcode, const char* data, size_t len);
    void send_text(Conn& c, const char* text, size_t len) { send_frame(c, 0x1, text, len); }
    void flush(Conn& c);
    void flush_dirty();
    void fail(Conn& c, const std::string& why);
    // Waits up to `timeout_ms` for events and handles them.
    void poll_once(int timeout_ms);

    // -- protocol --
    void on_welcome(Conn& c);
    void send_peer_message(Conn& c);

    // -- phases --
    bool wait_until(const char* what, double seconds, const std::function<bool()>& done,
                    const std::function<void()>& each = {});
    bool hold_phase();
    bool session_phase();
    bool throughput_phase();
    bool drain_phase();
    bool fixed_rate_phase();
    void print_results(bool ok);

    Options o_;
    int epoll_ = -1;
    sockaddr_in address_ {};
    std::vector<Conn> conns_;
    std::vector<uint32_t> dirty_;  // output queued, not yet written
    std::vector<uint32_t> reread_; // reads cut short with input left
    std::vector<char> scratch_ = std::vector<char>(65536); // one read's worth, shared
    uint32_t mask_state_ = 0x9e3779b9u;

    size_t pending_ = 0; // connections not yet welcomed
    long producers_created_ = 0;
    std::vector<int> listeners_;
    std::vector<int> senders_;

    // measurement window for the current sending phase
    PhaseCounts* counting_ = nullptr;
    int64_t count_from_ns_ = 0, count_until_ns_ = 0;

    std::string problem_;
    uint64_t errors_ = 0;
    std::string first_error_;
    uint64_t unexpected_ = 0;
    size_t message_bytes_ = 0;

    // results
    ProcSample start_sample_;
    std::vector<LevelResult> levels_;
    ProcSample sessions_sample_;
    double sessions_s_ = 0;
    SendResult throughput_, fixed_;
};

bool LoadGen::open_connection(Kind kind)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        problem_ = std::string("socket(): ") + std::strerror(errno);
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address_), sizeof address_) != 0 && errno != EINPROGRESS) {
        problem_ = std::string("connect(): ") + std::strerror(errno);
        ::close(fd);
        return false;
    }
    Conn c;
    c.fd = fd;
    c.kind = kind;
    conns_.push_back(std::move(c));
    epoll_event ev {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = uint32_t(conns_.size() - 1);
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        problem_ = std::string("epoll_ctl(): ") + std::strerror(errno);
        return false;
    }
    ++pending_;
    if (kind == Kind::Producer || kind == Kind::PairProducer)
        ++producers_created_;
    if (kind == Kind::Listener)
        listeners_.push_back(int(conns_.size() - 1));
    return true;
}

void LoadGen::fail(Conn& c, const std::string& why)
{
    if (c.state == State::Closed)
        return;
    if (problem_.empty())
        problem_ = "connection " + std::to_string(&c - conns_.data()) + " (" + (c.peer_id.empty() ? "no id" : c.peer_id) +
                   "): " + why;
    c.state = State::Closed;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
}

void LoadGen::handle_event(uint32_t index, uint32_t events)
{
    Conn& c = conns_[index];
    if (c.state == State::Closed)
        return;
    if (c.state == State::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail(c, std::string("connect: ") + std::strerror(err));
            return;
        }
        on_connected(c);
    }
    if (events & EPOLLOUT)
        flush(c);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        read_from(c);
}

void LoadGen::on_connected(Conn& c)
{
    c.state = State::Upgrading;
    char request[512];
    int n = std::snprintf(request, sizeof request,
                          "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                          o_.host.c_str(), o_.port, kWsKey);
    c.out.append(request, size_t(n));
    flush(c);
}

void LoadGen::read_from(Conn& c)
{
    for (int rounds = 0; rounds < 64 && c.state != State::Closed; ++rounds) {
        ssize_t n = ::read(c.fd, scratch_.data(), scratch_.size());
        if (n > 0) {
            c.in.append(scratch_.data(), size_t(n));
            if (c.state == State::Upgrading && !parse_handshake(c))
                continue;
            if (c.state == State::Open)
                parse_frames(c);
            continue;
        }
        if (n == 0) {
            fail(c, "the server closed the connection");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            fail(c, std::string("read: ") + std::strerror(errno));
        return;
    }
    // Edge-triggered: more may be waiting; read again on the next round.
    if (c.state != State::Closed)
        reread_.push_back(uint32_t(&c - conns_.data()));
}

bool LoadGen::parse_handshake(Conn& c)
{
    std::string_view data(c.in);
    size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (c.in.size() > kMaxHandshake)
            fail(c, "handshake response too long");
        return false;
    }
    std::string_view head = data.substr(0, end);
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
        size_t eol = head.find("\r\n");
        fail(c, "handshake refused: " + std::string(head.substr(0, eol)));
        return false;
    }
    if (head.find(kWsAccept) == std::string_view::npos) {
        fail(c, "handshake: wrong or missing Sec-WebSocket-Accept");
        return false;
    }
    c.in.erase(0, end + 4);
    c.state = State::Open;
    return true;
}

void LoadGen::parse_frames(Conn& c)
{
    size_t pos = 0;
    while (c.state == State::Open) {
        size_t avail = c.in.size() - pos;
        if (avail < 2)
            break;
        auto* p = reinterpret_cast<unsigned char*>(&c.in[pos]);
        bool fin = p[0] & 0x80;
        int opcode = p[0] & 0x0f;
        bool masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7f;
        size_t header = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t(p[2]) << 8) | p[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; ++i)
                len = (len << 8) | p[2 + i];
            header = 10;
        }
        if (len > kMaxFrame) {
            fail(c, "frame larger than " + std::to_string(kMaxFrame) + " bytes");
            return;
        }
        size_t key_at = header;
        if (masked)
            header += 4;
        if (avail < header + len)
            break;
        if (masked) {
            for (size_t i = 0; i < len; ++i)
                p[header + i] ^= p[key_at + (i & 3)];
        }
        on_frame(c, fin, opcode, reinterpret_cast<const char*>(p + header), size_t(len));
        pos += header + size_t(len);
    }
    if (c.state == State::Closed)
        return;
    c.in.erase(0, pos);
}

void LoadGen::on_frame(Conn& c, bool fin, int opcode, const char* data, size_t len)
{
    switch (opcode) {
    case 0x0: // continuation
        if (!c.fragmented) {
            fail(c, "continuation frame without a first fragment");
            return;
        }
        c.fragment.append(data, len);
        if (fin) {
            c.fragmented = false;
            std::string whole;
            whole.swap(c.fragment);
            on_text(c, whole);
        }
        return;
    case 0x1:
    case 0x2:
        if (c.fragmented) {
            fail(c, "new message inside a fragmented one");
            return;
        }
        if (!fin) {
            c.fragmented = true;
            c.fragment.assign(data, len);
            return;
        }
        on_text(c, std::string_view(data, len));
        return;
    case 0x8: {
        std::string why = "the server sent a close frame";
        if (len >= 2)
            why += " (code " + std::to_string((unsigned(uint8_t(data[0])) << 8) | uint8_t(data[1])) +
                   (len > 2 ? ", \"" + std::string(data + 2, len - 2) + "\"" : std::string()) + ")";
        fail(c, why);
        return;
    }
    case 0x9:
        send_frame(c, 0xA, data, len);
        return;
    case 0xA:
        return;
    default:
        fail(c, "frame with unknown opcode " + std::to_string(opcode));
    }
}

void LoadGen::on_text(Conn& c, std::string_view text)
{
    std::string_view type = string_field(text, "type");
    if (type == "peer") {
        int64_t received = now_ns();
        if (c.partner >= 0)
            --conns_[size_t(c.partner)].in_flight;
        int64_t sent = stamp_of(text);
        if (counting_ && sent >= 0 && received >= count_from_ns_ && received < count_until_ns_) {
            ++counting_->delivered;
            counting_->latencies_ns.push_back(received - sent);
        }
    } else if (type == "peerStatusChanged") {
        if (c.kind != Kind::Listener)
            return;
        if (!c.registered && string_field(text, "peerId") == c.peer_id)
            c.registered = true;
        else if (roles_include(text, "producer"))
            ++c.producers_heard;
    } else if (type == "welcome") {
        c.peer_id = std::string(string_field(text, "peerId"));
        if (c.peer_id.empty() || c.welcomed) {
            fail(c, "bad welcome: " + std::string(text.substr(0, 200)));
            return;
        }
        c.welcomed = true;
        --pending_;
        on_welcome(c);
    } else if (type == "sessionStarted" || type == "startSession") {
        c.session_id = std::string(string_field(text, "sessionId"));
        std::string_view other = string_field(text, "peerId");
        if (c.partner < 0 || c.session_id.empty() || other != conns_[size_t(c.partner)].peer_id) {
            fail(c, "unexpected " + std::string(type) + ": " + std::string(text.substr(0, 200)));
            return;
        }
        c.in_session = true;
    } else if (type == "error") {
        if (errors_++ == 0)
            first_error_ = std::string(string_field(text, "details"));
    } else {
        ++unexpected_;
    }
}

void LoadGen::on_welcome(Conn& c)
{
    char text[256];
    int n = 0;
    switch (c.kind) {
    case Kind::Listener:
        n = std::snprintf(text, sizeof text, "{\"type\":\"setPeerStatus\",\"roles\":[\"listener\"],\"meta\":null}");
        break;
    case Kind::Producer:
    case Kind::PairProducer:
        n = std::snprintf(text, sizeof text,
                          "{\"type\":\"setPeerStatus\",\"roles\":[\"producer\"],\"meta\":{\"name\":\"bench-%zu\"}}",
                          size_t(&c - conns_.data()));
        break;
    case Kind::PairConsumer:
        // Roles [], like an element: no registration, straight to the session.
        n = std::snprintf(text, sizeof text, "{\"type\":\"startSession\",\"peerId\":\"%s\"}",
                          conns_[size_t(c.partner)].peer_id.c_str());
        break;
    }
    send_text(c, text, size_t(n));
}

void LoadGen::send_peer_message(Conn& c)
{
    char text[512];
    ++c.seq;
    int n = std::snprintf(text, sizeof text,
                          "{\"type\":\"peer\",\"sessionId\":\"%s\",\"ice\":{\"candidate\":\"candidate:3442447574 1 udp "
                          "2122260223 127.0.0.1 %u typ host generation 0 ufrag sgnb network-id 1 network-cost 10 "
                          "ts=%" PRId64 " seq=%" PRIu64 "\",\"sdpMLineIndex\":0,\"sdpMid\":\"0\"}}",
                          c.session_id.c_str(), 40000u + unsigned(c.seq % 20000), now_ns(), c.seq);
    message_bytes_ = size_t(n);
    ++c.in_flight;
    send_text(c, text, size_t(n));
}

void LoadGen::send_frame(Conn& c, int opcode, const char* data, size_t len)
{
    if (c.state == State::Closed)
        return;
    unsigned char header[14];
    size_t h = 0;
    header[h++] = uint8_t(0x80 | opcode);
    if (len < 126) {
        header[h++] = uint8_t(0x80 | len);
    } else if (len < 65536) {
        header[h++] = 0x80 | 126;
        header[h++] = uint8_t(len >> 8);
        header[h++] = uint8_t(len);
    } else {
        header[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; --i)
            header[h++] = uint8_t(uint64_t(len) >> (8 * i));
    }
    // xorshift32: masking keys need not be secret here, only present.
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 17;
    mask_state_ ^= mask_state_ << 5;
    unsigned char key[4];
    std::memcpy(key, &mask_state_, 4);
    std::memcpy(header + h, key, 4);
    h += 4;
    c.out.append(reinterpret_cast<const char*>(header), h);
    size_t at = c.out.size();
    c.out.append(data, len);
    for (size_t i = 0; i < len; ++i)
        c.out[at + i] = char(uint8_t(c.out[at + i]) ^ key[i & 3]);
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(uint32_t(&c - conns_.data()));
    }
}

void LoadGen::flush(Conn& c)
{
    while (c.state != State::Closed && c.state != State::Connecting && c.out_sent < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_sent += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            fail(c, std::string("send: ") + std::strerror(errno));
        return; // EAGAIN: EPOLLOUT will call again
    }
    if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
    }
}

void LoadGen::flush_dirty()
{
    std::vector<uint32_t> list;
    list.swap(reread_);
    for (uint32_t index : list)
        read_from(conns_[index]);
    list.clear();
    list.swap(dirty_);
    for (uint32_t index : list) {
        Conn& c = conns_[index];
        c.dirty = false;
        flush(c);
    }
}

void LoadGen::poll_once(int timeout_ms)
{
    flush_dirty();
    epoll_event events[512];
    int n = epoll_wait(epoll_, events, 512, reread_.empty() ? timeout_ms : 0);
    for (int i = 0; i < n; ++i)
        handle_event(events[i].data.u32, events[i].events);
    flush_dirty();
}

bool LoadGen::wait_until(const char* what, double seconds, const std::function<bool()>& done,
                         const std::function<void()>& each)
{
    int64_t deadline = now_ns() + int64_t(seconds * 1e9);
    while (problem_.empty()) {
        if (each)
            each();
        if (!problem_.empty())
            break;
        if (done())
            return true;
        if (now_ns() > deadline) {
            problem_ = std::string("timed out after ") + std::to_string(seconds) + " s: " + what;
            break;
        }
        poll_once(5);
    }
    return false;
}

// ---- Phases ----------------------------------------------------------------

bool LoadGen::hold_phase()
{
    auto open_up_to = [this](size_t total, Kind kind) {
        return [this, total, kind] {
            while (conns_.size() < total && pending_ < size_t(o_.connect_parallel) && problem_.empty())
                open_connection(kind);
        };
    };
    auto listeners_heard_all = [this] {
        for (int i : listeners_) {
            const Conn& l = conns_[size_t(i)];
            if (!l.registered || l.producers_heard < producers_created_)
                return false;
        }
        return true;
    };
    int64_t t0 = now_ns();
    if (!wait_until("listeners registering", o_.phase_timeout, [&] {
            return conns_.size() == size_t(o_.listeners) && pending_ == 0 && listeners_heard_all();
        }, open_up_to(size_t(o_.listeners), Kind::Listener)))
        return false;
    for (int level : o_.levels) {
        std::string what = "reaching " + std::to_string(level) + " registered peers";
        if (!wait_until(what.c_str(), o_.phase_timeout, [&] {
                return conns_.size() == size_t(level) && pending_ == 0 && listeners_heard_all();
            }, open_up_to(size_t(level), Kind::Producer)))
            return false;
        double ramp = double(now_ns() - t0) / 1e9;
        int64_t settle_until = now_ns() + int64_t(o_.settle * 1e9);
        wait_until("settling", o_.settle + 5, [&] { return now_ns() >= settle_until; });
        if (!problem_.empty())
            return false;
        levels_.push_back({level, ramp, sample_process(o_.server_pid)});
        note("%d peers held, server VmRSS %ld kB", level, levels_.back().sample.rss_kb);
    }
    return true;
}

bool LoadGen::session_phase()
{
    int64_t t0 = now_ns();
    size_t first = conns_.size();
    auto listeners_heard_all = [this] {
        for (int i : listeners_) {
            if (conns_[size_t(i)].producers_heard < producers_created_)
                return false;
        }
        return true;
    };
    for (int i = 0; i < o_.pairs; ++i)
        if (!open_connection(Kind::PairProducer))
            return false;
    if (!wait_until("session producers registering", o_.phase_timeout,
                    [&] { return pending_ == 0 && listeners_heard_all(); }))
        return false;
    for (int i = 0; i < o_.pairs; ++i) {
        if (!open_connection(Kind::PairConsumer))
            return false;
        size_t producer = first + size_t(i);
        size_t consumer = conns_.size() - 1;
        conns_[producer].partner = int(consumer);
        conns_[consumer].partner = int(producer);
        senders_.push_back(int(producer));
        senders_.push_back(int(consumer));
    }
    if (!wait_until("sessions starting", o_.phase_timeout, [&] {
            for (int s : senders_) {
                if (!conns_[size_t(s)].in_session)
                    return false;
            }
            return true;
        }))
        return false;
    sessions_s_ = double(now_ns() - t0) / 1e9;
    sessions_sample_ = sample_process(o_.server_pid);
    return true;
}

bool LoadGen::throughput_phase()
{
    PhaseCounts counts;
    counts.latencies_ns.reserve(1 << 20);
    int64_t start = now_ns();
    count_from_ns_ = start + int64_t(o_.warmup * 1e9);
    count_until_ns_ = count_from_ns_ + int64_t(o_.duration * 1e9);
    counting_ = &counts;
    uint64_t sent = 0;
    ProcSample server_before {};
    double self_before = 0;
    bool measuring = false;
    while (problem_.empty()) {
        int64_t now = now_ns();
        if (now >= count_until_ns_)
            break;
        if (!measuring && now >= count_from_ns_) {
            measuring = true;
            server_before = sample_process(o_.server_pid);
            self_before = cpu_seconds_self();
        }
        for (int s : senders_) {
            Conn& c = conns_[size_t(s)];
            while (c.in_flight < o_.window && c.state == State::Open) {
                send_peer_message(c);
                sent += measuring ? 1 : 0;
            }
        }
        poll_once(1);
    }
    counting_ = nullptr;
    if (!problem_.empty())
        return false;
    ProcSample server_after = sample_process(o_.server_pid);
    throughput_.ran = true;
    throughput_.seconds = o_.duration;
    throughput_.sent = sent;
    throughput_.delivered = counts.delivered;
    throughput_.latency = summarise(counts.latencies_ns);
    if (server_before.cpu_s >= 0 && server_after.cpu_s >= 0)
        throughput_.server_cpu_s = server_after.cpu_s - server_before.cpu_s;
    throughput_.loadgen_cpu_s = cpu_seconds_self() - self_before;
    return true;
}

bool LoadGen::drain_phase()
{
    return wait_until("the last messages arriving", 10, [&] {
        for (int s : senders_) {
            if (conns_[size_t(s)].in_flight > 0)
                return false;
        }
        return true;
    });
}

bool LoadGen::fixed_rate_phase()
{
    PhaseCounts counts;
    counts.latencies_ns.reserve(size_t(o_.rate * (o_.warmup + o_.rate_duration)) + 1024);
    int64_t start = now_ns();
    count_from_ns_ = start + int64_t(o_.warmup * 1e9);
    count_until_ns_ = count_from_ns_ + int64_t(o_.rate_duration * 1e9);
    counting_ = &counts;
    uint64_t due_total = 0, sent = 0, window_full = 0;
    size_t next = 0;
    ProcSample server_before {};
    double self_before = 0;
    bool measuring = false;
    while (problem_.empty()) {
        int64_t now = now_ns();
        if (now >= count_until_ns_)
            break;
        if (!measuring && now >= count_from_ns_) {
            measuring = true;
            server_before = sample_process(o_.server_pid);
            self_before = cpu_seconds_self();
        }
        uint64_t due = uint64_t(o_.rate * double(now - start) / 1e9);
        for (; due_total < due; ++due_total) {
            Conn& c = conns_[size_t(senders_[next])];
            next = (next + 1) % senders_.size();
            if (c.in_flight >= o_.window) {
                window_full += measuring ? 1 : 0;
                continue;
            }
            send_peer_message(c);
            sent += measuring ? 1 : 0;
        }
        poll_once(1);
    }
    counting_ = nullptr;
    if (!problem_.empty())
        return false;
    ProcSample server_after = sample_process(o_.server_pid);
    fixed_.ran = true;
    fixed_.seconds = o_.rate_duration;
    fixed_.sent = sent;
    fixed_.delivered = counts.delivered;
    fixed_.window_full = window_full;
    fixed_.latency = summarise(counts.latencies_ns);
    if (server_before.cpu_s >= 0 && server_after.cpu_s >= 0)
        fixed_.server_cpu_s = server_after.cpu_s - server_before.cpu_s;
    fixed_.loadgen_cpu_s = cpu_seconds_self() - self_before;
    return true;
}

// ---- Output ----------------------------------------------------------------

std::string json_string(const std::string& s)
{
    std::string out = "\"";
    for (char ch : s) {
        auto u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string sample_json(const ProcSample& s)
{
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"rss_kb\": %ld, \"hwm_kb\": %ld, \"cpu_s\": %.3f}", s.rss_kb, s.hwm_kb, s.cpu_s);
    return buf;
}

std::string send_json(const char* name, const SendResult& r)
{
    if (!r.ran)
        return std::string("\"") + name + "\": null";
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "\"%s\": {\"seconds\": %.3f, \"sent\": %" PRIu64 ", \"delivered\": %" PRIu64
                  ", \"delivered_per_s\": %.1f, \"window_full\": %" PRIu64
                  ", \"latency_us\": {\"n\": %zu, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f, "
                  "\"mean\": %.1f}, \"server_cpu_s\": %.3f, \"loadgen_cpu_s\": %.3f}",
                  name, r.seconds, r.sent, r.delivered, double(r.delivered) / r.seconds, r.window_full, r.latency.n,
                  r.latency.p50_us, r.latency.p90_us, r.latency.p99_us, r.latency.max_us, r.latency.mean_us,
                  r.server_cpu_s, r.loadgen_cpu_s);
    return buf;
}

void LoadGen::print_results(bool ok)
{
    std::string out = "{";
    out += std::string("\"ok\": ") + (ok ? "true" : "false");
    out += ", \"problem\": " + (problem_.empty() ? std::string("null") : json_string(problem_));
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  ", \"config\": {\"listeners\": %d, \"pairs\": %d, \"window\": %d, \"warmup_s\": %.3f, "
                  "\"duration_s\": %.3f, \"rate\": %.1f, \"rate_duration_s\": %.3f, \"connect_parallel\": %d}",
                  o_.listeners, o_.pairs, o_.window, o_.warmup, o_.duration, o_.rate, o_.rate_duration,
                  o_.connect_parallel);
    out += buf;
    out += ", \"message_bytes\": " + std::to_string(message_bytes_);
    out += ", \"server_start\": " + sample_json(start_sample_);
    out += ", \"levels\": [";
    for (size_t i = 0; i < levels_.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%s{\"peers\": %d, \"ramp_s\": %.3f, \"server\": %s}", i ? ", " : "",
                      levels_[i].peers, levels_[i].ramp_s, sample_json(levels_[i].sample).c_str());
        out += buf;
    }
    out += "]";
    std::snprintf(buf, sizeof buf, ", \"sessions\": {\"pairs\": %d, \"idle_peers\": %d, \"setup_s\": %.3f, \"server\": %s}",
                  o_.pairs, o_.levels.back(), sessions_s_, sample_json(sessions_sample_).c_str());
    out += buf;
    out += ", " + send_json("throughput", throughput_);
    out += ", " + send_json("fixed_rate", fixed_);
    out += ", \"errors\": " + std::to_string(errors_);
    out += ", \"first_error\": " + (first_error_.empty() ? std::string("null") : json_string(first_error_));
    out += ", \"unexpected_messages\": " + std::to_string(unexpected_);
    out += "}\n";
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
}

// Enough descriptors for every connection, or says why not.
bool raise_fd_limit(size_t needed, std::string& problem)
{
    rlimit limit {};
    getrlimit(RLIMIT_NOFILE, &limit);
    rlim_t want = std::max<rlim_t>(needed, 65536);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < want) {
        rlimit raised {want, want};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return true;
    }
    rlim_t soft = limit.rlim_max == RLIM_INFINITY ? want : std::min(limit.rlim_max, want);
    rlimit set {soft, limit.rlim_max};
    setrlimit(RLIMIT_NOFILE, &set);
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < needed) {
        problem = "needs " + std::to_string(needed) + " file descriptors but RLIMIT_NOFILE allows " +
                  std::to_string(limit.rlim_cur) + " (hard limit " + std::to_string(limit.rlim_max) + ")";
        return false;
    }
    return true;
}

int LoadGen::run()
{
    address_.sin_family = AF_INET;
    address_.sin_port = htons(uint16_t(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &address_.sin_addr) != 1) {
        problem_ = "--host must be an IPv4 address: " + o_.host;
        print_results(false);
        return 1;
    }
    size_t total = size_t(o_.levels.back()) + 2 * size_t(o_.pairs);
    if (!raise_fd_limit(total + 64, problem_)) {
        print_results(false);
        return 1;
    }
    conns_.reserve(total);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    start_sample_ = sample_process(o_.server_pid);
    bool ok = hold_phase() && session_phase() && throughput_phase() && drain_phase() && fixed_rate_phase() &&
              drain_phase();
    if (ok && errors_ > 0) {
        ok = false;
        problem_ = "the server answered " + std::to_string(errors_) + " message(s) with an error";
    }
    print_results(ok);
    for (Conn& c : conns_) {
        if (c.fd >= 0)
            ::close(c.fd);
    }
    ::close(epoll_);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    LoadGen loadgen(parse_options(argc, argv));
    return loadgen.run();
}
