#include "tier-switch.h"

#include "keyframe-coalescer.h"

#include <gst/video/video.h>

#include <algorithm>
#include <mutex>

namespace signalbin {

namespace {

struct Input {
    TierInput pads;
    gulong probe = 0;          // on pads.tee_pad; removed when the input is taken out
    GThread* thread = nullptr; // that pushes its frames: its encoder's
    bool started = false;      // its first key frame has passed
    bool cut = false;
};

// The probe holds the input, which holds the pad: removing the probe when
// the input leaves breaks the cycle, so pad and input are freed.
void remove_probe(const std::shared_ptr<Input>& in)
{
    if (in->probe)
        gst_pad_remove_probe(in->pads.tee_pad.get(), in->probe);
    in->probe = 0;
}

} // namespace

struct TierSwitch::State {
    mutable std::mutex lock;
    std::vector<std::shared_ptr<Input>> inputs;
    std::shared_ptr<Input> current;
    std::shared_ptr<Input> target;
    Switched on_switched;
};

namespace {

struct TeeProbe {
    std::shared_ptr<TierSwitch::State> state;
    std::shared_ptr<Input> input;
};

GstPadProbeReturn on_tee_data(GstPad*, GstPadProbeInfo* info, gpointer data)
{
    auto* probe = static_cast<TeeProbe*>(data);
    std::lock_guard<std::mutex> guard(probe->state->lock);
    Input& in = *probe->input;
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
        // Sticky events (caps, segment) are kept by the funnel's pad for
        // when it goes live. Others (a downstream force-key-unit, a gap)
        // pass only from the live input: the funnel would send the other
        // tier's caps along with them.
        GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
        if (GST_EVENT_IS_STICKY(event) || !GST_EVENT_IS_SERIALIZED(event))
            return GST_PAD_PROBE_OK;
        return probe->state->current == probe->input ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
    }
    if (in.cut)
        return GST_PAD_PROBE_DROP;
    in.thread = g_thread_self();
    if (!in.started) {
        if (GST_BUFFER_FLAG_IS_SET(GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_FLAG_DELTA_UNIT))
            return GST_PAD_PROBE_DROP;
        in.started = true;
    }
    return GST_PAD_PROBE_OK;
}

// Frames of every input, one at a time (the funnel pushes under its lock).
GstPadProbeReturn on_funnel_buffer(GstPad*, GstPadProbeInfo*, gpointer data)
{
    auto& state = *static_cast<std::shared_ptr<TierSwitch::State>*>(data);
    GThread* self = g_thread_self();
    bool pass = false;
    std::optional<std::pair<unsigned, unsigned>> switched;
    TierSwitch::Switched notify;
    {
        std::lock_guard<std::mutex> guard(state->lock);
        if (state->target && state->target->thread == self && state->target->started) {
            unsigned from = state->current ? state->current->pads.tier : state->target->pads.tier;
            if (state->current)
                state->current->cut = true;
            state->current = state->target;
            state->target.reset();
            switched = std::make_pair(from, state->current->pads.tier);
            notify = state->on_switched;
        }
        pass = state->current && state->current->thread == self;
    }
    if (switched && notify)
        notify(switched->first, switched->second);
    return pass ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

} // namespace

TierSwitch::TierSwitch(GstElement* funnel, Switched on_switched)
    : state_(std::make_shared<State>()), funnel_(funnel)
{
    state_->on_switched = std::move(on_switched);
    GRef<GstPad> src = adopt_ref(gst_element_get_static_pad(funnel_, "src"));
    gst_pad_add_probe(src.get(), GST_PAD_PROBE_TYPE_BUFFER, on_funnel_buffer,
                      new std::shared_ptr<State>(state_),
                      [](gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); });
}

TierSwitch::~TierSwitch()
{
    // The probes may outlive us; they must not call back into a consumer
    // that is gone.
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->on_switched = nullptr;
}

bool TierSwitch::add(GstElement* tee, unsigned tier, bool cut_now)
{
    bool first = false;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        if (state_->target)
            return false; // one move at a time
        first = !state_->current;
    }
    auto input = std::make_shared<Input>();
    input->pads.tier = tier;
    input->pads.tee = tee;
    input->started = first; // the branch's own gate waits for the first key frame
    input->pads.tee_pad = adopt_ref(gst_element_request_pad_simple(tee, "src_%u"));
    input->pads.funnel_pad = adopt_ref(gst_element_request_pad_simple(funnel_, "sink_%u"));
    auto release = [&] {
        remove_probe(input);
        if (input->pads.tee_pad)
            gst_element_release_request_pad(tee, input->pads.tee_pad.get());
        if (input->pads.funnel_pad)
            gst_element_release_request_pad(funnel_, input->pads.funnel_pad.get());
        return false;
    };
    if (!input->pads.tee_pad || !input->pads.funnel_pad)
        return release();
    // Linked before it is known to the switch: until then the funnel's
    // probe drops its frames (not the live input's thread), and the tee's
    // holds them back until a key frame.
    input->probe = gst_pad_add_probe(
        input->pads.tee_pad.get(),
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM), on_tee_data,
        new TeeProbe {state_, input}, [](gpointer data) { delete static_cast<TeeProbe*>(data); });
    if (gst_pad_link(input->pads.tee_pad.get(), input->pads.funnel_pad.get()) != GST_PAD_LINK_OK)
        return release();
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        state_->inputs.push_back(input);
        if (first) {
            state_->current = input;
        } else {
            state_->target = input;
            if (cut_now && state_->current)
                state_->current->cut = true;
        }
    }
    // Up through the tee to the tier's encoder (coalesced there).
    if (!first)
        gst_pad_push_event(input->pads.funnel_pad.get(), new_keyframe_request());
    return true;
}

std::vector<TierInput> TierSwitch::take_target()
{
    std::shared_ptr<Input> target, resumed;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        if (!state_->target)
            return {};
        target = std::move(state_->target);
        target->cut = true;
        state_->inputs.erase(std::remove(state_->inputs.begin(), state_->inputs.end(), target),
                             state_->inputs.end());
        if (state_->current && state_->current->cut) {
            state_->current->cut = false;
            state_->current->started = false;
            resumed = state_->current;
        }
    }
    remove_probe(target);
    if (resumed)
        gst_pad_push_event(resumed->pads.funnel_pad.get(), new_keyframe_request());
    return {target->pads};
}

std::optional<TierInput> TierSwitch::take(unsigned tier)
{
    std::shared_ptr<Input> taken;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        auto it = std::find_if(state_->inputs.begin(), state_->inputs.end(),
                               [tier](const std::shared_ptr<Input>& in) { return in->pads.tier == tier && in->cut; });
        if (it == state_->inputs.end())
            return std::nullopt;
        taken = *it;
        state_->inputs.erase(it);
    }
    remove_probe(taken);
    return taken->pads;
}

std::vector<TierInput> TierSwitch::take_all()
{
    std::vector<std::shared_ptr<Input>> all;
    {
        std::lock_guard<std::mutex> guard(state_->lock);
        for (const std::shared_ptr<Input>& in : state_->inputs)
            in->cut = true;
        all.swap(state_->inputs);
        state_->current.reset();
        state_->target.reset();
    }
    std::vector<TierInput> pads;
    for (const std::shared_ptr<Input>& in : all) {
        remove_probe(in);
        pads.push_back(in->pads);
    }
    return pads;
}

unsigned TierSwitch::current() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return state_->current ? state_->current->pads.tier : 0;
}

bool TierSwitch::moving() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    return static_cast<bool>(state_->target);
}

std::vector<GstPad*> TierSwitch::tee_pads() const
{
    std::lock_guard<std::mutex> guard(state_->lock);
    std::vector<GstPad*> pads;
    for (const std::shared_ptr<Input>& in : state_->inputs)
        pads.push_back(in->pads.tee_pad.get());
    return pads;
}

} // namespace signalbin
