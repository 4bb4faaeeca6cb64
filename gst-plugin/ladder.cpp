#include "ladder.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace signalbin {

Ladder default_ladder(unsigned top_kbps)
{
    auto part = [top_kbps](unsigned percent) { return std::max(50u, top_kbps * percent / 100); };
    return {Rung {top_kbps, 1, 0}, Rung {part(40), 2, 0}, Rung {part(20), 2, 0}, Rung {part(10), 4, 0}};
}

namespace {

bool number(const std::string& text, unsigned min, unsigned max, unsigned& out)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 6)
        return false;
    unsigned long v = std::strtoul(text.c_str(), nullptr, 10);
    if (v < min || v > max)
        return false;
    out = static_cast<unsigned>(v);
    return true;
}

} // namespace

std::optional<Ladder> parse_ladder(const std::string& text, unsigned top_kbps, std::string& why)
{
    std::string trimmed;
    for (char c : text) {
        if (c != ' ')
            trimmed += c;
    }
    if (trimmed.empty())
        return default_ladder(top_kbps);
    Ladder ladder;
    std::stringstream rungs(trimmed);
    std::string item;
    while (std::getline(rungs, item, ',')) {
        std::vector<std::string> parts;
        std::stringstream fields(item);
        std::string f;
        while (std::getline(fields, f, ':'))
            parts.push_back(f);
        Rung r;
        bool ok = !parts.empty() && parts.size() <= 3 && number(parts[0], 16, 100000, r.kbps) &&
                  (parts.size() < 2 || number(parts[1], 1, 16, r.divisor)) &&
                  (parts.size() < 3 || number(parts[2], 1, 240, r.fps));
        if (!ok) {
            why = "rung \"" + item + "\" is not KBPS[:DIVISOR[:FPS]] (KBPS 16-100000, DIVISOR 1-16, FPS 1-240)";
            return std::nullopt;
        }
        if (!ladder.empty() && r.kbps >= ladder.back().kbps) {
            why = "rungs go from the highest bitrate down: \"" + item + "\" is not below the one before";
            return std::nullopt;
        }
        ladder.push_back(r);
    }
    if (ladder.empty() || ladder.size() > 8) {
        why = "a ladder has 1 to 8 rungs";
        return std::nullopt;
    }
    return ladder;
}

std::string ladder_text(const Ladder& ladder)
{
    std::string out;
    for (const Rung& r : ladder) {
        if (!out.empty())
            out += ",";
        out += std::to_string(r.kbps);
        if (r.divisor != 1 || r.fps != 0)
            out += ":" + std::to_string(r.divisor);
        if (r.fps != 0)
            out += ":" + std::to_string(r.fps);
    }
    return out;
}

TierChooser::TierChooser(Ladder ladder, uint64_t start_bps) : ladder_(std::move(ladder))
{
    if (ladder_.empty())
        ladder_.push_back(Rung {});
    tier_ = start_bps ? best_fit(start_bps) : 0;
}

unsigned TierChooser::best_fit(uint64_t estimate_bps) const
{
    for (unsigned t = 0; t < ladder_.size(); ++t) {
        if (ladder_[t].kbps * 1000.0 <= kHeadroom * static_cast<double>(estimate_bps))
            return t;
    }
    return static_cast<unsigned>(ladder_.size() - 1);
}

unsigned TierChooser::update(int64_t now_us, uint64_t estimate_bps)
{
    if (since_us_ < 0)
        since_us_ = now_us;
    if (now_us - since_us_ >= kStableUs)
        backoff_us_ = kMinBackoffUs;
    unsigned fit = best_fit(estimate_bps);
    if (fit > tier_) {
        // Down at once: the link no longer carries this tier.
        if (last_rise_us_ >= 0 && now_us - last_rise_us_ < kFailedRiseUs)
            backoff_us_ = std::min(backoff_us_ * 2, kMaxBackoffUs);
        tier_ = fit;
        last_drop_us_ = now_us;
        since_us_ = now_us;
        covered_since_us_ = -1;
        return tier_;
    }
    if (fit < tier_) {
        if (covered_since_us_ < 0)
            covered_since_us_ = now_us;
        bool held = now_us - covered_since_us_ >= kUpHoldUs;
        bool backed_off = last_drop_us_ < 0 || now_us - last_drop_us_ >= backoff_us_;
        if (held && backed_off) {
            --tier_;
            last_rise_us_ = now_us;
            since_us_ = now_us;
            covered_since_us_ = -1;
        }
    } else {
        covered_since_us_ = -1;
    }
    return tier_;
}

unsigned TierChooser::lone_kbps(uint64_t estimate_bps, unsigned max_kbps, uint64_t acked_bps) const
{
    unsigned floor = ladder_[tier_].kbps;
    unsigned ceiling = tier_ == 0 ? std::max(max_kbps, floor) : ladder_[tier_ - 1].kbps;
    auto allowed = static_cast<unsigned>(kHeadroom * static_cast<double>(estimate_bps) / 1000.0);
    if (acked_bps > 0)
        allowed = std::min(allowed, static_cast<unsigned>(1.1 * static_cast<double>(acked_bps) / 1000.0));
    return std::clamp(allowed, floor, ceiling);
}

} // namespace signalbin
