#include "keyframe-coalescer.h"

#include <gst/video/video.h>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

bool KeyframeCoalescer::request(int64_t now_us)
{
    std::lock_guard<std::mutex> guard(lock_);
    ++counts_.requests;
    if (now_us - last_forwarded_us_ >= min_interval_us_) {
        pending_ = false;
        last_forwarded_us_ = now_us;
        ++counts_.forwarded;
        return true;
    }
    pending_ = true;
    return false;
}

bool KeyframeCoalescer::frame(int64_t now_us, bool keyframe)
{
    std::lock_guard<std::mutex> guard(lock_);
    if (!pending_)
        return false;
    // A key frame made after the last forwarded request answers the pending
    // ones as well (the encoder's own schedule, or the forwarded request's).
    if (keyframe && now_us > last_forwarded_us_) {
        pending_ = false;
        return false;
    }
    if (now_us - last_forwarded_us_ < min_interval_us_)
        return false;
    pending_ = false;
    last_forwarded_us_ = now_us;
    ++counts_.forwarded;
    return true;
}

KeyframeCoalescer::Counts KeyframeCoalescer::counts() const
{
    std::lock_guard<std::mutex> guard(lock_);
    return counts_;
}

namespace {

// Set while a coalesced request is sent: its own probe lets it pass.
thread_local bool sending_coalesced = false;

struct Watch {
    std::shared_ptr<KeyframeCoalescer> coalescer;
    GstObject* log_object; // the sink, which outlives its pads' probes
};

GstPadProbeReturn on_request(GstPad* pad, GstPadProbeInfo* info, gpointer data)
{
    auto* watch = static_cast<Watch*>(data);
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (sending_coalesced || !gst_video_event_is_force_key_unit(event))
        return GST_PAD_PROBE_OK;
    if (watch->coalescer->request(g_get_monotonic_time())) {
        GstClockTime running_time = GST_CLOCK_TIME_NONE;
        gboolean all_headers = FALSE;
        guint count = 0;
        if (gst_video_event_parse_upstream_force_key_unit(event, &running_time, &all_headers, &count) &&
            all_headers) {
            GST_PAD_PROBE_INFO_DATA(info) =
                gst_video_event_new_upstream_force_key_unit(running_time, FALSE, count);
            gst_event_unref(event);
        }
        return GST_PAD_PROBE_OK;
    }
    GST_LOG_OBJECT(watch->log_object, "%s:%s: key-frame request coalesced", GST_DEBUG_PAD_NAME(pad));
    return GST_PAD_PROBE_DROP;
}

GstPadProbeReturn on_frame(GstPad* pad, GstPadProbeInfo* info, gpointer data)
{
    auto* watch = static_cast<Watch*>(data);
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (watch->coalescer->frame(g_get_monotonic_time(), keyframe)) {
        GST_DEBUG_OBJECT(watch->log_object, "%s:%s: asking for the coalesced key frame", GST_DEBUG_PAD_NAME(pad));
        // Upstream from the streaming thread: the encoder queues the request
        // under its object lock, which no pushing thread holds.
        sending_coalesced = true;
        gst_pad_push_event(pad, new_keyframe_request());
        sending_coalesced = false;
    }
    return GST_PAD_PROBE_OK;
}

} // namespace

std::shared_ptr<KeyframeCoalescer> coalesce_keyframe_requests(GstPad* pad, GstObject* log_object)
{
    auto coalescer = std::make_shared<KeyframeCoalescer>();
    auto destroy = [](gpointer data) { delete static_cast<Watch*>(data); };
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_request, new Watch {coalescer, log_object}, destroy);
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_frame, new Watch {coalescer, log_object}, destroy);
    return coalescer;
}

GstEvent* new_keyframe_request()
{
    return gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, FALSE, 0);
}

} // namespace signalbin
