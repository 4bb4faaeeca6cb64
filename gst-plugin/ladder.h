// The quality tiers of one raw video input of signalsink, and how a
// consumer picks one from its bandwidth estimate. No GStreamer in here
// (tests/ladder-test.cpp).
//
// A rung is a bitrate, a size (the input's divided by `divisor`) and a
// frame rate (0: the input's). Tier 0 is the top rung. An encoder runs for
// a tier only while some consumer is on it (SinkStream); every consumer on
// a tier shares it.
//
// The `video-ladder` property writes rungs as `KBPS[:DIVISOR[:FPS]]`,
// comma-separated, best first: "2048,800:2,400:2,200:4". Empty: the
// default ladder, from `video-bitrate` B: B, 40 % of B at half size, 20 %
// at half size, 10 % at a quarter size, all at the input's frame rate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace signalbin {

struct Rung {
    unsigned kbps = 0;
    unsigned divisor = 1;
    unsigned fps = 0; // 0: the input's

    bool operator==(const Rung& o) const { return kbps == o.kbps && divisor == o.divisor && fps == o.fps; }
};

using Ladder = std::vector<Rung>;

Ladder default_ladder(unsigned top_kbps);
// nullopt (and why) for text that is not a ladder; "" is the default one.
std::optional<Ladder> parse_ladder(const std::string& text, unsigned top_kbps, std::string& why);
std::string ladder_text(const Ladder& ladder);

// One consumer's tier. It goes down as soon as its estimate no longer
// covers the tier's bitrate (with 20 % headroom), to the best rung that
// fits; it goes up one rung once the estimate has covered the next rung for
// kUpHoldUs, and not sooner than a back-off after the last drop. A rise
// that fails (a drop within kFailedRiseUs) doubles the back-off, up to
// kMaxBackoffUs; kStableUs on a tier resets it.
class TierChooser {
public:
    static constexpr double kHeadroom = 0.8; // of the estimate, for a rung's bitrate
    static constexpr int64_t kUpHoldUs = 1500000;
    static constexpr int64_t kMinBackoffUs = 3000000;
    static constexpr int64_t kMaxBackoffUs = 12000000;
    static constexpr int64_t kFailedRiseUs = 10000000;
    static constexpr int64_t kStableUs = 30000000;

    explicit TierChooser(Ladder ladder, uint64_t start_bps = 0);

    // The tier for the estimate at `now_us`.
    unsigned update(int64_t now_us, uint64_t estimate_bps);
    unsigned tier() const { return tier_; }
    int64_t backoff_us() const { return backoff_us_; }

    // The bitrate for an encoder this consumer alone is on: what its
    // estimate allows, within the tier's rung and the rung above (for the
    // top tier, `max_kbps`), and at most 10 % above what the link was seen
    // to carry (`acked_bps`, 0: unknown): an estimate that grew while less
    // was sent is a guess, tried a step at a time.
    unsigned lone_kbps(uint64_t estimate_bps, unsigned max_kbps, uint64_t acked_bps = 0) const;

private:
    unsigned best_fit(uint64_t estimate_bps) const;

    Ladder ladder_;
    unsigned tier_ = 0;
    int64_t covered_since_us_ = -1; // the next rung up has been covered since
    int64_t last_drop_us_ = -1;
    int64_t last_rise_us_ = -1;
    int64_t since_us_ = -1; // on this tier since
    int64_t backoff_us_ = kMinBackoffUs;
};

} // namespace signalbin
