// Signalling by HTTP instead of a signalling server, for either element:
// - WHIP (RFC 9725), signalsink publishing: the endpoint is its one
//   consumer; on start the producer is asked for a session at once.
// - WHEP (draft-ietf-wish-whep), signalsrc playing: the endpoint is its one
//   producer; on start it is announced, and signalsrc's session request
//   starts a session at once, in which signalsrc offers (consumer_offers()).
// Either way our offer is held until its ICE gathering is complete (or 2 s),
// then POSTed (application/sdp, the candidates inlined, the bearer token) to
// the endpoint; the 201's answer comes back as the peer's, candidates
// gathered later go by PATCH (trickle-ice-sdpfrag) to the Location, and the
// session's end or the element's stop DELETEs it. Redirects (307/308) are
// followed; any other status, or no answer in time (WHEP 20 s; WHIP 330 s,
// as an endpoint may hold the POST until someone watches), is fatal, naming
// the URL and the status.
#pragma once

#include "signaller.h"

#include <libsoup/soup.h>

#include <future>
#include <vector>

namespace signalbin {

class HttpSignaller : public Signaller {
public:
    enum class Mode { Whip, Whep };
    // The session's id, and the peer's id: "whip" (the consumer) or "whep"
    // (the producer).
    static const char* peer_id(Mode mode) { return mode == Mode::Whip ? "whip" : "whep"; }

    HttpSignaller(Mode mode, Options options, Callbacks callbacks);
    ~HttpSignaller() override;

    void start() override;
    void stop() override;
    void send_sdp(const std::string& session_id, const protocol::Sdp& sdp) override;
    void send_ice(const std::string& session_id, const protocol::Ice& ice) override;
    void end_session(const std::string& session_id, const std::string& reason = {}) override;
    void start_session(const std::string& producer_id) override;
    void list_producers() override {}
    const std::string& url() const override { return endpoint_; }
    bool consumer_offers() const override { return mode_ == Mode::Whep; }
    bool single_producer() const override { return mode_ == Mode::Whep; }

private:
    // All on the thread.
    void post();
    void on_posted(SoupMessage* message, GBytes* body, const GError* error);
    void patch(const std::vector<protocol::Ice>& candidates);
    void flush_late();
    static std::string resolve(SoupMessage* message, const char* location);
    template <typename F>
    void on_thread(F&& fn); // fn(*this) on the thread, if still alive
    // DELETEs the resource (once); deleted_ is ready when the reply came.
    void delete_resource();
    GRef<SoupMessage> request(const char* method, const std::string& url);
    void fail(const std::string& message, const std::string& debug);

    const Mode mode_;
    const std::string endpoint_;
    const char* protocol_; // "WHIP" or "WHEP", for messages
    GRef<SoupSession> session_;
    GRef<GCancellable> cancel_ = adopt_ref(g_cancellable_new());
    std::string offer_;
    std::vector<protocol::Ice> candidates_; // for the offer
    std::vector<protocol::Ice> late_;       // after the POST, for PATCH
    std::string etag_;                      // the 201's, for If-Match
    ScopedSource answer_timer_;
    bool gathered_ = false;
    bool posted_ = false;
    std::string resource_; // the Location, absolute
    ScopedSource gather_timer_;
    std::shared_future<void> deleted_;
    bool stopped_ = false;
    bool failed_ = false;
};

} // namespace signalbin
