// Where one consumer's video branch takes its frames from: the tee of its
// current tier, and while it moves, the tee of the next one too.
//
//   tee(tier a) ! funnel ! queue ! [key-frame gate] ! payloader ! webrtcbin
//   tee(tier b) !
//
// The new tier's frames are held back until its first key frame; that
// frame is the cut: from it on only the new tier passes and the old one is
// dropped, so the payloader (the consumer's own, keeping its SSRC and
// sequence numbers) sees one stream whose picture changes size at a key
// frame, and the peer sees no renegotiation. The decision is taken on the
// funnel's source pad, where frames from both tiers pass one at a time
// (each tier's frames come from its encoder's own thread, which tells them
// apart), so no frame of the old tier can slip in after the cut.
#pragma once

#include "gst-ptr.h"

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace signalbin {

struct TierInput {
    unsigned tier = 0;
    GstElement* tee = nullptr; // the stream's, which outlives the input
    GRef<GstPad> tee_pad;      // requested from tee
    GRef<GstPad> funnel_pad;   // requested from the funnel
};

class TierSwitch {
public:
    // After a cut, on the streaming thread of the new tier.
    using Switched = std::function<void(unsigned from, unsigned to)>;

    // `funnel` belongs to the consumer's bin.
    TierSwitch(GstElement* funnel, Switched on_switched);
    ~TierSwitch();
    TierSwitch(const TierSwitch&) = delete;
    TierSwitch& operator=(const TierSwitch&) = delete;

    // Links `tee` in for `tier`. The first input passes at once; a later
    // one asks its encoder for a key frame and waits for it, which cuts the
    // one before off. With `cut_now` (a move down: the link is congested)
    // the one before stops at once, and the picture freezes until the key
    // frame rather than queue up on the link. False (nothing left of it)
    // if it cannot be linked, or while a move is under way.
    bool add(GstElement* tee, unsigned tier, bool cut_now = false);
    // Takes an input out (cut off already, or at teardown) for the caller
    // to unlink and release; its frames are dropped from now on.
    std::optional<TierInput> take(unsigned tier);
    std::vector<TierInput> take_all();
    // Gives up a move: the input waiting for its key frame (none if the
    // cut came first). A current input cut early resumes at its next key
    // frame, which is asked for.
    std::vector<TierInput> take_target();

    unsigned current() const;
    // A move is under way (a new tier added, its key frame not seen yet).
    bool moving() const;
    // The tee pads of every input, for teardown.
    std::vector<GstPad*> tee_pads() const;

    struct State;

private:
    std::shared_ptr<State> state_;
    GstElement* funnel_;
};

} // namespace signalbin
