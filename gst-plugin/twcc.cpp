#include "twcc.h"

#include "rtp-extensions.h"

#include <gst/rtp/rtp.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace signalbin {

void offer_twcc(GstCaps* caps, int id)
{
    announce_extension(caps, id, kTwccUri);
}

int twcc_extension_id(const GstSDPMedia* media)
{
    return extension_id(media, kTwccUri);
}

bool add_twcc_extension(GstElement* payloader, int id)
{
    GstRTPHeaderExtension* ext = gst_rtp_header_extension_create_from_uri(kTwccUri);
    if (!ext)
        return false;
    gst_rtp_header_extension_set_id(ext, static_cast<guint>(id));
    g_signal_emit_by_name(payloader, "add-extension", ext);
    gst_object_unref(ext);
    return true;
}

std::vector<PacketFeedback> twcc_packets(const GstStructure* s)
{
    std::vector<PacketFeedback> out;
    const GValue* value = s ? gst_structure_get_value(s, "packets") : nullptr;
    if (!value)
        return out;
    // rtpsession hands the packets over as a GValueArray.
    std::vector<const GValue*> items;
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    if (g_strcmp0(G_VALUE_TYPE_NAME(value), "GValueArray") == 0) {
        auto* array = static_cast<GValueArray*>(g_value_get_boxed(value));
        for (guint i = 0; array && i < array->n_values; ++i)
            items.push_back(&array->values[i]);
    }
    G_GNUC_END_IGNORE_DEPRECATIONS
    out.reserve(items.size());
    for (const GValue* item : items) {
        if (!GST_VALUE_HOLDS_STRUCTURE(item))
            continue;
        const GstStructure* p = gst_value_get_structure(item);
        guint64 local = GST_CLOCK_TIME_NONE, remote = GST_CLOCK_TIME_NONE;
        guint size = 0;
        gboolean lost = FALSE;
        gst_structure_get(p, "local-ts", G_TYPE_UINT64, &local, "remote-ts", G_TYPE_UINT64, &remote, "size",
                          G_TYPE_UINT, &size, "lost", G_TYPE_BOOLEAN, &lost, nullptr);
        // A packet we have no send time for (sent before the extension
        // was on, or forgotten) tells nothing.
        if (!GST_CLOCK_TIME_IS_VALID(local))
            continue;
        PacketFeedback f;
        f.send_us = static_cast<int64_t>(local / GST_USECOND);
        if (!lost && GST_CLOCK_TIME_IS_VALID(remote))
            f.arrival_us = static_cast<int64_t>(remote / GST_USECOND);
        f.size = size;
        out.push_back(f);
    }
    return out;
}

void watch_twcc_feedback(GstPad* payloader_src, TwccCallback on_feedback)
{
    gst_pad_add_probe(
        payloader_src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
        [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
            if (GST_EVENT_TYPE(event) != GST_EVENT_CUSTOM_UPSTREAM ||
                !gst_event_has_name(event, "RTPTWCCPackets"))
                return GST_PAD_PROBE_OK;
            std::vector<PacketFeedback> packets = twcc_packets(gst_event_get_structure(event));
            if (!packets.empty())
                (*static_cast<TwccCallback*>(data))(packets);
            // Nothing upstream of the payloader wants it.
            return GST_PAD_PROBE_DROP;
        },
        new TwccCallback(std::move(on_feedback)), [](gpointer data) { delete static_cast<TwccCallback*>(data); });
}

} // namespace signalbin
