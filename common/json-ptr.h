// Ownership of json-glib values.
#pragma once

#include "glib-ptr.h"

#include <json-glib/json-glib.h>

namespace signalbin {

SIGNALBIN_DEFINE_REF_TRAITS(JsonNode, json_node_ref, json_node_unref)
SIGNALBIN_DEFINE_REF_TRAITS(JsonObject, json_object_ref, json_object_unref)
SIGNALBIN_DEFINE_REF_TRAITS(JsonArray, json_array_ref, json_array_unref)

} // namespace signalbin
