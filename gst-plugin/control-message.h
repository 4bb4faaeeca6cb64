// The messages of the `control` data channel, as webrtcsink, webrtcsrc and
// gstwebrtc-api's remote controller speak them (JSON text):
//
//   request  {"id": 7, "mid": "video0"?, "request": R}
//            R: {"type": "navigationEvent", "event": {"event": "MouseMove",
//                "x": 10, "y": 20, "modifier_state": "shift-mask"}}
//             | {"type": "customUpstreamEvent", "structureName": "name",
//                "structure": {...}}
//             | R as a JSON string
//   response {"type": "ControlResponseMessage", "id": 7, "error": null | "why"}
//
// Navigation events by their name in GStreamer's Rust bindings: MouseMove,
// MouseButtonPress, MouseButtonRelease, MouseScroll, KeyPress, KeyRelease,
// TouchDown, TouchMotion, TouchUp, TouchFrame, TouchCancel, Command.
// No element in here: text in, GstEvent out, and back.
#pragma once

#include "glib-ptr.h"
#include "gst-ptr.h"

#include <gst/gst.h>

#include <optional>
#include <string>

namespace signalbin {

struct ControlRequest {
    guint64 id = 0;
    std::optional<std::string> mid; // the stream it is for; none: every stream of its kind
    GRef<GstEvent> event;           // navigation or custom upstream
    bool navigation() const { return GST_EVENT_TYPE(event.get()) == GST_EVENT_NAVIGATION; }
};

// Parses a request; on failure returns none with `error` saying why and
// `id` set when the request had one (so that the response can name it).
std::optional<ControlRequest> parse_control_request(const std::string& text, std::string& error,
                                                    std::optional<guint64>& id);

std::string control_response(std::optional<guint64> id, const std::optional<std::string>& error);

// A response's id and error; none if `text` is not a response.
struct ControlResponse {
    guint64 id = 0;
    std::optional<std::string> error;
};
std::optional<ControlResponse> parse_control_response(const std::string& text);

// A navigation event as a request; none for an event that is not one, or
// one of a kind the peers do not know.
std::optional<std::string> navigation_request(GstEvent* event, guint64 id, const std::optional<std::string>& mid);

} // namespace signalbin
