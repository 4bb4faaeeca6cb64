#include "structure-json.h"

namespace signalbin {

protocol::Json structure_to_json(const GstStructure* structure)
{
    JsonObject* object = json_object_new();
    gst_structure_foreach(
        structure,
        [](GQuark field, const GValue* value, gpointer data) -> gboolean {
            auto* obj = static_cast<JsonObject*>(data);
            const char* name = g_quark_to_string(field);
            GType type = G_VALUE_TYPE(value);
            if (type == G_TYPE_STRING)
                json_object_set_string_member(obj, name, g_value_get_string(value) ? g_value_get_string(value) : "");
            else if (type == G_TYPE_BOOLEAN)
                json_object_set_boolean_member(obj, name, g_value_get_boolean(value));
            else if (type == G_TYPE_INT)
                json_object_set_int_member(obj, name, g_value_get_int(value));
            else if (type == G_TYPE_UINT)
                json_object_set_int_member(obj, name, g_value_get_uint(value));
            else if (type == G_TYPE_INT64)
                json_object_set_int_member(obj, name, g_value_get_int64(value));
            else if (type == G_TYPE_DOUBLE)
                json_object_set_double_member(obj, name, g_value_get_double(value));
            else if (type == G_TYPE_FLOAT)
                json_object_set_double_member(obj, name, g_value_get_float(value));
            else {
                GCharPtr text(gst_value_serialize(value));
                json_object_set_string_member(obj, name, text ? text.get() : "");
            }
            return TRUE;
        },
        object);
    protocol::Json json = protocol::Json::object(object);
    json_object_unref(object);
    return json;
}

} // namespace signalbin
