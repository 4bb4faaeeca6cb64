// A send-side bandwidth estimate for one consumer, from transport-wide
// congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
// extensions-01): for every packet we sent, when the peer received it, or
// that it never did. No GStreamer in here: feedback in, a bitrate out, so it
// can be tested on recorded feedback (tests/congestion-controller-test.cpp).
//
// Two signals, as in Google Congestion Control, simplified:
//
// - Delay. The one-way delay of a packet (arrival minus send time, on two
//   unsynchronised clocks) is a constant plus the time it waited in queues.
//   The smallest delay of the last kBaseWindowUs is taken as "no queue";
//   the queueing delay is the rest, smoothed over the smallest delay of
//   each report (jitter only ever adds). Above kOveruseQueueUs the path is
//   overused: the estimate drops to 85 % of what actually arrived (over
//   the last 200 ms or half second, the lower), which drains the queue; no further change follows
//   for a round trip (at least half a second) and while the queue drains
//   (at most 1.5 s: a queue that stays is a rate still too high).
// - Loss. Over the last second, above 10 % the estimate drops by half the
//   loss; between 2 % and 10 % it holds; below 2 % it may grow. Random
//   loss with no queue (a lossy radio link) keeps the estimate where it is
//   rather than starving the link.
//
// With no queue and little loss the estimate grows by 15 % a second, 8 % a
// second within 10 % of the rate of the last drop (where the link gave out),
// never beyond kMaxAboveAcked times what arrives (it cannot know beyond
// what it sent), and always within [min, max].
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace signalbin {

struct PacketFeedback {
    int64_t send_us = 0;                // our clock
    std::optional<int64_t> arrival_us;  // the peer's clock; none: lost
    uint32_t size = 0;                  // bytes
};

class CongestionController {
public:
    static constexpr int64_t kOveruseQueueUs = 50000;
    static constexpr int64_t kBaseWindowUs = 10 * 1000000;
    static constexpr double kMaxAboveAcked = 3.0;

    struct Settings {
        uint64_t min_bps = 100000;
        uint64_t start_bps = 2048000;
        uint64_t max_bps = 8000000;
    };

    enum class State { Increase, Hold, Decrease };

    explicit CongestionController(Settings settings);

    // One feedback report, in send order, received at `now_us` (our clock).
    void on_feedback(int64_t now_us, const std::vector<PacketFeedback>& packets);
    // The latest round trip, from RTCP (µs); waits after a drop use it.
    void set_round_trip(int64_t rtt_us) { rtt_us_ = rtt_us; }

    uint64_t estimate_bps() const { return estimate_bps_; }
    uint64_t acked_bps() const { return acked_bps_; }
    int64_t queue_delay_us() const { return queue_us_; }
    // The path queues our packets (more than half the overuse threshold).
    bool congested() const { return queue_us_ > kOveruseQueueUs / 2; }
    double loss() const { return loss_; }
    State state() const { return state_; }
    uint64_t reports() const { return reports_; }

private:
    void update_acked(int64_t now_us, const std::vector<PacketFeedback>& packets);
    void update_delay(int64_t now_us, const std::vector<PacketFeedback>& packets);
    void update_loss(int64_t now_us, const std::vector<PacketFeedback>& packets);
    void decide(int64_t now_us);
    void clamp();

    Settings settings_;
    uint64_t estimate_bps_;
    uint64_t acked_bps_ = 0;        // what arrived over the last half second
    uint64_t recent_acked_bps_ = 0; // over the last 200 ms
    int64_t queue_us_ = 0;
    double loss_ = 0;
    State state_ = State::Increase;
    uint64_t reports_ = 0;
    int64_t rtt_us_ = 100000;
    int64_t last_update_us_ = 0;
    int64_t last_decrease_us_ = 0;
    int64_t queue_at_decrease_us_ = 0;
    uint64_t last_decrease_bps_ = 0; // the rate the link gave out at last

    struct Arrival {
        int64_t arrival_us;
        uint32_t size;
    };
    std::deque<Arrival> arrivals_; // the last half second, by arrival

    struct DelaySample {
        int64_t at_us;
        int64_t delay_us;
    };
    std::deque<DelaySample> base_; // increasing delays: a sliding minimum

    struct LossSample {
        int64_t at_us;
        uint32_t sent;
        uint32_t lost;
    };
    std::deque<LossSample> losses_; // the last second
};

} // namespace signalbin
