// Walking the elements of a bin.
#pragma once

#include "glib-ptr.h"

#include <gst/gst.h>

#include <string>
#include <vector>

namespace signalbin {

// The elements inside `bin` (at every depth with `recurse`), each a reference
// taken while iterating; starts over if the bin changes underneath.
inline std::vector<GRef<GstElement>> bin_elements(GstBin* bin, bool recurse = true)
{
    std::vector<GRef<GstElement>> found;
    GstIterator* it = recurse ? gst_bin_iterate_recurse(bin) : gst_bin_iterate_elements(bin);
    GValue item = G_VALUE_INIT;
    bool done = false;
    while (!done) {
        switch (gst_iterator_next(it, &item)) {
        case GST_ITERATOR_OK:
            found.push_back(GRef<GstElement>::ref(GST_ELEMENT(g_value_get_object(&item))));
            g_value_reset(&item);
            break;
        case GST_ITERATOR_RESYNC:
            found.clear();
            gst_iterator_resync(it);
            break;
        case GST_ITERATOR_ERROR:
        case GST_ITERATOR_DONE:
            done = true;
            break;
        }
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    return found;
}

// The name of the factory that made `element`; empty if none did.
inline std::string factory_name(GstElement* element)
{
    GstElementFactory* factory = gst_element_get_factory(element);
    return factory ? GST_OBJECT_NAME(factory) : "";
}

} // namespace signalbin
