// Ownership of GStreamer values that are not GObjects (GstObject-derived
// types such as GstElement and GstPad already work with GRef as they are).
#pragma once

#include "glib-ptr.h"

#include <gst/gst.h>

namespace signalbin {

SIGNALBIN_DEFINE_REF_TRAITS(GstCaps, gst_caps_ref, gst_caps_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GstPromise, gst_promise_ref, gst_promise_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GstMessage, gst_message_ref, gst_message_unref)
SIGNALBIN_DEFINE_REF_TRAITS(GstEvent, gst_event_ref, gst_event_unref)
SIGNALBIN_DEFINE_DELETER(GstStructure, gst_structure_free)

} // namespace signalbin
