#include "retransmissions.h"

#include <gst/rtp/rtp.h>

#include <algorithm>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

void RetransmissionBudget::roll(int64_t now_us)
{
    if (now_us - window_start_us_ < G_USEC_PER_SEC)
        return;
    // A gap of more than a window: the one before it was empty.
    last_media_bytes_ = now_us - window_start_us_ < 2 * G_USEC_PER_SEC ? media_bytes_ : 0;
    media_bytes_ = 0;
    rtx_bytes_ = 0;
    window_start_us_ = now_us;
}

void RetransmissionBudget::sent(int64_t now_us, uint64_t bytes, bool rtx)
{
    roll(now_us);
    (rtx ? rtx_bytes_ : media_bytes_) += bytes;
}

bool RetransmissionBudget::allow(int64_t now_us)
{
    roll(now_us);
    return !congested_ && rtx_bytes_ < std::max(kMinBytesPerSecond, last_media_bytes_ / 4);
}

struct Retransmissions::State {
    std::mutex lock;
    std::vector<guint> rtx_payload_types;
    RetransmissionBudget budget;
    RetransmissionStats total;
};

namespace {

using StatePtr = std::shared_ptr<Retransmissions::State>;

void count(Retransmissions::State& state, GstBuffer* buffer, int64_t now)
{
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp))
        return;
    guint pt = gst_rtp_buffer_get_payload_type(&rtp);
    gst_rtp_buffer_unmap(&rtp);
    gsize bytes = gst_buffer_get_size(buffer);
    bool rtx = std::find(state.rtx_payload_types.begin(), state.rtx_payload_types.end(), pt) !=
               state.rtx_payload_types.end();
    state.budget.sent(now, bytes, rtx);
    if (rtx) {
        ++state.total.packets;
        state.total.bytes += bytes;
    }
}

GstPadProbeReturn on_output(GstPad*, GstPadProbeInfo* info, gpointer data)
{
    auto& state = **static_cast<StatePtr*>(data);
    int64_t now = g_get_monotonic_time();
    std::lock_guard<std::mutex> guard(state.lock);
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
        GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
        for (guint i = 0; i < gst_buffer_list_length(list); ++i)
            count(state, gst_buffer_list_get(list, i), now);
    } else {
        count(state, GST_PAD_PROBE_INFO_BUFFER(info), now);
    }
    return GST_PAD_PROBE_OK;
}

// rtpsession's retransmission requests travel up into rtprtxsend's src pad.
GstPadProbeReturn on_request(GstPad* pad, GstPadProbeInfo* info, gpointer data)
{
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_CUSTOM_UPSTREAM ||
        !gst_event_has_name(event, "GstRTPRetransmissionRequest"))
        return GST_PAD_PROBE_OK;
    auto& state = **static_cast<StatePtr*>(data);
    std::lock_guard<std::mutex> guard(state.lock);
    if (state.budget.allow(g_get_monotonic_time()))
        return GST_PAD_PROBE_OK;
    if (state.total.refused++ % 100 == 0)
        GST_DEBUG_OBJECT(pad, "retransmissions over budget: refusing requests (%" G_GUINT64_FORMAT " so far)",
                         state.total.refused);
    return GST_PAD_PROBE_DROP;
}

// The RTX payload types: the values of rtprtxsend's payload-type-map.
std::vector<guint> rtx_payload_types(GstElement* rtxsend)
{
    GstStructure* map = nullptr;
    g_object_get(rtxsend, "payload-type-map", &map, nullptr);
    std::vector<guint> types;
    for (int i = 0; map && i < gst_structure_n_fields(map); ++i) {
        const GValue* v = gst_structure_get_value(map, gst_structure_nth_field_name(map, i));
        if (G_VALUE_HOLDS_UINT(v))
            types.push_back(g_value_get_uint(v));
    }
    if (map)
        gst_structure_free(map);
    return types;
}

GstElement* find_rtxsend(GstElement* webrtcbin)
{
    GstElement* found = nullptr;
    GstIterator* it = gst_bin_iterate_recurse(GST_BIN(webrtcbin));
    GValue item = G_VALUE_INIT;
    while (!found && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
        auto* element = GST_ELEMENT(g_value_get_object(&item));
        GstElementFactory* factory = gst_element_get_factory(element);
        if (factory && g_str_equal(GST_OBJECT_NAME(factory), "rtprtxsend"))
            found = element;
        g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    return found; // webrtcbin holds it while the caller holds webrtcbin
}

} // namespace

Retransmissions::Retransmissions() : state_(std::make_shared<State>()) {}
Retransmissions::~Retransmissions() = default;

void Retransmissions::set_congested(bool congested)
{
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->budget.set_congested(congested);
}

RetransmissionStats Retransmissions::poll(GstElement* webrtcbin)
{
    if (!rtxsend_) {
        GstElement* rtxsend = find_rtxsend(webrtcbin);
        if (!rtxsend)
            return {};
        GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(rtxsend, "src"));
        if (!src)
            return {};
        rtxsend_ = GRef<GstElement>::ref(rtxsend);
        auto destroy = [](gpointer data) { delete static_cast<StatePtr*>(data); };
        gst_pad_add_probe(src.get(),
                          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                          on_output, new StatePtr(state_), destroy);
        gst_pad_add_probe(src.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_request, new StatePtr(state_), destroy);
    }
    std::vector<guint> types = rtx_payload_types(rtxsend_.get());
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->rtx_payload_types = std::move(types);
    return state_->total;
}

} // namespace signalbin
