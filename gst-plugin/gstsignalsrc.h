#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SIGNAL_SRC (gst_signal_src_get_type())
G_DECLARE_FINAL_TYPE(GstSignalSrc, gst_signal_src, GST, SIGNAL_SRC, GstBin)

GST_ELEMENT_REGISTER_DECLARE(signalsrc);

G_END_DECLS
