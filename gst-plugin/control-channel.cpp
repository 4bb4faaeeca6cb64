#include "control-channel.h"

#include <gst/video/navigation.h>

#include <mutex>

GST_DEBUG_CATEGORY_STATIC(control_debug);
#define GST_CAT_DEFAULT control_debug

namespace signalbin {

GRef<GstWebRTCDataChannel> ControlChannel::open(GstElement* webrtcbin)
{
    // Reliable and ordered (the defaults), as webrtcsink's.
    GstStructure* options = gst_structure_new("options", "priority", GST_TYPE_WEBRTC_PRIORITY_TYPE,
                                              GST_WEBRTC_PRIORITY_TYPE_HIGH, nullptr);
    GstWebRTCDataChannel* channel = nullptr;
    g_signal_emit_by_name(webrtcbin, "create-data-channel", kControlChannelLabel, options, &channel);
    gst_structure_free(options);
    return adopt_ref(channel);
}

ControlChannel::ControlChannel(GRef<GstWebRTCDataChannel> channel,
                               std::function<void(const ControlResponse&)> on_response)
    : shared_(std::make_shared<Shared>())
{
    static std::once_flag once;
    std::call_once(once, [] {
        GST_DEBUG_CATEGORY_INIT(control_debug, "signalbin-control", 0, "signalbin control data channel");
    });
    shared_->channel = std::move(channel);
    shared_->on_response = std::move(on_response);
    auto connect = [this](const char* signal, GCallback callback) {
        auto* data = new std::shared_ptr<Shared>(shared_);
        gulong id = g_signal_connect_data(
            shared_->channel.get(), signal, callback, data,
            [](gpointer p, GClosure*) { delete static_cast<std::shared_ptr<Shared>*>(p); },
            static_cast<GConnectFlags>(0));
        return SignalConnection(shared_->channel.get(), id);
    };
    string_handler_ = connect("on-message-string", G_CALLBACK(&ControlChannel::on_string));
    data_handler_ = connect("on-message-data", G_CALLBACK(&ControlChannel::on_data));
}

ControlChannel::~ControlChannel()
{
    {
        // Waits for a callback in progress; later ones do nothing.
        std::lock_guard<std::mutex> guard(shared_->lock);
        shared_->closed = true;
        shared_->targets.clear();
        shared_->on_response = nullptr;
    }
    string_handler_.disconnect();
    data_handler_.disconnect();
}

void ControlChannel::set_targets(std::vector<Target> targets)
{
    std::lock_guard<std::mutex> guard(shared_->lock);
    shared_->targets = std::move(targets);
}

ControlChannel::Counts ControlChannel::counts() const
{
    std::lock_guard<std::mutex> guard(shared_->lock);
    return shared_->counts;
}

bool ControlChannel::send_navigation(GstEvent* event, const std::optional<std::string>& mid)
{
    std::lock_guard<std::mutex> guard(shared_->lock);
    if (shared_->closed)
        return false;
    GstWebRTCDataChannelState state = GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;
    g_object_get(shared_->channel.get(), "ready-state", &state, nullptr);
    if (state != GST_WEBRTC_DATA_CHANNEL_STATE_OPEN)
        return false;
    std::optional<std::string> text = navigation_request(event, shared_->next_id, mid);
    if (!text)
        return false;
    ++shared_->next_id;
    ++shared_->counts.sent;
    shared_->send(*text);
    return true;
}

void ControlChannel::on_string(GstWebRTCDataChannel*, const char* text, gpointer data)
{
    if (text)
        (*static_cast<std::shared_ptr<Shared>*>(data))->handle(text);
}

// gstwebrtc-api sends text; a peer may send the same JSON as bytes.
void ControlChannel::on_data(GstWebRTCDataChannel*, GBytes* bytes, gpointer data)
{
    if (!bytes)
        return;
    gsize size = 0;
    const char* p = static_cast<const char*>(g_bytes_get_data(bytes, &size));
    (*static_cast<std::shared_ptr<Shared>*>(data))->handle(std::string(p ? p : "", size));
}

void ControlChannel::Shared::send(const std::string& text)
{
    GErrorPtr error;
    if (!gst_webrtc_data_channel_send_string_full(channel.get(), text.c_str(), GErrorOut(error)))
        GST_INFO("control channel: could not send (%s)", error ? error->message : "closed");
}

void ControlChannel::Shared::handle(const std::string& text)
{
    std::lock_guard<std::mutex> guard(lock);
    if (closed)
        return;
    if (std::optional<ControlResponse> response = parse_control_response(text)) {
        if (response->error)
            GST_INFO("control request %" G_GUINT64_FORMAT " refused by the peer: %s", response->id,
                     response->error->c_str());
        if (on_response)
            on_response(*response);
        return;
    }
    ++counts.requests;
    std::string why;
    std::optional<guint64> id;
    std::optional<ControlRequest> request = parse_control_request(text, why, id);
    std::optional<std::string> error;
    if (!request)
        error = "bad request: " + why;
    else
        error = deliver(*request);
    if (error) {
        ++counts.refused;
        GST_INFO("control request refused: %s", error->c_str());
    }
    send(control_response(id, error));
}

std::optional<std::string> ControlChannel::Shared::deliver(const ControlRequest& request)
{
    bool navigation = request.navigation();
    bool any = false;
    for (const Target& target : targets) {
        if (request.mid ? target.mid != request.mid : (navigation && !target.video))
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
