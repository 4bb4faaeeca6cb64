#include "control-channel.h"

#include <gst/video/navigation.h>

#include <mutex>

GST_DEBUG_CATEGORY_STATIC(control_debug);
#define GST_CAT_DEFAULT control_debug

namespace signalbin {

ControlChannel::ControlChannel(GRef<GstWebRTCDataChannel> channel,
                               std::function<void(const ControlResponse&)> on_response)
    : state_(std::make_shared<State>())
{
    static std::once_flag once;
    std::call_once(once, [] {
        GST_DEBUG_CATEGORY_INIT(control_debug, "signalbin-control", 0, "signalbin control data channel");
    });
    state_->on_response = std::move(on_response);
    channel_ = std::make_unique<MessageChannel>(std::move(channel), [this](const std::string& text) { handle(text); });
}

// The channel goes first: no callback runs after it.
ControlChannel::~ControlChannel() = default;

void ControlChannel::set_targets(std::vector<Target> targets)
{
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->targets = std::move(targets);
}

ControlChannel::Counts ControlChannel::counts() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return state_->counts;
}

bool ControlChannel::send_navigation(GstEvent* event, const std::optional<std::string>& mid)
{
    guint64 id;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        id = state_->next_id;
    }
    std::optional<std::string> text = navigation_request(event, id, mid);
    if (!text || !channel_->send_text(*text))
        return false;
    std::lock_guard<std::mutex> guard(state_->lock);
    ++state_->next_id;
    ++state_->counts.sent;
    return true;
}

void ControlChannel::handle(const std::string& text)
{
    if (std::optional<ControlResponse> response = parse_control_response(text)) {
        if (response->error)
            GST_INFO("control request %" G_GUINT64_FORMAT " refused by the peer: %s", response->id,
                     response->error->c_str());
        std::lock_guard<std::mutex> guard(state_->lock);
        if (state_->on_response)
            state_->on_response(*response);
        return;
    }
    std::string why;
    std::optional<guint64> id;
    std::optional<ControlRequest> request = parse_control_request(text, why, id);
    std::optional<std::string> error;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        ++state_->counts.requests;
        error = request ? deliver(*request) : std::optional<std::string>("bad request: " + why);
        if (error)
            ++state_->counts.refused;
    }
    if (error)
        GST_INFO("control request refused: %s", error->c_str());
    channel_->send_text(control_response(id, error));
}

// Under the state's lock.
std::optional<std::string> ControlChannel::deliver(const ControlRequest& request)
{
    bool navigation = request.navigation();
    bool any = false;
    for (const Target& target : state_->targets) {        if (request.mid ? target.mid != request.mid : (navigation && !target.video))
            continue;
        if (navigation && !target.video)
            return "the stream of mid " + *request.mid + " has no video";
        any = true;
        GstEvent* event = gst_event_copy(request.event.get());
        double x = 0, y = 0;
        if (navigation && target.divisor > 1 && gst_navigation_event_get_coordinates(event, &x, &y))
            gst_navigation_event_set_coordinates(event, x * target.divisor, y * target.divisor);
        // Upstream from the stream's sink pad: to the element feeding signalsink.
        // What that returns says little: an element that acts on navigation
        // (navigationtest) passes it on, and a source then refuses it.
        if (!gst_pad_push_event(target.pad.get(), event))
            GST_LOG("%s: nothing upstream took the event", target.name.c_str());
    }
    if (!any) {
        if (request.mid)
            return "no stream has mid " + *request.mid;
        return navigation ? "the producer has no video stream (yet)" : "the producer has no stream (yet)";
    }
    return std::nullopt;
}

} // namespace signalbin
