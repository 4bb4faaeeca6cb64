// One input stream of signalsink (a video_%u or audio_%u pad): the chain that
// turns its input into an encoded stream once, and a tee per codec that every
// consumer branches from.
//
//   raw:     entry ! convert ! tee(raw) ! queue ! encoder ! [parser] ! tee(codec) ! fakesink
//                                      ! queue ! videoscale ! [videorate] ! caps ! encoder ! ... (tier 1...)
//   encoded: entry ! parser ! tee(codec) ! fakesink
//
// Raw video has quality tiers (ladder.h): tier 0 is the encoder above, at
// the full size and `video-bitrate`; each further tier is an encoder of its
// own, built when a consumer subscribes to it and removed when the last
// one leaves. Audio and encoded input have tier 0 only.
//
// The chain is built when caps first arrive (streaming thread); encoders for
// further codecs are added when a consumer needs them. The fakesink keeps a
// live upstream flowing, and EOS working, with no consumer at all.
// Key-frame requests from consumers are coalesced at each video tee's sink
// pad (KeyframeCoalescer), as the encoder behind it is everybody's.
#pragma once

#include "codecs.h"
#include "ladder.h"
#include "glib-ptr.h"

#include <gst/gst.h>

#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace signalbin {

class KeyframeCoalescer;

class SinkStream {
public:
    struct Settings {
        std::vector<Codec> codecs; // preference order for raw input
        unsigned keyframe_interval = 60;
        unsigned bitrate_kbps = 2048;
        Ladder ladder; // raw video; empty: tier 0 only
    };

    // `on_ready` runs (on the streaming thread) once the chain is built;
    // `on_error` when the input cannot be handled.
    SinkStream(GstBin* bin, std::string name, bool video, Settings settings, std::function<void()> on_ready,
               std::function<void(const std::string& message, const std::string& debug)> on_error);
    ~SinkStream(); // removes its elements from the bin

    const std::string& name() const { return name_; }
    bool video() const { return video_; }
    // Where the element's ghost pad points.
    GstPad* sink_pad() const { return entry_pad_.get(); }

    // New settings from the element's properties; encoders built from now
    // on use them.
    void configure(Settings settings);

    bool ready() const;
    // What this stream can send: the input codec, or the installed encoders.
    std::vector<Codec> codecs() const;
    // The profile-level-id the SDP announces for H.264 from this stream:
    // encoded input's own, else our encoder's (kH264ProfileLevelId).
    std::string h264_profile_level_id() const;
    // Tiers: how many this stream has (1 for audio and encoded input), and
    // their rungs. subscribe() gives the tee of `tier` for `codec`, building
    // its encoder if needed (nullptr if it cannot); every subscribe() is
    // matched by an unsubscribe(), the last of which stops a tier's
    // encoder (tier 0's runs for the stream's life).
    unsigned tiers() const;
    Ladder ladder() const;
    GstElement* subscribe(Codec codec, unsigned tier);
    void unsubscribe(Codec codec, unsigned tier);
    unsigned subscribers(Codec codec, unsigned tier) const;
    // The bitrate of a tier's encoder while exactly one consumer is on it
    // (that consumer's estimate); with more, each tier keeps its rung.
    void set_lone_bitrate(Codec codec, unsigned tier, unsigned kbps);

    // Key-frame requests from consumers to this stream's encoders (or to
    // the upstream of encoded input), and how many went through (the rest
    // were coalesced: KeyframeCoalescer).
    struct KeyframeCounts {
        uint64_t requests = 0;
        uint64_t forwarded = 0;
    };
    KeyframeCounts keyframe_counts() const;

private:
    using TierKey = std::pair<Codec, unsigned>;
    static GstPadProbeReturn on_entry_event(GstPad* pad, GstPadProbeInfo* info, gpointer data);
    bool build(GstCaps* caps, std::string& error);
    GstElement* add(const char* factory, const char* role);
    GstElement* build_encoder_branch(Codec codec, unsigned tier = 0);
    void stop_tier(Codec codec, unsigned tier);
    unsigned rung_kbps(unsigned tier) const;
    void watch_keyframe_requests(TierKey key, GstElement* tee);

    GstBin* bin_;      // the element, which outlives us while it holds us
    GWeakRef bin_ref_; // for the destructor, which may run after it
    std::string name_;
    bool video_;
    Settings settings_;
    std::function<void()> on_ready_;
    std::function<void(const std::string&, const std::string&)> on_error_;

    mutable std::mutex lock_;
    GstElement* entry_ = nullptr; // identity; elements are owned by the bin
    GRef<GstPad> entry_pad_;
    bool built_ = false;
    bool failed_ = false;
    std::optional<Codec> input_codec_; // set for encoded input
    std::string input_h264_profile_;   // profile-level-id of encoded H.264 input
    GstElement* raw_tee_ = nullptr;
    std::map<Codec, GstElement*> codec_tees_; // tier 0
    struct Tier {
        GstElement* tee = nullptr;
        GstElement* encoder = nullptr;
        std::vector<GstElement*> elements; // tiers above 0: removed with it
        unsigned subscribers = 0;
        unsigned kbps = 0; // what the encoder is set to
    };
    std::map<TierKey, Tier> tiers_;
    int input_width_ = 0, input_height_ = 0;
    unsigned tier_builds_ = 0;
    std::map<TierKey, std::shared_ptr<KeyframeCoalescer>> keyframes_;
    std::vector<GstElement*> elements_;
};

} // namespace signalbin
