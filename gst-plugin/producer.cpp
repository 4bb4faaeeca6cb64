#include "producer.h"

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

namespace {

constexpr const char* kStatsName = "application/x-signalsink-stats";

} // namespace

Producer::Producer(GstElement* element, Settings settings, std::vector<std::shared_ptr<SinkStream>> streams,
                   Events events)
    : element_(element),
      settings_(std::move(settings)),
      events_(std::move(events)),
      streams_(std::move(streams)),
      stats_(gst_structure_new_empty(kStatsName))
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
    callbacks.on_session_ended = [this](const std::string& session, const std::optional<std::string>& error) {
        if (error)
            GST_INFO_OBJECT(element_, "session %s ended by the consumer: %s", session.c_str(), error->c_str());
        session_ended(session);
    };
    callbacks.on_send_failed = [this](const std::string& session, const std::string& why) {
        remove_consumer(session, false, why, true);
    };
    signaller_ = Signaller::create(settings_.signalling, std::move(callbacks));
}

Producer::~Producer()
{
    stop();
}

void Producer::start()
{
    prepare_dtls_certificate(); // before any consumer needs it
    signaller_->start();
    signaller_->thread().invoke([this] {
        stats_timer_ = ScopedSource::timeout(signaller_->thread().context(), 1000, [this] {
            update_stats();
            for (auto& [session, consumer] : consumers_)
                consumer->poll_stats();
            return true;
        });
    });
}

// The sink's elements are READY by now (stop_producer runs after the bin's
// PAUSED->READY): no data flows, so each consumer comes down at once, and
// nothing of ours runs on after this returns.
void Producer::stop()
{
    if (stopped_.exchange(true))
        return;
    signaller_->thread().invoke_sync([this] {
        stats_timer_.cancel();
        waiting_.clear();
        streams_.clear(); // the element's; the consumers hold theirs until they are down
        std::map<std::string, std::shared_ptr<Consumer>> consumers;
        consumers.swap(consumers_);
        update_stats();
        for (auto& [session, consumer] : consumers) {
            signaller_->end_session(session);
            GRef<GstElement> webrtc = take_ref(consumer->webrtcbin());
            consumer->teardown_stopped();
            if (events_.consumer_removed && webrtc)
                events_.consumer_removed(consumer->peer_id(), webrtc.get());
        }
    });
    signaller_->stop();
    finish_dtls_certificate();
}

bool Producer::on_own_thread() const
{
    return signaller_->thread().is_current();
}

bool Producer::streams_ready() const
{
    return std::all_of(streams_.begin(), streams_.end(), [](const auto& s) { return s->ready(); });
}

template <typename F>
void Producer::on_thread(F&& fn)
{
    if (stopped_)
        return;
    signaller_->thread().post([weak = weak_from_this(), fn = std::forward<F>(fn)]() mutable {
        if (auto self = weak.lock()) {
            if (!self->stopped_)
                fn(*self);
        }
    });
}

void Producer::release(std::shared_ptr<Producer> producer)
{
    if (!producer)
        return;
    ContextThread& thread = producer->signaller_->thread();
    if (thread.is_current()) {
        // Perhaps inside one of our own callbacks (an application stopping
        // the pipeline from consumer-added): let go once it has returned.
        thread.post([producer = std::move(producer)]() mutable { producer.reset(); });
        return;
    }
    // Work queued before stop() holds a reference while it runs (on_thread):
    // let it finish, so that the last reference is this one and the
    // producer's thread is joined here, not left running on its own.
    thread.invoke_sync([] {});
}

void Producer::stream_ready()
{
    on_thread([](Producer& p) {
        if (!p.streams_ready())
            return;
        std::vector<Request> waiting;
        waiting.swap(p.waiting_);
        for (Request& r : waiting)
            p.session_requested(r.session_id, r.peer_id, r.offer);
    });
}

void Producer::stream_released(const std::shared_ptr<SinkStream>& stream)
{
    on_thread([stream](Producer& p) {
        p.streams_.erase(std::remove(p.streams_.begin(), p.streams_.end(), stream), p.streams_.end());
        GST_INFO_OBJECT(p.element_, "%s released: new consumers go without it", stream->name().c_str());
        p.stream_ready(); // the requests that waited only for it can go ahead
    });
}

void Producer::session_requested(const std::string& session_id, const std::string& peer_id,
                                 const std::optional<std::string>& offer)
{
    if (stopped_)
        return;
    if (streams_.empty()) {
        GST_WARNING_OBJECT(element_, "consumer %s asked for a session but this sink has no pads", peer_id.c_str());
        signaller_->end_session(session_id, "the producer has no input");
        return;
    }
    if (settings_.max_consumers > 0 && consumers_.size() >= settings_.max_consumers) {
        GST_ELEMENT_WARNING(element_, RESOURCE, BUSY, ("Refused consumer %s: max-consumers (%u) reached",
                                                       peer_id.c_str(), settings_.max_consumers),
                            ("raise max-consumers to serve more"));
        signaller_->end_session(session_id, "the producer serves no more consumers (max-consumers " +
                                                std::to_string(settings_.max_consumers) + ")");
        return;
    }
    if (!streams_ready()) {
        // No caps yet on some pad: we cannot know what we will send.
        GST_INFO_OBJECT(element_, "consumer %s (session %s) waits for the streams' caps", peer_id.c_str(),
                        session_id.c_str());
        waiting_.push_back(Request {session_id, peer_id, offer});
        return;
    }
    Consumer::Context context;
    context.bin = GST_BIN(element_);
    context.signaller = signaller_;
    context.webrtc = settings_.webrtc;
    context.streams = streams_;
    context.session_timeout_ms = settings_.session_timeout_ms;
    context.congestion_control = settings_.congestion_control;
    context.control_channel = settings_.control_channel;
    context.app_channel = settings_.app_channel;
    context.apps = settings_.apps;
    context.congestion = settings_.congestion;
    context.max_kbps = settings_.max_kbps;
    context.on_failed = [this](const std::string& session, const std::string& why) {
        remove_consumer(session, true, why, true);
    };
    auto consumer = std::make_shared<Consumer>(std::move(context), next_serial_++, session_id, peer_id);
    consumers_[session_id] = consumer;
    std::string error;
    if (!consumer->prepare(error)) {
        GST_ELEMENT_WARNING(element_, CORE, MISSING_PLUGIN, ("Cannot serve consumer %s", peer_id.c_str()),
                            ("%s", error.c_str()));
        remove_consumer(session_id, true, error, false);
        return;
    }
    GST_INFO_OBJECT(element_, "consumer %s joined (session %s, %zu consumers)", peer_id.c_str(), session_id.c_str(),
                    consumers_.size());
    update_stats();
    // Before negotiation, as webrtcsink does: a handler can still set up the
    // webrtcbin and open data channels that go in the offer.
    if (events_.consumer_added)
        events_.consumer_added(peer_id, consumer->webrtcbin());
    auto still = consumers_.find(session_id);
    if (still == consumers_.end() || still->second != consumer)
        return; // dropped, or the sink stopped, in the handler
    consumer->negotiate(offer);
}

void Producer::session_ended(const std::string& session_id)
{
    // A request still waiting for the streams is forgotten, not served later.
    auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                                [&](const Request& r) { return r.session_id == session_id; });
    if (waiting != waiting_.end()) {
        GST_INFO_OBJECT(element_, "consumer %s left before the streams were ready (session %s)",
                        waiting->peer_id.c_str(), session_id.c_str());
        waiting_.erase(waiting);
        return;
    }
    remove_consumer(session_id, false, "the consumer ended the session", false);
}

// `session_id` is a copy: callers pass the key of the entry erased here.
void Producer::remove_consumer(std::string session_id, bool tell_peer, const std::string& why, bool warn)
{
    auto it = consumers_.find(session_id);
    if (it == consumers_.end())
        return;
    std::shared_ptr<Consumer> consumer = it->second;
    consumers_.erase(it);
    if (tell_peer)
        signaller_->end_session(session_id, why);
    if (warn)
        GST_ELEMENT_WARNING(element_, STREAM, FAILED, ("Dropped consumer %s: %s", consumer->peer_id().c_str(),
                                                       why.c_str()),
                            ("session %s; the other consumers go on", session_id.c_str()));
    GST_INFO_OBJECT(element_, "consumer %s left (%s); %zu consumers", consumer->peer_id().c_str(), why.c_str(),
                    consumers_.size());
    update_stats();
    GRef<GstElement> webrtc = take_ref(consumer->webrtcbin());
    std::string peer = consumer->peer_id();
    Events events = events_;
    consumer->teardown([events, webrtc, peer] {
        if (events.consumer_removed && webrtc)
            events.consumer_removed(peer, webrtc.get());
    });
}

void Producer::consumer_failed(unsigned serial, const std::string& why)
{
    on_thread([serial, why](Producer& p) {
        for (auto& [session, consumer] : p.consumers_) {
            if (consumer->serial() == serial) {
                p.remove_consumer(session, true, why, false); // the sink has posted the warning
                return;
            }
        }
    });
}

// On the signaller thread: a snapshot for the stats property.
void Producer::update_stats()
{
    GUnique<GstStructure> all(gst_structure_new_empty(kStatsName));
    for (auto& [session, consumer] : consumers_) {
        Consumer::Stats s = consumer->stats();
        GUnique<GstStructure> one(gst_structure_new(
            "consumer", "peer-id", G_TYPE_STRING, s.peer_id.c_str(), "session-id", G_TYPE_STRING, s.session_id.c_str(),
            "connection-state", G_TYPE_STRING, s.connection_state.c_str(), "ice-connection-state", G_TYPE_STRING,
            s.ice_connection_state.c_str(), "bytes-sent", G_TYPE_UINT64, s.bytes_sent, "packets-sent", G_TYPE_UINT64,
            s.packets_sent, "round-trip-time", G_TYPE_DOUBLE, s.round_trip_time, "bitrate", G_TYPE_UINT64, s.bitrate,
            "nack-count", G_TYPE_UINT, s.nack_count, "pli-count", G_TYPE_UINT, s.pli_count, "fir-count", G_TYPE_UINT,
            s.fir_count, "packets-lost", G_TYPE_INT64, s.packets_lost, "fraction-lost", G_TYPE_DOUBLE, s.fraction_lost,
            "retransmitted-packets", G_TYPE_UINT64, s.retransmitted_packets, "retransmitted-bytes", G_TYPE_UINT64,
            s.retransmitted_bytes, "retransmissions-refused", G_TYPE_UINT64, s.retransmissions_refused,
            "keyframe-requests", G_TYPE_UINT, s.keyframe_requests, "estimated-bitrate", G_TYPE_UINT64,
            s.estimated_bitrate, "queue-delay", G_TYPE_DOUBLE, s.queue_delay, "tier", G_TYPE_INT, s.tier, nullptr));
        gst_structure_set(all.get(), ("consumer-" + s.peer_id).c_str(), GST_TYPE_STRUCTURE, one.get(), nullptr);
    }
    std::lock_guard<std::mutex> guard(stats_lock_);
    stats_ = std::move(all);
}

GstStructure* Producer::stats() const
{
    std::lock_guard<std::mutex> guard(stats_lock_);
    return gst_structure_copy(stats_.get());
}

} // namespace signalbin
