#include "loss-recovery.h"

namespace signalbin {

namespace {

// The loss Opus's in-band FEC is sized for. libopus adds redundancy only
// when this is above 0, and only in its speech (SILK) modes, where it costs
// a few kbit/s.
constexpr int kOpusExpectedLossPercent = 10;

bool has_property(GstElement* element, const char* name)
{
    return g_object_class_find_property(G_OBJECT_GET_CLASS(element), name) != nullptr;
}

} // namespace

void enable_loss_recovery(GstWebRTCRTPTransceiver* transceiver, bool video)
{
    // Audio packets are small and late ones useless: Opus FEC covers them,
    // as browsers do (they NACK video only).
    g_object_set(transceiver, "do-nack", video ? TRUE : FALSE, nullptr);
}

void configure_depayloader_for_loss(GstElement* depayloader)
{
    // rtph264depay and rtpvp8depay (GStreamer 1.20 and later).
    if (has_property(depayloader, "request-keyframe"))
        g_object_set(depayloader, "request-keyframe", TRUE, nullptr);
    if (has_property(depayloader, "wait-for-keyframe"))
        g_object_set(depayloader, "wait-for-keyframe", TRUE, nullptr);
}

void configure_decoder_for_loss(GstElement* decoder, Codec codec)
{
    if (codec == Codec::Opus && has_property(decoder, "use-inband-fec"))
        g_object_set(decoder, "use-inband-fec", TRUE, nullptr);
}

void configure_encoder_for_loss(GstElement* encoder, Codec codec)
{
    if (codec == Codec::Opus && has_property(encoder, "inband-fec"))
        g_object_set(encoder, "inband-fec", TRUE, "packet-loss-percentage", kOpusExpectedLossPercent, nullptr);
}

} // namespace signalbin
