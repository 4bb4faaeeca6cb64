// Unit tests of CongestionController, signalsink's bandwidth estimate:
// - on feedback recorded from a real run (tests/data/twcc-bottlenecks.trace:
//   signalsink -> signalsrc across two network namespaces, no impairment,
//   then a 1 Mbit/s bottleneck, none again, 500 kbit/s, 5 % loss; made
//   with bench/net/twcc-trace.py);
// - on a simulated link (a sender that sends what the estimate says into a
//   queue that drains at the link's rate), which closes the loop.
#include "congestion-controller.h"

// Before gstcheck.h, whose fail() macro breaks <ios>.
#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gst/check/gstcheck.h>

using signalbin::CongestionController;
using signalbin::PacketFeedback;

namespace {

struct Phase {
    std::string name;
    int64_t start_us, end_us;
};

struct Report {
    int64_t now_us;
    std::vector<PacketFeedback> packets;
};

struct Trace {
    std::vector<Phase> phases;
    std::vector<Report> reports;
};

Trace load_trace(const std::string& path)
{
    Trace trace;
    std::ifstream in(path);
    ck_assert_msg(in.good(), "cannot read %s", path.c_str());
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string first;
        words >> first;
        if (first == "phase") {
            Phase p;
            words >> p.name >> p.start_us >> p.end_us;
            trace.phases.push_back(p);
        } else if (first == "report") {
            Report r;
            words >> r.now_us;
            trace.reports.push_back(r);
        } else if (!first.empty() && !trace.reports.empty()) {
            PacketFeedback f;
            std::string arrival;
            f.send_us = std::stoll(first);
            words >> arrival >> f.size;
            if (arrival != "-")
                f.arrival_us = std::stoll(arrival);
            trace.reports.back().packets.push_back(f);
        }
    }
    return trace;
}

CongestionController::Settings settings()
{
    CongestionController::Settings s;
    s.min_bps = 100000;
    s.start_bps = 2276000; // signalsink's default: just above video-bitrate's 2048 kbit/s
    s.max_bps = 2276000;
    return s;
}

// The estimate after each report, by report time.
std::vector<std::pair<int64_t, uint64_t>> replay(const Trace& trace)
{
    CongestionController cc(settings());
    std::vector<std::pair<int64_t, uint64_t>> out;
    for (const Report& r : trace.reports) {
        cc.on_feedback(r.now_us, r.packets);
        out.emplace_back(r.now_us, cc.estimate_bps());
    }
    return out;
}

const Phase& phase(const Trace& trace, size_t index, const char* name)
{
    ck_assert_uint_gt(trace.phases.size(), index);
    ck_assert_str_eq(trace.phases[index].name.c_str(), name);
    return trace.phases[index];
}

// The estimates from `from_us` to `to_us`.
std::vector<uint64_t> between(const std::vector<std::pair<int64_t, uint64_t>>& e, int64_t from_us, int64_t to_us)
{
    std::vector<uint64_t> out;
    for (const auto& [t, v] : e) {
        if (t >= from_us && t < to_us)
            out.push_back(v);
    }
    return out;
}

std::string trace_path()
{
    return std::string(SIGNALBIN_TEST_DATA) + "/twcc-bottlenecks.trace";
}

} // namespace

// With no impairment the estimate never drops (the keyframes' bursts and
// the jitter of a real path are no congestion).
GST_START_TEST(test_recorded_clear_path_keeps_the_estimate)
{
    Trace trace = load_trace(trace_path());
    ck_assert_uint_gt(trace.reports.size(), 1000);
    auto e = replay(trace);
    const Phase& clear = phase(trace, 0, "none");
    std::vector<uint64_t> values = between(e, clear.start_us, clear.end_us);
    ck_assert_uint_gt(values.size(), 100);
    ck_assert_uint_ge(*std::min_element(values.begin(), values.end()), settings().start_bps);
}
GST_END_TEST;

// A bottleneck is seen within a second, and the estimate settles under it
// without collapsing.
GST_START_TEST(test_recorded_bottlenecks_are_found)
{
    Trace trace = load_trace(trace_path());
    auto e = replay(trace);
    struct Expect {
        size_t index;
        const char* name;
        uint64_t capacity_bps;
    };
    for (Expect x : {Expect {1, "1mbit", 1000000}, Expect {3, "500kbit", 500000}}) {
        const Phase& p = phase(trace, x.index, x.name);
        std::vector<uint64_t> first_second = between(e, p.start_us + 1000000, p.start_us + 1100000);
        ck_assert_msg(!first_second.empty() && first_second.front() < x.capacity_bps,
                      "%s: estimate %" G_GUINT64_FORMAT " after 1 s", x.name,
                      first_second.empty() ? 0 : first_second.front());
        std::vector<uint64_t> rest = between(e, p.start_us + 1000000, p.end_us);
        uint64_t low = *std::min_element(rest.begin(), rest.end());
        ck_assert_msg(low >= x.capacity_bps * 3 / 10, "%s: the estimate fell to %" G_GUINT64_FORMAT, x.name, low);
    }
}
GST_END_TEST;

// Random loss with no queue (a lossy radio link) does not starve the link.
GST_START_TEST(test_recorded_random_loss_holds)
{
    Trace trace = load_trace(trace_path());
    auto e = replay(trace);
    const Phase& loss = phase(trace, 4, "loss5");
    std::vector<uint64_t> values = between(e, loss.start_us, loss.end_us);
    ck_assert(!values.empty());
    ck_assert_uint_ge(*std::min_element(values.begin(), values.end()), values.front() * 9 / 10);
}
GST_END_TEST;

namespace {

// A sender that sends 30 frames a second at the estimate, in packets of up
// to 1200 bytes, across a link of `capacity_bps` with a queue of
// `queue_limit_us`, `loss` random loss and 20 ms each way; feedback every
// 50 ms for what arrived by then.
struct Link {
    uint64_t capacity_bps;
    int64_t queue_limit_us = 300000;
    double loss = 0;
};

struct SimResult {
    uint64_t final_bps;
    uint64_t min_bps_late;   // over the second half
    int64_t queue_median_us; // over the second half
};

SimResult simulate(Link link, int seconds, CongestionController::Settings s = settings())
{
    CongestionController cc(s);
    std::mt19937 random(7);
    std::uniform_real_distribution<double> uniform(0, 1);
    constexpr int64_t kOneWayUs = 20000;
    int64_t link_free_us = 0;
    struct InFlight {
        PacketFeedback f;
        int64_t seen_us; // when its feedback can reach the sender
    };
    std::vector<InFlight> flying;
    std::vector<int64_t> queues;
    uint64_t min_late = UINT64_MAX;
    int64_t end_us = static_cast<int64_t>(seconds) * 1000000;
    int64_t next_frame_us = 0, next_feedback_us = 50000;
    for (int64_t now = 0; now < end_us; now += 1000) {
        if (now >= next_frame_us) {
            next_frame_us += 33333;
            uint64_t bytes = cc.estimate_bps() / 8 / 30;
            while (bytes > 0) {
                uint32_t size = static_cast<uint32_t>(std::min<uint64_t>(bytes, 1200));
                bytes -= size;
                PacketFeedback f;
                f.send_us = now;
                f.size = size;
                int64_t start = std::max(now, link_free_us);
                int64_t done = start + static_cast<int64_t>(size) * 8 * 1000000 / static_cast<int64_t>(link.capacity_bps);
                bool dropped = start - now > link.queue_limit_us || uniform(random) < link.loss;
                if (start - now <= link.queue_limit_us)
                    link_free_us = done;
                if (!dropped)
                    f.arrival_us = done + kOneWayUs + 5000000; // the peer's clock is elsewhere
                if (now > end_us / 2)
                    queues.push_back(start - now);
                flying.push_back(InFlight {f, done + 2 * kOneWayUs});
            }
        }
        if (now >= next_feedback_us) {
            next_feedback_us += 50000;
            std::vector<PacketFeedback> report;
            auto it = flying.begin();
            while (it != flying.end() && it->seen_us <= now) {
                report.push_back(it->f);
                ++it;
            }
            flying.erase(flying.begin(), it);
            cc.on_feedback(now, report);
            if (now > end_us / 2)
                min_late = std::min(min_late, cc.estimate_bps());
        }
    }
    std::sort(queues.begin(), queues.end());
    return SimResult {cc.estimate_bps(), min_late, queues.empty() ? 0 : queues[queues.size() / 2]};
}

} // namespace

// Behind a bottleneck the estimate settles below the capacity and above
// half of it, and keeps no standing queue.
GST_START_TEST(test_simulated_bottleneck_converges)
{
    for (uint64_t capacity : {500000ull, 1000000ull, 1500000ull}) {
        SimResult r = simulate(Link {capacity}, 40);
        ck_assert_msg(r.min_bps_late >= capacity / 2 && r.final_bps <= capacity * 11 / 10,
                      "capacity %" G_GUINT64_FORMAT ": late minimum %" G_GUINT64_FORMAT ", final %" G_GUINT64_FORMAT,
                      capacity, r.min_bps_late, r.final_bps);
        ck_assert_msg(r.queue_median_us < 100000, "capacity %" G_GUINT64_FORMAT ": median queue %" G_GINT64_FORMAT " us",
                      capacity, r.queue_median_us);
    }
}
GST_END_TEST;

// A fast link: up to the maximum, never down.
GST_START_TEST(test_simulated_fast_link_reaches_the_maximum)
{
    CongestionController::Settings s = settings();
    s.start_bps = 300000;
    s.max_bps = 4000000;
    SimResult r = simulate(Link {50000000}, 50, s); // 15 % a second: there in 20 s
    ck_assert_uint_eq(r.final_bps, s.max_bps);
    ck_assert_uint_eq(r.min_bps_late, s.max_bps);
}
GST_END_TEST;

// 5 % random loss and no queue: the estimate holds.
GST_START_TEST(test_simulated_random_loss_holds)
{
    SimResult r = simulate(Link {50000000, 300000, 0.05}, 30);
    ck_assert_uint_ge(r.min_bps_late, settings().start_bps * 9 / 10);
}
GST_END_TEST;

// Never outside [min, max], whatever the feedback says.
GST_START_TEST(test_bounds)
{
    CongestionController::Settings s = settings();
    s.min_bps = 200000;
    CongestionController cc(s);
    // Everything lost, for a long time.
    int64_t now = 0;
    for (int i = 0; i < 200; ++i, now += 50000) {
        std::vector<PacketFeedback> lost(20);
        for (auto& p : lost)
            p.send_us = now, p.size = 1200;
        cc.on_feedback(now, lost);
        ck_assert_uint_ge(cc.estimate_bps(), s.min_bps);
    }
    ck_assert_uint_eq(cc.estimate_bps(), s.min_bps);
    // An empty report changes nothing.
    cc.on_feedback(now, {});
    ck_assert_uint_eq(cc.estimate_bps(), s.min_bps);
}
GST_END_TEST;

static Suite* congestion_suite()
{
    Suite* s = suite_create("congestion-controller");
    TCase* tc = tcase_create("general");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_recorded_clear_path_keeps_the_estimate);
    tcase_add_test(tc, test_recorded_bottlenecks_are_found);
    tcase_add_test(tc, test_recorded_random_loss_holds);
    tcase_add_test(tc, test_simulated_bottleneck_converges);
    tcase_add_test(tc, test_simulated_fast_link_reaches_the_maximum);
    tcase_add_test(tc, test_simulated_random_loss_holds);
    tcase_add_test(tc, test_bounds);
    suite_add_tcase(s, tc);
    return s;
}

GST_CHECK_MAIN(congestion);
