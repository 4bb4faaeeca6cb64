#include "rtp-extensions.h"

#include <gst/rtp/rtp.h>

#include <cstdlib>
#include <cstring>

namespace signalbin {

void announce_extension(GstCaps* caps, int id, const char* uri)
{
    std::string field = "extmap-" + std::to_string(id);
    for (guint i = 0; i < gst_caps_get_size(caps); ++i)
        gst_structure_set(gst_caps_get_structure(caps, i), field.c_str(), G_TYPE_STRING, uri, nullptr);
}

int extension_id(const GstSDPMedia* media, const char* uri)
{
    size_t want = std::strlen(uri);
    for (guint i = 0; i < gst_sdp_media_attributes_len(media); ++i) {
        const GstSDPAttribute* a = gst_sdp_media_get_attribute(media, i);
        if (g_strcmp0(a->key, "extmap") != 0 || !a->value)
            continue;
        // "<id>[/<direction>] <uri> [<attributes>]"
        char* end = nullptr;
        long id = std::strtol(a->value, &end, 10);
        if (end == a->value || id <= 0 || id > 255)
            continue;
        const char* at = std::strchr(end, ' ');
        if (!at)
            continue;
        while (*at == ' ')
            ++at;
        size_t length = std::strcspn(at, " ");
        if (length == want && std::strncmp(at, uri, length) == 0)
            return static_cast<int>(id);
    }
    return 0;
}

bool add_mid_extension(GstElement* payloader, int id, const std::string& mid)
{
    GstRTPHeaderExtension* ext = gst_rtp_header_extension_create_from_uri(kMidUri);
    if (!ext)
        return false;
    gst_rtp_header_extension_set_id(ext, static_cast<guint>(id));
    g_object_set(ext, "mid", mid.c_str(), nullptr);
    g_signal_emit_by_name(payloader, "add-extension", ext);
    gst_object_unref(ext);
    return true;
}

} // namespace signalbin
