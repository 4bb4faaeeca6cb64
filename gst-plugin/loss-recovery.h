// How signalbin recovers from packet loss, decided here once for both
// elements and for offers and answers alike (docs/networks.md):
//
// - Video: generic NACK with retransmission on an RTX stream (RFC 4588).
//   webrtcbin announces it (a=rtcp-fb nack, a=rtpmap rtx + apt) for a
//   transceiver with do-nack set, keeps a history of sent packets to resend
//   from, and its jitterbuffers ask for missing packets while they wait.
//   PLI and FIR are announced with every video codec (rtp_caps).
// - Receiving video: a frame lost for good (no retransmission came in
//   time) makes the depayloader ask the sender for a key frame (PLI) and
//   hold back the broken frames until it arrives, so a viewer sees a short
//   freeze, never a smeared picture.
// - Opus: in-band FEC; the encoder adds it, the decoder uses it for a
//   packet the jitterbuffer declared lost.
#pragma once

#include "codecs.h"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

namespace signalbin {

// Before the SDP is made (create-offer, or create-answer after the
// transceiver's direction is set).
void enable_loss_recovery(GstWebRTCRTPTransceiver* transceiver, bool video);

// Depayloaders and decoders of signalsrc, when they are made.
void configure_depayloader_for_loss(GstElement* depayloader);
void configure_decoder_for_loss(GstElement* decoder, Codec codec);

// Encoders of signalsink, when they are made.
void configure_encoder_for_loss(GstElement* encoder, Codec codec);

} // namespace signalbin
