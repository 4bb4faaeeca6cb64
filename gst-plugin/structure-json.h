// GstStructure to JSON, for a producer's `meta` (a GstStructure property,
// sent as a JSON object).
#pragma once

#include "protocol.h"

#include <gst/gst.h>

namespace signalbin {

// Strings, booleans, integers and doubles keep their type; anything else is
// sent as its serialised string. The structure's name is not sent.
protocol::Json structure_to_json(const GstStructure* structure);

} // namespace signalbin
