#include "sink-stream.h"

#include "keyframe-coalescer.h"

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(signalsink_debug);
#define GST_CAT_DEFAULT signalsink_debug

namespace signalbin {

namespace {

GstElement* make_tee()
{
    GstElement* tee = gst_element_factory_make("tee", nullptr);
    g_object_set(tee, "allow-not-linked", TRUE, nullptr);
    return tee;
}

bool link(GstElement* a, GstElement* b)
{
    return gst_element_link(a, b);
}

} // namespace

SinkStream::SinkStream(GstBin* bin, std::string name, bool video, Settings settings, std::function<void()> on_ready,
                       std::function<void(const std::string&, const std::string&)> on_error)
    : bin_(bin),
      name_(std::move(name)),
      video_(video),
      settings_(std::move(settings)),
      on_ready_(std::move(on_ready)),
      on_error_(std::move(on_error))
{
    g_weak_ref_init(&bin_ref_, bin_);
    entry_ = gst_element_factory_make("identity", (name_ + "-in").c_str());
    g_object_set(entry_, "silent", TRUE, nullptr);
    gst_bin_add(bin_, entry_);
    elements_.push_back(entry_);
    entry_pad_ = adopt_ref(gst_element_get_static_pad(entry_, "sink"));
    GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(entry_, "src"));
    gst_pad_add_probe(src.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, &SinkStream::on_entry_event, this, nullptr);
}

SinkStream::~SinkStream()
{
    // Consumers share the stream and may let go of it last, on another
    // thread: if the element is gone by then, so are our elements.
    GRef<GstBin> bin = adopt_ref(static_cast<GstBin*>(g_weak_ref_get(&bin_ref_)));
    g_weak_ref_clear(&bin_ref_);
    if (!bin)
        return;
    std::lock_guard<std::mutex> guard(lock_);
    for (GstElement* e : elements_) {
        gst_element_set_locked_state(e, TRUE);
        gst_element_set_state(e, GST_STATE_NULL);
        gst_bin_remove(bin.get(), e);
    }
}

void SinkStream::configure(Settings settings)
{
    std::lock_guard<std::mutex> guard(lock_);
    settings_ = std::move(settings);
}

bool SinkStream::ready() const
{
    std::lock_guard<std::mutex> guard(lock_);
    return built_;
}

std::vector<Codec> SinkStream::codecs() const
{
    std::lock_guard<std::mutex> guard(lock_);
    if (input_codec_)
        return {*input_codec_};
    std::vector<Codec> usable;
    for (Codec c : settings_.codecs) {
        if (codec_info(c).video == video_ && missing_elements(c, true, false).empty())
            usable.push_back(c);
    }
    return usable;
}

unsigned SinkStream::tiers() const
{
    std::lock_guard<std::mutex> guard(lock_);
    return raw_tee_ && video_ && !settings_.ladder.empty() ? static_cast<unsigned>(settings_.ladder.size()) : 1;
}

Ladder SinkStream::ladder() const
{
    std::lock_guard<std::mutex> guard(lock_);
    if (raw_tee_ && video_ && !settings_.ladder.empty())
        return settings_.ladder;
    return {Rung {settings_.bitrate_kbps, 1, 0}};
}

// With the lock held.
unsigned SinkStream::rung_kbps(unsigned tier) const
{
    if (tier == 0 || tier >= settings_.ladder.size())
        return settings_.bitrate_kbps;
    return settings_.ladder[tier].kbps;
}

GstElement* SinkStream::subscribe(Codec codec, unsigned tier)
{
    std::lock_guard<std::mutex> guard(lock_);
    if (tier > 0 && (!raw_tee_ || !video_ || tier >= settings_.ladder.size()))
        return nullptr;
    auto it = tiers_.find({codec, tier});
    GstElement* tee = it != tiers_.end() ? it->second.tee : nullptr;
    if (!tee) {
        if (!built_ || !raw_tee_)
            return nullptr;
        tee = build_encoder_branch(codec, tier);
        if (!tee)
            return nullptr;
        it = tiers_.find({codec, tier});
    }
    Tier& t = it->second;
    ++t.subscribers;
    // Shared again: the rung's bitrate, whatever the lone consumer had.
    if (t.subscribers > 1 && t.encoder && t.kbps != rung_kbps(tier)) {
        t.kbps = rung_kbps(tier);
        set_encoder_bitrate(t.encoder, codec, t.kbps);
    }
    return tee;
}

void SinkStream::unsubscribe(Codec codec, unsigned tier)
{
    std::lock_guard<std::mutex> guard(lock_);
    auto it = tiers_.find({codec, tier});
    if (it == tiers_.end() || it->second.subscribers == 0)
        return;
    Tier& t = it->second;
    if (--t.subscribers > 0)
        return;
    if (tier > 0) {
        stop_tier(codec, tier);
    } else if (t.encoder && t.kbps != rung_kbps(0)) {
        // Tier 0 runs on: the next consumer gets the rung, not what the
        // last one's estimate left.
        t.kbps = rung_kbps(0);
        set_encoder_bitrate(t.encoder, codec, t.kbps);
    }
}

unsigned SinkStream::subscribers(Codec codec, unsigned tier) const
{
    std::lock_guard<std::mutex> guard(lock_);
    auto it = tiers_.find({codec, tier});
    return it == tiers_.end() ? 0 : it->second.subscribers;
}

void SinkStream::set_lone_bitrate(Codec codec, unsigned tier, unsigned kbps)
{
    std::lock_guard<std::mutex> guard(lock_);
    auto it = tiers_.find({codec, tier});
    if (it == tiers_.end() || it->second.subscribers != 1 || !it->second.encoder || it->second.kbps == kbps)
        return;
    it->second.kbps = kbps;
    set_encoder_bitrate(it->second.encoder, codec, kbps);
}

// Its last consumer has let go of the tee (released its pad). The branch
// is cut from the raw tee once no buffer is crossing, then stopped and
// removed off the streaming thread. With the lock held.
void SinkStream::stop_tier(Codec codec, unsigned tier)
{
    auto it = tiers_.find({codec, tier});
    if (it == tiers_.end())
        return;
    struct Stopping {
        GRef<GstElement> bin;
        GRef<GstElement> raw_tee;
        GRef<GstPad> raw_pad;
        std::vector<GRef<GstElement>> elements;
    };
    // The element may be on its way out when its last consumer lets go.
    GRef<GstElement> bin = adopt_ref(static_cast<GstElement*>(g_weak_ref_get(&bin_ref_)));
    if (!bin)
        return;
    auto* stopping = new Stopping;
    stopping->bin = std::move(bin);
    stopping->raw_tee = take_ref(raw_tee_);
    for (GstElement* e : it->second.elements) {
        stopping->elements.push_back(take_ref(e));
        elements_.erase(std::remove(elements_.begin(), elements_.end(), e), elements_.end());
    }
    keyframes_.erase({codec, tier});
    tiers_.erase(it);
    GST_INFO_OBJECT(bin_, "%s: tier %u of %s has no consumer left: stopping its encoder", name_.c_str(), tier,
                    codec_info(codec).name);
    GRef<GstPad> queue_sink = adopt_ref(gst_element_get_static_pad(stopping->elements.front().get(), "sink"));
    stopping->raw_pad = adopt_ref(gst_pad_get_peer(queue_sink.get()));
    if (!stopping->raw_pad) {
        delete stopping;
        return;
    }
    gst_pad_add_probe(
        stopping->raw_pad.get(), GST_PAD_PROBE_TYPE_IDLE,
        [](GstPad* pad, GstPadProbeInfo*, gpointer data) -> GstPadProbeReturn {
            auto* st = static_cast<Stopping*>(data);
            GRef<GstPad> peer = adopt_ref(gst_pad_get_peer(pad));
            if (peer)
                gst_pad_unlink(pad, peer.get());
            gst_element_call_async(
                st->bin.get(),
                [](GstElement* bin, gpointer data) {
                    std::unique_ptr<Stopping> st(static_cast<Stopping*>(data));
                    gst_element_release_request_pad(st->raw_tee.get(), st->raw_pad.get());
                    for (const GRef<GstElement>& e : st->elements) {
                        gst_element_set_locked_state(e.get(), TRUE);
                        gst_element_set_state(e.get(), GST_STATE_NULL);
                        gst_bin_remove(GST_BIN(bin), e.get());
                    }
                },
                st, nullptr);
            return GST_PAD_PROBE_REMOVE;
        },
        stopping, nullptr);
}

GstPadProbeReturn SinkStream::on_entry_event(GstPad*, GstPadProbeInfo* info, gpointer data)
{
    auto* self = static_cast<SinkStream*>(data);
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
        return GST_PAD_PROBE_OK;
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    // The callbacks post messages and reach the producer: never with lock_ held.
    std::string error, debug;
    bool ready = false;
    {
        std::lock_guard<std::mutex> guard(self->lock_);
        if (self->built_ || self->failed_) {
            // Later caps: only a change of codec on encoded input is a problem.
            if (!self->input_codec_ || codec_from_encoded_caps(caps) == self->input_codec_)
                return GST_PAD_PROBE_OK;
            error = "Input of " + self->name_ + " changed codec mid-stream";
        } else if (self->build(caps, error)) {
            self->built_ = true;
            ready = true;
        } else {
            self->failed_ = true;
        }
    }
    if (ready) {
        self->on_ready_();
        return GST_PAD_PROBE_OK;
    }
    GCharPtr text(gst_caps_to_string(caps));
    self->on_error_(error, std::string("caps: ") + text.get());
    return GST_PAD_PROBE_DROP;
}

std::string SinkStream::h264_profile_level_id() const
{
    std::lock_guard<std::mutex> guard(lock_);
    if (input_codec_ != Codec::H264)
        return kH264ProfileLevelId;
    // The parser's caps, read from the stream's SPS, say it best; before the
    // first frame only the input's caps do.
    auto tee = codec_tees_.find(Codec::H264);
    if (tee != codec_tees_.end()) {
        GRef<GstPad> sink = adopt_ref(gst_element_get_static_pad(tee->second, "sink"));
        GRef<GstCaps> caps = adopt_ref(sink ? gst_pad_get_current_caps(sink.get()) : nullptr);
        if (caps)
            return signalbin::h264_profile_level_id(caps.get());
    }
    return input_h264_profile_;
}

GstElement* SinkStream::add(const char* factory, const char* role)
{
    GstElement* e = gst_element_factory_make(factory, (name_ + "-" + role).c_str());
    if (!e)
        return nullptr;
    gst_bin_add(bin_, e);
    elements_.push_back(e);
    return e;
}

// Every consumer's key-frame requests cross the tee's sink pad on their way
// to the one encoder (or the upstream of encoded input). With the lock held.
void SinkStream::watch_keyframe_requests(TierKey key, GstElement* tee)
{
    GRef<GstPad> sink = adopt_ref(gst_element_get_static_pad(tee, "sink"));
    keyframes_[key] = coalesce_keyframe_requests(sink.get(), GST_OBJECT(bin_));
}

SinkStream::KeyframeCounts SinkStream::keyframe_counts() const
{
    std::lock_guard<std::mutex> guard(lock_);
    KeyframeCounts total;
    for (const auto& [codec, coalescer] : keyframes_) {
        KeyframeCoalescer::Counts c = coalescer->counts();
        total.requests += c.requests;
        total.forwarded += c.forwarded;
    }
    return total;
}

// With the lock held, on the streaming thread.
bool SinkStream::build(GstCaps* caps, std::string& error)
{
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const char* media = gst_structure_get_name(s);
    std::vector<GstElement*> chain;
    bool raw = g_str_equal(media, video_ ? "video/x-raw" : "audio/x-raw");
    if (raw && video_) {
        gst_structure_get_int(s, "width", &input_width_);
        gst_structure_get_int(s, "height", &input_height_);
    }
    if (raw) {
        GstElement* convert = video_ ? add("videoconvert", "convert") : add("audioconvert", "convert");
        if (!convert) {
            error = std::string("Missing element ") + (video_ ? "videoconvert" : "audioconvert");
            return false;
        }
        chain.push_back(convert);
        if (!video_) {
            GstElement* resample = add("audioresample", "resample");
            if (!resample) {
                error = "Missing element audioresample";
                return false;
            }
            chain.push_back(resample);
        }
        raw_tee_ = gst_element_factory_make("tee", (name_ + "-raw-tee").c_str());
        g_object_set(raw_tee_, "allow-not-linked", TRUE, nullptr);
        gst_bin_add(bin_, raw_tee_);
        elements_.push_back(raw_tee_);
        chain.push_back(raw_tee_);
    } else {
        std::optional<Codec> codec = codec_from_encoded_caps(caps);
        if (!codec || codec_info(*codec).video != video_) {
            error = std::string("Pad ") + name_ + " cannot send " + media + ": give it " +
                    (video_ ? "raw video, H.264 (video/x-h264) or VP8 (video/x-vp8)"
                            : "raw audio or Opus (audio/x-opus)");
            return false;
        }
        std::vector<std::string> missing = missing_elements(*codec, false, false);
        if (!missing.empty()) {
            error = "Missing GStreamer element " + missing[0] + " for " + codec_info(*codec).name;
            return false;
        }
        input_codec_ = codec;
        if (*codec == Codec::H264)
            input_h264_profile_ = signalbin::h264_profile_level_id(caps); // what the SDP must say of this stream
        if (const char* parser = codec_info(*codec).parser)
            chain.push_back(add(parser, "parse"));
        GstElement* tee = make_tee();
        gst_object_set_name(GST_OBJECT(tee), (name_ + "-" + codec_info(*codec).name + "-tee").c_str());
        gst_bin_add(bin_, tee);
        elements_.push_back(tee);
        chain.push_back(tee);
        codec_tees_[*codec] = tee;
        tiers_[{*codec, 0}].tee = tee;
        if (video_)
            watch_keyframe_requests({*codec, 0}, tee);
    }
    GstElement* sink = add("fakesink", "sink");
    g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, nullptr);
    chain.push_back(sink);

    GstElement* previous = entry_;
    for (GstElement* e : chain) {
        if (!link(previous, e)) {
            error = std::string("Could not link ") + GST_ELEMENT_NAME(previous) + " to " + GST_ELEMENT_NAME(e);
            return false;
        }
        previous = e;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        gst_element_sync_state_with_parent(*it);

    if (raw) {
        // Start the preferred encoder now: the first consumer then waits for
        // nothing but a key frame.
        std::vector<Codec> usable;
        for (Codec c : settings_.codecs) {
            if (codec_info(c).video == video_ && missing_elements(c, true, false).empty())
                usable.push_back(c);
        }
        if (usable.empty()) {
            error = std::string("No encoder for ") + name_ + ": install x264enc, vp8enc or opusenc, or set " +
                    (video_ ? "video-codecs" : "audio-codecs") + " to codecs you have";
            return false;
        }
        if (!build_encoder_branch(usable.front())) {
            error = std::string("Could not start the ") + codec_info(usable.front()).name + " encoder for " + name_;
            return false;
        }
    }
    return true;
}

// raw tee ! queue ! [scale ! [rate] ! caps] ! encoder ! [caps] ! [parser] ! tee(codec) ! fakesink.
// With the lock held.
// On failure nothing of the branch stays in the bin, so a later try can
// build it again under the same names.
GstElement* SinkStream::build_encoder_branch(Codec codec, unsigned tier)
{
    const CodecInfo& info = codec_info(codec);
    if (info.video != video_ || !missing_elements(codec, true, false).empty())
        return nullptr;
    // A tier's elements may still be on their way out when it is built
    // again: each build has names of its own.
    std::string prefix = name_ + "-" + info.name +
                         (tier > 0 ? "-tier" + std::to_string(tier) + "-" + std::to_string(++tier_builds_) : "");
    unsigned kbps = rung_kbps(tier);
    std::vector<GRef<GstElement>> chain; // our references until the branch runs
    auto make = [&chain](GstElement* e, const std::string& name) {
        if (!e)
            return false;
        gst_object_set_name(GST_OBJECT(e), name.c_str());
        chain.push_back(GRef<GstElement>::ref(e)); // sinks the floating reference
        return true;
    };
    GstElement* queue = gst_element_factory_make("queue", nullptr);
    bool made = make(queue, prefix + "-queue");
    if (made) {
        // Never let encoding fall behind live input: drop raw frames instead.
        g_object_set(queue, "max-size-buffers", 2u, "max-size-bytes", 0u, "max-size-time", G_GUINT64_CONSTANT(0),
                     nullptr);
        gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
    }
    if (made && tier > 0) {
        // The tier's picture: the input scaled down by the rung's divisor
        // (even sizes, as encoders want), at the rung's frame rate if set.
        const Rung& rung = settings_.ladder[tier];
        std::string caps_text = "video/x-raw";
        if (input_width_ > 0 && input_height_ > 0) {
            int width = std::max(16, input_width_ / static_cast<int>(rung.divisor) / 2 * 2);
            int height = std::max(16, input_height_ / static_cast<int>(rung.divisor) / 2 * 2);
            caps_text += ",width=" + std::to_string(width) + ",height=" + std::to_string(height);
        }
        made = make(gst_element_factory_make("videoscale", nullptr), prefix + "-scale");
        if (made && rung.fps > 0) {
            made = make(gst_element_factory_make("videorate", nullptr), prefix + "-rate");
            caps_text += ",framerate=" + std::to_string(rung.fps) + "/1";
        }
        GstElement* filter = made ? gst_element_factory_make("capsfilter", nullptr) : nullptr;
        made = made && make(filter, prefix + "-size");
        if (made) {
            GRef<GstCaps> caps = adopt_ref(gst_caps_from_string(caps_text.c_str()));
            g_object_set(filter, "caps", caps.get(), nullptr);
        }
    }
    GstElement* encoder = nullptr;
    if (made) {
        encoder = make_encoder(codec, settings_.keyframe_interval, kbps);
        made = make(encoder, prefix + "-encoder");
    }
    if (made && codec == Codec::H264) {
        GstElement* filter = gst_element_factory_make("capsfilter", nullptr);
        made = make(filter, prefix + "-caps");
        if (made) {
            GRef<GstCaps> caps = adopt_ref(
                gst_caps_from_string("video/x-h264,profile=constrained-baseline,stream-format=byte-stream"));
            g_object_set(filter, "caps", caps.get(), nullptr);
        }
    }
    if (made && info.parser)
        made = make(gst_element_factory_make(info.parser, nullptr), prefix + "-parse");
    GstElement* tee = nullptr;
    if (made) {
        tee = make_tee();
        made = make(tee, prefix + "-tee");
    }
    if (made) {
        GstElement* sink = gst_element_factory_make("fakesink", nullptr);
        made = make(sink, prefix + "-sink");
        if (made)
            g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, nullptr);
    }
    if (!made) {
        GST_ERROR_OBJECT(bin_, "%s: could not make the elements of the %s encoder", name_.c_str(), info.name);
        return nullptr;
    }

    std::vector<GstElement*> added;
    auto undo = [&](const char* what) {
        GST_ERROR_OBJECT(bin_, "%s: could not start the %s encoder: %s", name_.c_str(), info.name, what);
        for (GstElement* e : added) {
            gst_element_set_locked_state(e, TRUE);
            gst_element_set_state(e, GST_STATE_NULL);
            gst_bin_remove(bin_, e);
        }
        return nullptr;
    };
    for (const GRef<GstElement>& e : chain) {
        if (!gst_bin_add(bin_, e.get()))
            return undo((std::string("could not add ") + GST_ELEMENT_NAME(e.get())).c_str());
        added.push_back(e.get());
    }
    for (size_t i = 1; i < chain.size(); ++i) {
        if (!link(chain[i - 1].get(), chain[i].get()))
            return undo((std::string("could not link ") + GST_ELEMENT_NAME(chain[i - 1].get()) + " to " +
                         GST_ELEMENT_NAME(chain[i].get()))
                            .c_str());
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        gst_element_sync_state_with_parent(it->get());
    if (!link(raw_tee_, queue))
        return undo("could not link the raw tee to it");
    elements_.insert(elements_.end(), added.begin(), added.end());
    if (tier == 0)
        codec_tees_[codec] = tee;
    Tier& t = tiers_[{codec, tier}];
    t.tee = tee;
    t.encoder = encoder;
    t.kbps = kbps;
    if (tier > 0)
        t.elements = added;
    if (video_)
        watch_keyframe_requests({codec, tier}, tee);
    GST_INFO_OBJECT(bin_, "%s: %s encoder started (tier %u, %u kbit/s)", name_.c_str(), info.name, tier, kbps);
    return tee;
}

} // namespace signalbin
