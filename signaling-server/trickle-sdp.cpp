#include "trickle-sdp.h"

#include <algorithm>
#include <sstream>

namespace signalbin::server::trickle {

namespace {

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (!line.empty())
            out.push_back(line);
    }
    return out;
}

bool starts_with(const std::string& s, const char* prefix)
{
    return s.rfind(prefix, 0) == 0;
}

} // namespace

bool looks_like_sdp(const std::string& text)
{
    size_t start = text.find_first_not_of(" \t\r\n");
    return start != std::string::npos && text.compare(start, 3, "v=0") == 0;
}

std::vector<std::string> media_ids(const std::string& sdp)
{
    std::vector<std::string> mids;
    for (const std::string& line : lines_of(sdp)) {
        if (starts_with(line, "m="))
            mids.emplace_back();
        else if (starts_with(line, "a=mid:") && !mids.empty() && mids.back().empty())
            mids.back() = line.substr(6);
    }
    return mids;
}

std::string with_candidates(const std::string& sdp, const std::vector<protocol::Ice>& candidates, bool complete)
{
    std::vector<std::string> lines = lines_of(sdp);
    std::string out;
    int section = -1;
    std::vector<std::string> present; // the section's candidate lines already there
    auto close_section = [&](int index) {
        if (index < 0)
            return;
        for (const protocol::Ice& ice : candidates) {
            if (ice.candidate.empty() || static_cast<int>(ice.sdp_mline_index) != index)
                continue;
            std::string line = (starts_with(ice.candidate, "a=") ? "" : "a=") + ice.candidate;
            if (std::find(present.begin(), present.end(), line) == present.end())
                out += line + "\r\n";
        }
        if (complete)
            out += "a=end-of-candidates\r\n";
        present.clear();
    };
    for (const std::string& line : lines) {
        if (starts_with(line, "m=")) {
            close_section(section);
            ++section;
        }
        // Candidates the description has stay (a peer that does not
        // trickle); the end comes last, once.
        if (section >= 0 && line == "a=end-of-candidates")
            continue;
        if (section >= 0 && starts_with(line, "a=candidate:"))
            present.push_back(line);
        out += line + "\r\n";
    }
    close_section(section);
    return out;
}

Expected<std::vector<protocol::Ice>> read_sdpfrag(const std::string& fragment, const std::string& offer)
{
    using Result = Expected<std::vector<protocol::Ice>>;
    std::vector<std::string> mids = media_ids(offer);
    std::string offered_ufrag;
    for (const std::string& line : lines_of(offer))
        if (starts_with(line, "a=ice-ufrag:")) {
            offered_ufrag = line.substr(12);
            break;
        }
    std::vector<protocol::Ice> out;
    bool in_section = false;
    bool have_mid = false;
    uint32_t index = 0;
    std::vector<std::string> pending; // candidates seen before the section's a=mid
    auto flush = [&]() -> Expected<bool> {
        if (!in_section)
            return true;
        if (!have_mid && !pending.empty())
            return Expected<bool>::failure("a media section of the fragment has candidates but no a=mid");
        for (const std::string& c : pending)
            out.push_back(protocol::Ice {c, index, mids[index]});
        pending.clear();
        return true;
    };
    for (const std::string& line : lines_of(fragment)) {
        if (starts_with(line, "a=ice-ufrag:") && !offered_ufrag.empty() && line.substr(12) != offered_ufrag)
            return Result::failure("the fragment has a new ice-ufrag: ICE restarts are not supported; start a new "
                                   "session instead");
        if (starts_with(line, "m=")) {
            Expected<bool> flushed = flush();
            if (!flushed)
                return Result::failure(flushed.error());
            in_section = true;
            have_mid = false;
        } else if (starts_with(line, "a=mid:")) {
            std::string mid = line.substr(6);
            bool found = false;
            for (size_t i = 0; i < mids.size(); ++i)
                if (mids[i] == mid) {
                    index = static_cast<uint32_t>(i);
                    found = true;
                }
            if (!found)
                return Result::failure("the fragment names a=mid:" + mid + ", which the offer does not have");
            have_mid = true;
        } else if (starts_with(line, "a=candidate:")) {
            if (!in_section)
                return Result::failure("a candidate outside any media section (each goes after an m= and a=mid line)");
            pending.push_back(line.substr(2));
        } else if (line == "a=end-of-candidates" && in_section) {
            pending.emplace_back();
        }
    }
    Expected<bool> flushed = flush();
    if (!flushed)
        return Result::failure(flushed.error());
    return out;
}

std::string make_sdpfrag(const std::string& offer, const std::vector<protocol::Ice>& candidates)
{
    std::string head;
    std::vector<std::string> m_lines;
    std::vector<std::string> mids;
    for (const std::string& line : lines_of(offer)) {
        if ((starts_with(line, "a=ice-ufrag:") || starts_with(line, "a=ice-pwd:")) &&
            head.find(line.substr(0, line.find(':'))) == std::string::npos)
            head += line + "\r\n";
        if (starts_with(line, "m=")) {
            m_lines.push_back(line);
            mids.emplace_back();
        } else if (starts_with(line, "a=mid:") && !mids.empty() && mids.back().empty()) {
            mids.back() = line.substr(6);
        }
    }
    std::string out = head;
    for (size_t i = 0; i < m_lines.size(); ++i) {
        std::string section;
        for (const protocol::Ice& ice : candidates)
            if (ice.sdp_mline_index == i)
                section += ice.candidate.empty() ? std::string("a=end-of-candidates\r\n")
                                                 : (starts_with(ice.candidate, "a=") ? "" : "a=") + ice.candidate +
                                                       "\r\n";
        if (!section.empty())
            out += m_lines[i] + "\r\na=mid:" + mids[i] + "\r\n" + section;
    }
    return out;
}

} // namespace signalbin::server::trickle
