// Publishing by WHIP (RFC 9725) instead of a signalling server: signalsink's
// one consumer is the WHIP endpoint. On start it asks the producer for a
// session at once; the producer's offer is held until its ICE gathering is
// complete (or 2 s), then POSTed (application/sdp, the candidates inlined,
// the bearer token) to the endpoint; the 201's answer goes back as the
// consumer's, candidates gathered later go by PATCH (trickle-ice-sdpfrag) to
// the Location, and the session's end or the element's stop DELETEs it.
// Redirects (307/308) are followed with the token re-sent; any other status,
// or no answer within 15 s, is fatal, naming the URL and the status.
#pragma once

#include "signaller.h"

#include <libsoup/soup.h>

#include <future>
#include <vector>

namespace signalbin {

class WhipSignaller : public Signaller {
public:
    static constexpr const char* kSessionId = "whip";

    WhipSignaller(Options options, Callbacks callbacks);
    ~WhipSignaller() override;

    void start() override;
    void stop() override;
    void send_sdp(const std::string& session_id, const protocol::Sdp& sdp) override;
    void send_ice(const std::string& session_id, const protocol::Ice& ice) override;
    void end_session(const std::string& session_id, const std::string& reason = {}) override;
    void start_session(const std::string&) override {}
    void list_producers() override {}
    const std::string& url() const override { return options_.whip_endpoint; }

private:
    // All on the thread.
    void post();
    void on_posted(SoupMessage* message, GBytes* body, const GError* error);
    void patch(const std::vector<protocol::Ice>& candidates);
    // DELETEs the resource (once); deleted_ is ready when the reply came.
    void delete_resource();
    GRef<SoupMessage> request(const char* method, const std::string& url);
    void fail(const std::string& message, const std::string& debug);

    GRef<SoupSession> session_;
    GRef<GCancellable> cancel_ = adopt_ref(g_cancellable_new());
    std::string offer_;
    std::vector<protocol::Ice> candidates_;
    bool gathered_ = false;
    bool posted_ = false;
    std::string resource_; // the Location, absolute
    ScopedSource gather_timer_;
    std::shared_future<void> deleted_;
    bool stopped_ = false;
    bool failed_ = false;
};

} // namespace signalbin
