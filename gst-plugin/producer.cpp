#include "producer.h"

#include <condition_variable>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

Producer::Producer(GstElement* element, Settings settings, std::vector<SinkStream*> streams, Events events)
    : element_(element), settings_(std::move(settings)), streams_(std::move(streams)), events_(std::move(events))
{
    Signaller::Callbacks callbacks;
    callbacks.on_ready = [this](const std::string& id, bool reconnected) {
        GST_INFO_OBJECT(element_, "registered as producer %s%s", id.c_str(), reconnected ? " again" : "");
        if (reconnected)
            GST_ELEMENT_WARNING(element_, RESOURCE, WRITE,
                                ("Reconnected to the signalling server at %s", signaller_->url().c_str()),
                                ("new producer id %s", id.c_str()));
    };
    callbacks.on_fatal = [this](const std::string& message, const std::string& debug) {
        GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_READ_WRITE, ("%s", message.c_str()), ("%s", debug.c_str()));
    };
    callbacks.on_warning = [this](const std::string& message) {
        GST_ELEMENT_WARNING(element_, RESOURCE, WRITE, ("%s", message.c_str()),
                            ("the pipeline keeps running; reconnecting"));
    };
    callbacks.on_server_error = [this](const std::string& details) {
        GST_WARNING_OBJECT(element_, "signalling server says: %s", details.c_str());
    };
    callbacks.on_session_requested = [this](const std::string& session, const std::string& peer,
                                            const std::optional<std::string>& offer) {
        session_requested(session, peer, offer);
    };
    callbacks.on_sdp = [this](const std::string& session, const protocol::Sdp& sdp) {
        auto it = consumers_.find(session);
        if (it != consumers_.end())
            it->second->remote_sdp(sdp);
    };
    callbacks.on_ice = [this](const std::string& session, const protocol::Ice& ice) {
        auto it = consumers_.find(session);
        if (it != consumers_.end())
            it->second->remote_ice(ice);
    };
    callbacks.on_session_ended = [this](const std::string& session) {
        remove_consumer(session, false, "the consumer ended the session");
    };
    signaller_ = std::make_unique<Signaller>(settings_.signalling, std::move(callbacks));
}

Producer::~Producer()
{
    // Take every consumer down on the signaller thread and wait for it.
    std::mutex lock;
    std::condition_variable done;
    bool finished = false;
    signaller_->thread().invoke([&] {
        stats_timer_.cancel();
        waiting_.clear();
        auto all_down = [&] {
            std::lock_guard<std::mutex> guard(lock);
            finished = true;
            done.notify_all();
        };
        if (consumers_.empty()) {
            all_down();
            return;
        }
        auto remaining = std::make_shared<size_t>(consumers_.size());
        std::vector<std::string> sessions;
        for (auto& [session, consumer] : consumers_)
            sessions.push_back(session);
        for (const std::string& session : sessions) {
            auto it = consumers_.find(session);
            std::shared_ptr<Consumer> consumer = it->second;
            consumers_.erase(it);
            signaller_->end_session(session);
            GRef<GstElement> webrtc = take_ref(consumer->webrtcbin());
            std::string peer = consumer->peer_id();
            consumer->teardown([this, remaining, all_down, webrtc, peer] {
                if (events_.consumer_removed)
                    events_.consumer_removed(peer, webrtc.get());
                if (--*remaining == 0)
                    all_down();
            });
        }
    });
    {
        std::unique_lock<std::mutex> guard(lock);
        if (!done.wait_for(guard, std::chrono::seconds(10), [&] { return finished; }))
            GST_WARNING_OBJECT(element_, "consumers did not go away within 10 s");
    }
    signaller_->stop();
    signaller_.reset();
}

void Producer::start()
{
    prepare_dtls_certificate(); // before any consumer needs it
    signaller_->start();
    signaller_->thread().invoke([this] {
        stats_timer_ = ScopedSource::timeout(signaller_->thread().context(), 1000, [this] {
            for (auto& [session, consumer] : consumers_)
                consumer->poll_stats();
            return true;
        });
    });
}

bool Producer::streams_ready() const
{
    for (SinkStream* s : streams_) {
        if (!s->ready())
            return false;
    }
    return true;
}

void Producer::stream_ready()
{
    signaller_->thread().post([this] {
        if (!streams_ready())
            return;
        std::vector<Request> waiting;
        waiting.swap(waiting_);
        for (Request& r : waiting)
            session_requested(r.session_id, r.peer_id, r.offer);
    });
}

void Producer::session_requested(const std::string& session_id, const std::string& peer_id,
                                 const std::optional<std::string>& offer)
{
    if (streams_.empty()) {
        GST_WARNING_OBJECT(element_, "consumer %s asked for a session but this sink has no pads", peer_id.c_str());
        signaller_->end_session(session_id);
        return;
    }
    if (settings_.max_consumers > 0 && consumers_.size() >= settings_.max_consumers) {
        GST_WARNING_OBJECT(element_, "refusing consumer %s: max-consumers (%u) reached", peer_id.c_str(),
                           settings_.max_consumers);
        signaller_->end_session(session_id);
        return;
    }
    if (!streams_ready()) {
        // No caps yet on some pad: we cannot know what we will send.
        waiting_.push_back(Request {session_id, peer_id, offer});
        return;
    }
    Consumer::Context context;
    context.bin = GST_BIN(element_);
    context.signaller = signaller_.get();
    context.webrtc = settings_.webrtc;
    context.streams = streams_;
    context.on_failed = [this](const std::string& session, const std::string& why) {
        remove_consumer(session, true, why);
    };
    auto consumer = std::make_shared<Consumer>(std::move(context), session_id, peer_id);
    consumers_[session_id] = consumer;
    std::string error;
    if (!consumer->start(offer, error)) {
        GST_ELEMENT_WARNING(element_, CORE, MISSING_PLUGIN, ("Cannot serve consumer %s", peer_id.c_str()),
                            ("%s", error.c_str()));
        remove_consumer(session_id, true, error);
        return;
    }
    GST_INFO_OBJECT(element_, "consumer %s joined (session %s, %zu consumers)", peer_id.c_str(), session_id.c_str(),
                    consumers_.size());
    if (events_.consumer_added)
        events_.consumer_added(peer_id, consumer->webrtcbin());
}

// `session_id` is a copy: callers pass the key of the entry erased here.
void Producer::remove_consumer(std::string session_id, bool tell_peer, const std::string& why)
{
    auto it = consumers_.find(session_id);
    if (it == consumers_.end())
        return;
    std::shared_ptr<Consumer> consumer = it->second;
    consumers_.erase(it);
    if (tell_peer)
        signaller_->end_session(session_id);
    GST_INFO_OBJECT(element_, "consumer %s left (%s); %zu consumers", consumer->peer_id().c_str(), why.c_str(),
                    consumers_.size());
    GRef<GstElement> webrtc = take_ref(consumer->webrtcbin());
    std::string peer = consumer->peer_id();
    consumer->teardown([this, webrtc, peer] {
        if (events_.consumer_removed && webrtc)
            events_.consumer_removed(peer, webrtc.get());
    });
}

void Producer::consumer_failed(const std::string& prefix, const std::string& why)
{
    signaller_->thread().post([this, prefix, why] {
        for (auto& [session, consumer] : consumers_) {
            if (session.rfind(prefix, 0) == 0) {
                remove_consumer(session, true, why);
                return;
            }
        }
    });
}

size_t Producer::consumer_count()
{
    size_t n = 0;
    signaller_->thread().invoke_sync([&] { n = consumers_.size(); });
    return n;
}

GstStructure* Producer::stats()
{
    GstStructure* all = gst_structure_new_empty("application/x-signalsink-stats");
    signaller_->thread().invoke_sync([&] {
        for (auto& [session, consumer] : consumers_) {
            Consumer::Stats s = consumer->stats();
            GstStructure* one = gst_structure_new(
                "consumer", "peer-id", G_TYPE_STRING, s.peer_id.c_str(), "session-id", G_TYPE_STRING,
                s.session_id.c_str(), "connection-state", G_TYPE_STRING, s.connection_state.c_str(),
                "ice-connection-state", G_TYPE_STRING, s.ice_connection_state.c_str(), "bytes-sent", G_TYPE_UINT64,
                s.bytes_sent, "packets-sent", G_TYPE_UINT64, s.packets_sent, "round-trip-time", G_TYPE_DOUBLE,
                s.round_trip_time, "bitrate", G_TYPE_UINT64, s.bitrate, nullptr);
            gst_structure_set(all, ("consumer-" + s.peer_id).c_str(), GST_TYPE_STRUCTURE, one, nullptr);
            gst_structure_free(one);
        }
    });
    return all;
}

} // namespace signalbin
