// A token bucket: `rate` messages a second on average, bursts up to `burst`.
#pragma once

#include <algorithm>
#include <cstdint>

namespace signalbin::server {

class TokenBucket {
public:
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

    // Takes one token at time `now_us` (monotonic microseconds) if there is one.
    bool take(int64_t now_us)
    {
        if (last_us_ >= 0 && now_us > last_us_)
            tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_us - last_us_) / 1e6);
        last_us_ = now_us;
        if (tokens_ < 1.0)
            return false;
        tokens_ -= 1.0;
        return true;
    }

private:
    double rate_;
    double burst_;
    double tokens_;
    int64_t last_us_ = -1;
};

} // namespace signalbin::server
