#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SIGNAL_SINK (gst_signal_sink_get_type())
G_DECLARE_FINAL_TYPE(GstSignalSink, gst_signal_sink, GST, SIGNAL_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(signalsink);

G_END_DECLS
