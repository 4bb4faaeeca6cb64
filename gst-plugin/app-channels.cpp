#include "app-channels.h"

namespace signalbin {

void AppChannels::add(const std::string& session_id, const std::string& peer_id,
                      GRef<GstWebRTCDataChannel> channel)
{
    auto made = std::make_shared<MessageChannel>(
        std::move(channel), [this, peer_id](const std::string& text) {
            if (events_.text)
                events_.text(peer_id, text);
        },
        [this, peer_id](GBytes* bytes) {
            if (events_.bytes)
                events_.bytes(peer_id, bytes);
        });
    std::lock_guard<std::mutex> guard(lock_);
    entries_.push_back(Entry {session_id, peer_id, std::move(made)});
}

void AppChannels::remove_session(const std::string& session_id)
{
    std::vector<std::shared_ptr<MessageChannel>> gone;
    {
        std::lock_guard<std::mutex> guard(lock_);
        for (auto it = entries_.begin(); it != entries_.end();) {
            if (it->session_id == session_id) {
                gone.push_back(std::move(it->channel));
                it = entries_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // Outside the lock: a handler in progress may be sending.
    gone.clear();
}

std::vector<std::shared_ptr<MessageChannel>> AppChannels::targets(const std::string& peer_id)
{
    std::vector<std::shared_ptr<MessageChannel>> out;
    std::lock_guard<std::mutex> guard(lock_);
    for (const Entry& e : entries_) {
        if (peer_id.empty() || e.peer_id == peer_id)
            out.push_back(e.channel);
    }
    return out;
}

unsigned AppChannels::send_text(const std::string& peer_id, const std::string& text)
{
    unsigned sent = 0;
    for (const std::shared_ptr<MessageChannel>& channel : targets(peer_id))
        sent += channel->send_text(text) ? 1 : 0;
    return sent;
}

unsigned AppChannels::send_bytes(const std::string& peer_id, GBytes* bytes)
{
    unsigned sent = 0;
    for (const std::shared_ptr<MessageChannel>& channel : targets(peer_id))
        sent += channel->send_bytes(bytes) ? 1 : 0;
    return sent;
}

} // namespace signalbin
