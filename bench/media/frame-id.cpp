#include "frame-id.h"

#include "bench-util.h"

#include <array>
#include <cstring>

namespace signalbin::bench {

namespace {

constexpr int kBlock = 32;
constexpr int kColumns = 8;
constexpr int kRows = 3;
constexpr unsigned kCheckBits = 4;
static_assert(kFrameIdBits + kCheckBits == kColumns * kRows, "one block per bit");
constexpr guint8 kBlack = 16;
constexpr guint8 kWhite = 235;

uint32_t check_of(uint32_t id)
{
    uint32_t c = 0;
    for (unsigned shift = 0; shift < kFrameIdBits; shift += 4)
        c ^= (id >> shift) & 0xF;
    return c ^ 0x5; // so that an all-black (or all-white) corner never passes
}

static_assert(kFrameIdHeight == kBlock * kRows, "the grid's height");

bool fits(const GstVideoFrame* frame, int top)
{
    return GST_VIDEO_FRAME_FORMAT(frame) == GST_VIDEO_FORMAT_I420 && top >= 0 && top % kBlock == 0 &&
           GST_VIDEO_FRAME_WIDTH(frame) >= kBlock * kColumns && GST_VIDEO_FRAME_HEIGHT(frame) >= top + kBlock * kRows;
}

} // namespace

bool write_frame_id(GstVideoFrame* frame, uint32_t id, int top)
{
    if (!fits(frame, top))
        return false;
    id %= kFrameIdModulo;
    uint32_t word = id | (check_of(id) << kFrameIdBits);
    auto* y = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
    int y_stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
    for (int bit = 0; bit < kColumns * kRows; ++bit) {
        int x0 = (bit % kColumns) * kBlock;
        int y0 = top + (bit / kColumns) * kBlock;
        guint8 value = (word >> bit) & 1 ? kWhite : kBlack;
        for (int row = 0; row < kBlock; ++row)
            std::memset(y + static_cast<size_t>(y0 + row) * y_stride + x0, value, kBlock);
    }
    // Neutral chroma under the grid, so it is grey and cheap to code.
    for (int plane = 1; plane <= 2; ++plane) {
        auto* c = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(frame, plane));
        int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, plane);
        for (int row = top / 2; row < (top + kBlock * kRows) / 2; ++row)
            std::memset(c + static_cast<size_t>(row) * stride, 128, kBlock * kColumns / 2);
    }
    return true;
}

std::optional<uint32_t> read_frame_id(const GstVideoFrame* frame, int top)
{
    if (!fits(frame, top))
        return std::nullopt;
    const auto* y = static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
    int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
    uint32_t word = 0;
    for (int bit = 0; bit < kColumns * kRows; ++bit) {
        // The mean of the block's central 16x16.
        int x0 = (bit % kColumns) * kBlock + kBlock / 4;
        int y0 = top + (bit / kColumns) * kBlock + kBlock / 4;
        unsigned sum = 0;
        for (int row = 0; row < kBlock / 2; ++row) {
            const guint8* line = y + static_cast<size_t>(y0 + row) * stride + x0;
            for (int col = 0; col < kBlock / 2; ++col)
                sum += line[col];
        }
        unsigned mean = sum / (kBlock / 2 * kBlock / 2);
        if (mean > 160)
            word |= 1u << bit;
        else if (mean >= 90)
            return std::nullopt; // neither black nor white
    }
    uint32_t id = word & (kFrameIdModulo - 1);
    if ((word >> kFrameIdBits) != check_of(id))
        return std::nullopt;
    return id;
}

bool map_probe_frame(GstPad* pad, GstPadProbeInfo* info, GstVideoFrame* frame, GstMapFlags flags)
{
    GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
    GstVideoInfo vinfo;
    if (!caps || !gst_video_info_from_caps(&vinfo, caps.get()))
        return false;
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    if (flags & GST_MAP_WRITE) {
        buffer = gst_buffer_make_writable(buffer);
        GST_PAD_PROBE_INFO_DATA(info) = buffer;
    }
    return gst_video_frame_map(frame, &vinfo, buffer, flags);
}

// ---- FrameStamper ---------------------------------------------------------------------

namespace {
constexpr size_t kRing = 8192; // frames remembered: 4.5 minutes at 30 fps
}

struct FrameStamper::State {
    mutable std::mutex lock;
    std::array<std::pair<uint32_t, gint64>, kRing> ring {};
    uint64_t next = 0;
};

FrameStamper::FrameStamper() : state_(std::make_shared<State>())
{
    for (auto& entry : state_->ring)
        entry = {UINT32_MAX, 0};
}

FrameStamper::~FrameStamper()
{
    if (pad_ && probe_)
        gst_pad_remove_probe(pad_.get(), probe_);
}

void FrameStamper::attach(GstPad* pad)
{
    pad_ = GRef<GstPad>::ref(pad);
    auto* held = new std::shared_ptr<State>(state_);
    probe_ = gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad* pad, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            gint64 now = now_us();
            State& state = **static_cast<std::shared_ptr<State>*>(data);
            GstVideoFrame frame;
            if (!map_probe_frame(pad, info, &frame, GST_MAP_WRITE))
                return GST_PAD_PROBE_OK;
            uint32_t id;
            {
                std::lock_guard<std::mutex> guard(state.lock);
                id = static_cast<uint32_t>(state.next % kFrameIdModulo);
            }
            bool written = write_frame_id(&frame, id);
            gst_video_frame_unmap(&frame);
            if (written) {
                std::lock_guard<std::mutex> guard(state.lock);
                state.ring[id % kRing] = {id, now};
                ++state.next;
            }
            return GST_PAD_PROBE_OK;
        },
        held, [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
}

std::optional<gint64> FrameStamper::capture_time(uint32_t id) const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    const auto& entry = state_->ring[id % kRing];
    if (entry.first != id)
        return std::nullopt;
    return entry.second;
}

uint64_t FrameStamper::stamped() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return state_->next;
}

// ---- FrameLatency ---------------------------------------------------------------------

struct FrameLatency::State {
    const FrameStamper* stamper = nullptr;
    mutable std::mutex lock;
    bool recording = false;
    uint64_t frames = 0;
    Samples samples;
    bool have_range = false;

    // Reads the id of `buffer` under `caps`; nullopt (counted) if unreadable.
    std::optional<uint32_t> read(GstBuffer* buffer, GstCaps* caps)
    {
        GstVideoInfo vinfo;
        if (!caps || !gst_video_info_from_caps(&vinfo, caps))
            return std::nullopt;
        GstVideoFrame frame;
        if (!gst_video_frame_map(&frame, &vinfo, buffer, GST_MAP_READ))
            return std::nullopt;
        std::optional<uint32_t> id = read_frame_id(&frame);
        gst_video_frame_unmap(&frame);
        return id;
    }

    void record(std::optional<uint32_t> id, gint64 now, bool displayed)
    {
        std::optional<gint64> captured = id ? stamper->capture_time(*id) : std::nullopt;
        std::lock_guard<std::mutex> guard(lock);
        if (displayed)
            ++frames;
        if (!recording)
            return;
        if (!id) {
            if (displayed)
                ++samples.unreadable;
            return;
        }
        if (!captured) {
            if (displayed)
                ++samples.unknown;
            return;
        }
        double ms = static_cast<double>(now - *captured) / 1000.0;
        (displayed ? samples.displayed_ms : samples.decoded_ms).push_back(ms);
        if (displayed) {
            if (!have_range)
                samples.first_id = *id;
            have_range = true;
            samples.last_id = *id;
        }
    }
};

FrameLatency::FrameLatency(const FrameStamper& stamper) : state_(std::make_shared<State>())
{
    state_->stamper = &stamper;
}

FrameLatency::~FrameLatency()
{
    if (pad_ && probe_)
        gst_pad_remove_probe(pad_.get(), probe_);
    if (sink_ && handoff_)
        g_signal_handler_disconnect(sink_.get(), handoff_);
}

void FrameLatency::attach(GstElement* decoded, GstElement* displayed)
{
    GstElement* sink = displayed;
    sink_ = GRef<GstElement>::ref(displayed);
    pad_ = adopt_ref(gst_element_get_static_pad(decoded, "sink"));
    auto* held = new std::shared_ptr<State>(state_);
    probe_ = gst_pad_add_probe(
        pad_.get(), GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad* pad, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            gint64 now = now_us();
            State& state = **static_cast<std::shared_ptr<State>*>(data);
            GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
            state.record(state.read(GST_PAD_PROBE_INFO_BUFFER(info), caps.get()), now, false);
            return GST_PAD_PROBE_OK;
        },
        held, [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
    auto* held2 = new std::shared_ptr<State>(state_);
    handoff_ = g_signal_connect_data(
        sink, "handoff",
        G_CALLBACK(+[](GstElement*, GstBuffer* buffer, GstPad* pad, gpointer data) {
            gint64 now = now_us();
            State& state = **static_cast<std::shared_ptr<State>*>(data);
            GRef<GstCaps> caps = adopt_ref(gst_pad_get_current_caps(pad));
            state.record(state.read(buffer, caps.get()), now, true);
        }),
        held2, [](gpointer data, GClosure*) { delete static_cast<std::shared_ptr<State>*>(data); },
        static_cast<GConnectFlags>(0));
}

uint64_t FrameLatency::frames() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return state_->frames;
}

void FrameLatency::start_recording()
{
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->samples = Samples {};
    state_->have_range = false;
    state_->recording = true;
}

void FrameLatency::stop_recording()
{
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->recording = false;
}

FrameLatency::Samples FrameLatency::samples() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return state_->samples;
}

} // namespace signalbin::bench
