#include "message-channel.h"

GST_DEBUG_CATEGORY_STATIC(channel_debug);
#define GST_CAT_DEFAULT channel_debug

namespace signalbin {

GRef<GstWebRTCDataChannel> MessageChannel::open(GstElement* webrtcbin, const std::string& label)
{
    GstStructure* options = gst_structure_new("options", "priority", GST_TYPE_WEBRTC_PRIORITY_TYPE,
                                              GST_WEBRTC_PRIORITY_TYPE_HIGH, nullptr);
    GstWebRTCDataChannel* channel = nullptr;
    g_signal_emit_by_name(webrtcbin, "create-data-channel", label.c_str(), options, &channel);
    gst_structure_free(options);
    return adopt_ref(channel);
}

std::string MessageChannel::label_of(GstWebRTCDataChannel* channel)
{
    char* raw = nullptr;
    g_object_get(channel, "label", &raw, nullptr);
    GCharPtr label(raw);
    return label ? label.get() : "";
}

MessageChannel::MessageChannel(GRef<GstWebRTCDataChannel> channel, OnText on_text, OnBytes on_bytes)
    : shared_(std::make_shared<Shared>())
{
    static std::once_flag once;
    std::call_once(once, [] {
        GST_DEBUG_CATEGORY_INIT(channel_debug, "signalbin-channel", 0, "signalbin data channels");
    });
    shared_->channel = std::move(channel);
    shared_->on_text = std::move(on_text);
    shared_->on_bytes = std::move(on_bytes);
    auto connect = [this](const char* signal, GCallback callback) {
        auto* data = new std::shared_ptr<Shared>(shared_);
        gulong id = g_signal_connect_data(
            shared_->channel.get(), signal, callback, data,
            [](gpointer p, GClosure*) { delete static_cast<std::shared_ptr<Shared>*>(p); },
            static_cast<GConnectFlags>(0));
        return SignalConnection(shared_->channel.get(), id);
    };
    string_handler_ = connect("on-message-string", G_CALLBACK(&MessageChannel::on_string));
    data_handler_ = connect("on-message-data", G_CALLBACK(&MessageChannel::on_data));
}

MessageChannel::~MessageChannel()
{
    {
        // Waits for a callback in progress; later ones do nothing.
        std::lock_guard<std::recursive_mutex> guard(shared_->lock);
        shared_->closed = true;
        shared_->on_text = nullptr;
        shared_->on_bytes = nullptr;
    }
    string_handler_.disconnect();
    data_handler_.disconnect();
}

std::string MessageChannel::label() const
{
    return label_of(shared_->channel.get());
}

bool MessageChannel::is_open() const
{
    GstWebRTCDataChannelState state = GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;
    g_object_get(shared_->channel.get(), "ready-state", &state, nullptr);
    return state == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN;
}

bool MessageChannel::send_text(const std::string& text)
{
    if (!is_open())
        return false;
    GErrorPtr error;
    if (gst_webrtc_data_channel_send_string_full(shared_->channel.get(), text.c_str(), GErrorOut(error)))
        return true;
    GST_INFO("%s: could not send (%s)", label().c_str(), error ? error->message : "closed");
    return false;
}

bool MessageChannel::send_bytes(GBytes* bytes)
{
    if (!is_open())
        return false;
    GErrorPtr error;
    if (gst_webrtc_data_channel_send_data_full(shared_->channel.get(), bytes, GErrorOut(error)))
        return true;
    GST_INFO("%s: could not send (%s)", label().c_str(), error ? error->message : "closed");
    return false;
}

void MessageChannel::on_string(GstWebRTCDataChannel*, const char* text, gpointer data)
{
    auto& shared = *static_cast<std::shared_ptr<Shared>*>(data);
    std::lock_guard<std::recursive_mutex> guard(shared->lock);
    if (!shared->closed && text && shared->on_text)
        shared->on_text(text);
}

void MessageChannel::on_data(GstWebRTCDataChannel*, GBytes* bytes, gpointer data)
{
    auto& shared = *static_cast<std::shared_ptr<Shared>*>(data);
    std::lock_guard<std::recursive_mutex> guard(shared->lock);
    if (shared->closed || !bytes)
        return;
    if (shared->on_bytes) {
        shared->on_bytes(bytes);
    } else if (shared->on_text) {
        gsize size = 0;
        const char* p = static_cast<const char*>(g_bytes_get_data(bytes, &size));
        shared->on_text(std::string(p ? p : "", size));
    }
}

} // namespace signalbin
