#include "congestion-controller.h"

#include <algorithm>

namespace signalbin {

namespace {

constexpr int64_t kAckedWindowUs = 500000;
constexpr int64_t kRecentWindowUs = 200000;
// What the feedback's sizes (RTP payloads) leave out: RTP header and
// extension, SRTP tag, UDP and IP headers.
constexpr uint64_t kPacketOverhead = 60;
constexpr int64_t kLossWindowUs = 1000000;
constexpr int64_t kSecondUs = 1000000;
constexpr double kDecreaseFactor = 0.85;
constexpr double kFastGrowth = 0.15; // a second
constexpr double kSlowGrowth = 0.08; // a second, near the last drop
constexpr int64_t kMinSettleUs = 500000;
constexpr int64_t kMaxDrainUs = 1500000;
constexpr double kHighLoss = 0.10;
constexpr double kLowLoss = 0.02;
constexpr uint32_t kMinLossSample = 20; // packets before loss counts

} // namespace

CongestionController::CongestionController(Settings settings) : settings_(settings), estimate_bps_(settings.start_bps)
{
    clamp();
}

void CongestionController::clamp()
{
    estimate_bps_ = std::clamp(estimate_bps_, settings_.min_bps, std::max(settings_.min_bps, settings_.max_bps));
}

void CongestionController::on_feedback(int64_t now_us, const std::vector<PacketFeedback>& packets)
{
    if (packets.empty())
        return;
    ++reports_;
    update_acked(now_us, packets);
    update_delay(now_us, packets);
    update_loss(now_us, packets);
    decide(now_us);
}

void CongestionController::update_acked(int64_t, const std::vector<PacketFeedback>& packets)
{
    for (const PacketFeedback& p : packets) {
        if (!p.arrival_us)
            continue;
        // Reports come in order; a packet reported out of order joins at its place.
        auto at = std::upper_bound(arrivals_.begin(), arrivals_.end(), *p.arrival_us,
                                   [](int64_t t, const Arrival& a) { return t < a.arrival_us; });
        arrivals_.insert(at, Arrival {*p.arrival_us, p.size});
    }
    if (arrivals_.empty())
        return;
    int64_t latest = arrivals_.back().arrival_us;
    while (!arrivals_.empty() && arrivals_.front().arrival_us < latest - kAckedWindowUs)
        arrivals_.pop_front();
    // Bytes over the intervals between arrivals: not the first packet's.
    uint64_t bytes = 0;
    for (const Arrival& a : arrivals_)
        bytes += a.size + kPacketOverhead;
    bytes -= arrivals_.front().size + kPacketOverhead;
    // Over the window once it is full; at the start over what there is,
    // and never a tiny span that would make a burst look fast.
    int64_t span = std::max<int64_t>(latest - arrivals_.front().arrival_us, 100000);
    acked_bps_ = bytes * 8 * kSecondUs / static_cast<uint64_t>(span);
    // Behind a queue, packets arrive at the link's rate: the last moments
    // tell it best, before the half second catches up.
    uint64_t recent = 0;
    int64_t recent_from = latest - kRecentWindowUs;
    auto first = std::lower_bound(arrivals_.begin(), arrivals_.end(), recent_from,
                                  [](const Arrival& a, int64_t t) { return a.arrival_us < t; });
    for (auto it = first; it != arrivals_.end(); ++it)
        recent += it->size + kPacketOverhead;
    if (first != arrivals_.end())
        recent -= first->size + kPacketOverhead;
    int64_t recent_span = first != arrivals_.end() ? latest - first->arrival_us : 0;
    recent_acked_bps_ = recent_span >= kRecentWindowUs / 2
                            ? recent * 8 * kSecondUs / static_cast<uint64_t>(recent_span)
                            : acked_bps_;
}

void CongestionController::update_delay(int64_t now_us, const std::vector<PacketFeedback>& packets)
{
    std::optional<int64_t> smallest;
    for (const PacketFeedback& p : packets) {
        if (p.arrival_us)
            smallest = std::min(smallest.value_or(INT64_MAX), *p.arrival_us - p.send_us);
    }
    if (!smallest)
        return;
    while (!base_.empty() && base_.back().delay_us >= *smallest)
        base_.pop_back();
    base_.push_back(DelaySample {now_us, *smallest});
    while (base_.front().at_us < now_us - kBaseWindowUs)
        base_.pop_front();
    int64_t queue = *smallest - base_.front().delay_us;
    queue_us_ = (queue_us_ + queue) / 2;
}

void CongestionController::update_loss(int64_t now_us, const std::vector<PacketFeedback>& packets)
{
    uint32_t lost = 0;
    for (const PacketFeedback& p : packets)
        lost += p.arrival_us ? 0 : 1;
    losses_.push_back(LossSample {now_us, static_cast<uint32_t>(packets.size()), lost});
    while (losses_.front().at_us < now_us - kLossWindowUs)
        losses_.pop_front();
    uint64_t sent = 0, missing = 0;
    for (const LossSample& s : losses_) {
        sent += s.sent;
        missing += s.lost;
    }
    if (sent >= kMinLossSample)
        loss_ = static_cast<double>(missing) / static_cast<double>(sent);
}

void CongestionController::decide(int64_t now_us)
{
    int64_t elapsed = last_update_us_ ? std::clamp<int64_t>(now_us - last_update_us_, 0, kSecondUs) : 0;
    last_update_us_ = now_us;
    // A drop shows in the feedback a round trip later: until then, the
    // feedback still describes the old rate.
    // So does the queue it built: while it drains, what it says is old too.
    // A queue that has not drained in kMaxDrainUs is a standing one: the
    // rate is still too high.
    bool draining = queue_us_ > kOveruseQueueUs / 2 && queue_us_ < queue_at_decrease_us_ * 9 / 10 &&
                    now_us - last_decrease_us_ < kMaxDrainUs;
    bool settling =
        last_decrease_us_ && (now_us - last_decrease_us_ < std::max(rtt_us_ + 200000, kMinSettleUs) || draining);

    if (queue_us_ > kOveruseQueueUs || loss_ > kHighLoss) {
        if (settling) {
            state_ = State::Hold;
            return;
        }
        uint64_t target = estimate_bps_;
        uint64_t acked = std::min(acked_bps_, recent_acked_bps_);
        if (queue_us_ > kOveruseQueueUs && acked > 0)
            target = std::min<uint64_t>(target, static_cast<uint64_t>(kDecreaseFactor * acked));
        if (loss_ > kHighLoss)
            target = std::min<uint64_t>(target, static_cast<uint64_t>(estimate_bps_ * (1 - 0.5 * loss_)));
        state_ = State::Decrease;
        last_decrease_bps_ = std::max(acked_bps_, target);
        last_decrease_us_ = now_us;
        queue_at_decrease_us_ = queue_us_;
        // The loss so far was the old rate's: the new one starts afresh.
        losses_.clear();
        loss_ = 0;
        estimate_bps_ = target;
        clamp();
        return;
    }
    if (settling || loss_ > kLowLoss || queue_us_ > kOveruseQueueUs / 2) {
        state_ = State::Hold;
        return;
    }
    state_ = State::Increase;
    bool near_last_drop = last_decrease_bps_ > 0 && estimate_bps_ < last_decrease_bps_ * 1.1 &&
                          estimate_bps_ > last_decrease_bps_ * 0.9;
    double growth = (near_last_drop ? kSlowGrowth : kFastGrowth) * static_cast<double>(elapsed) / kSecondUs;
    uint64_t grown = static_cast<uint64_t>(static_cast<double>(estimate_bps_) * (1 + growth)) + 1;
    if (acked_bps_ > 0)
        grown = std::min<uint64_t>(grown, static_cast<uint64_t>(kMaxAboveAcked * acked_bps_) + 50000);
    estimate_bps_ = std::max(estimate_bps_, grown);
    clamp();
}

} // namespace signalbin
