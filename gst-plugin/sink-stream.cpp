#include "sink-stream.h"

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
    std::lock_guard<std::mutex> guard(lock_);
    for (GstElement* e : elements_) {
        gst_element_set_locked_state(e, TRUE);
        gst_element_set_state(e, GST_STATE_NULL);
        gst_bin_remove(bin_, e);
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

GstElement* SinkStream::tee_for(Codec codec)
{
    std::lock_guard<std::mutex> guard(lock_);
    auto it = codec_tees_.find(codec);
    if (it != codec_tees_.end())
        return it->second;
    if (!built_ || !raw_tee_)
        return nullptr;
    return build_encoder_branch(codec);
}

GstPadProbeReturn SinkStream::on_entry_event(GstPad*, GstPadProbeInfo* info, gpointer data)
{
    auto* self = static_cast<SinkStream*>(data);
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
        return GST_PAD_PROBE_OK;
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    std::string error;
    bool ok;
    {
        std::lock_guard<std::mutex> guard(self->lock_);
        if (self->built_ || self->failed_) {
            // Later caps: only a change of codec on encoded input is a problem.
            if (self->input_codec_ && codec_from_encoded_caps(caps) != self->input_codec_) {
                GCharPtr text(gst_caps_to_string(caps));
                self->on_error_("Input of " + self->name_ + " changed codec mid-stream",
                                std::string("new caps: ") + text.get());
                return GST_PAD_PROBE_DROP;
            }
            return GST_PAD_PROBE_OK;
        }
        ok = self->build(caps, error);
        if (ok)
            self->built_ = true;
        else
            self->failed_ = true;
    }
    if (!ok) {
        GCharPtr text(gst_caps_to_string(caps));
        self->on_error_(error, std::string("caps: ") + text.get());
        return GST_PAD_PROBE_DROP;
    }
    self->on_ready_();
    return GST_PAD_PROBE_OK;
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

// With the lock held, on the streaming thread.
bool SinkStream::build(GstCaps* caps, std::string& error)
{
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const char* media = gst_structure_get_name(s);
    std::vector<GstElement*> chain;
    bool raw = g_str_equal(media, video_ ? "video/x-raw" : "audio/x-raw");
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
        if (const char* parser = codec_info(*codec).parser)
            chain.push_back(add(parser, "parse"));
        GstElement* tee = make_tee();
        gst_object_set_name(GST_OBJECT(tee), (name_ + "-" + codec_info(*codec).name + "-tee").c_str());
        gst_bin_add(bin_, tee);
        elements_.push_back(tee);
        chain.push_back(tee);
        codec_tees_[*codec] = tee;
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

// raw tee ! queue ! encoder ! [caps] ! [parser] ! tee(codec) ! fakesink. With the lock held.
GstElement* SinkStream::build_encoder_branch(Codec codec)
{
    const CodecInfo& info = codec_info(codec);
    if (info.video != video_ || !missing_elements(codec, true, false).empty())
        return nullptr;
    std::string prefix = name_ + "-" + info.name;
    std::vector<GstElement*> chain;
    GstElement* queue = gst_element_factory_make("queue", (prefix + "-queue").c_str());
    // Never let encoding fall behind live input: drop raw frames instead.
    g_object_set(queue, "max-size-buffers", 2u, "max-size-bytes", 0u, "max-size-time", G_GUINT64_CONSTANT(0), nullptr);
    gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
    chain.push_back(queue);
    GstElement* encoder = make_encoder(codec, settings_.keyframe_interval, settings_.bitrate_kbps);
    gst_object_set_name(GST_OBJECT(encoder), (prefix + "-encoder").c_str());
    chain.push_back(encoder);
    if (codec == Codec::H264) {
        GstElement* filter = gst_element_factory_make("capsfilter", (prefix + "-caps").c_str());
        GstCaps* caps = gst_caps_from_string("video/x-h264,profile=constrained-baseline,stream-format=byte-stream");
        g_object_set(filter, "caps", caps, nullptr);
        gst_caps_unref(caps);
        chain.push_back(filter);
    }
    if (info.parser)
        chain.push_back(gst_element_factory_make(info.parser, (prefix + "-parse").c_str()));
    GstElement* tee = make_tee();
    gst_object_set_name(GST_OBJECT(tee), (prefix + "-tee").c_str());
    chain.push_back(tee);
    GstElement* sink = gst_element_factory_make("fakesink", (prefix + "-sink").c_str());
    g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, nullptr);
    chain.push_back(sink);

    for (GstElement* e : chain) {
        gst_bin_add(bin_, e);
        elements_.push_back(e);
    }
    GstElement* previous = nullptr;
    for (GstElement* e : chain) {
        if (previous && !link(previous, e)) {
            GST_ERROR("could not link %s to %s", GST_ELEMENT_NAME(previous), GST_ELEMENT_NAME(e));
            return nullptr;
        }
        previous = e;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        gst_element_sync_state_with_parent(*it);
    if (!link(raw_tee_, queue)) {
        GST_ERROR("could not link %s to its encoder", GST_ELEMENT_NAME(raw_tee_));
        return nullptr;
    }
    codec_tees_[codec] = tee;
    GST_INFO("%s: %s encoder started", name_.c_str(), info.name);
    return tee;
}

} // namespace signalbin
