#include "control-message.h"

#include "json-ptr.h"
#include "protocol.h"

#include <gst/video/navigation.h>
#include <gst/video/video-enumtypes.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <string_view>

namespace signalbin {

namespace {

JsonObject* object_member(JsonObject* o, const char* name)
{
    JsonNode* n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
}

std::optional<std::string> string_member(JsonObject* o, const char* name)
{
    JsonNode* n = json_object_get_member(o, name);
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        return std::string(json_node_get_string(n));
    return std::nullopt;
}

std::optional<double> number_member(JsonObject* o, const char* name)
{
    JsonNode* n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return std::nullopt;
    GType type = json_node_get_value_type(n);
    if (type == G_TYPE_INT64)
        return static_cast<double>(json_node_get_int(n));
    if (type == G_TYPE_DOUBLE) {
        double v = json_node_get_double(n);
        return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
    }
    return std::nullopt;
}

// "control-mask+shift-mask", "CONTROL_MASK | SHIFT_MASK" or "" to flags.
std::optional<GstNavigationModifierType> modifiers(JsonObject* o, std::string& error)
{
    if (!json_object_has_member(o, "modifier_state"))
        return GST_NAVIGATION_MODIFIER_NONE;
    std::optional<std::string> text = string_member(o, "modifier_state");
    if (!text) {
        error = "modifier_state is not a string";
        return std::nullopt;
    }
    auto* klass = static_cast<GFlagsClass*>(g_type_class_ref(GST_TYPE_NAVIGATION_MODIFIER_TYPE));
    guint flags = 0;
    std::string word;
    bool ok = true;
    auto take = [&] {
        if (word.empty())
            return;
        for (char& c : word)
            c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const GFlagsValue* v = g_flags_get_value_by_nick(klass, word.c_str()))
            flags |= v->value;
        else if (word != "none")
            ok = false, error = "unknown modifier " + word;
        word.clear();
    };
    for (char c : *text) {
        if (c == '+' || c == '|' || c == ' ')
            take();
        else
            word += c;
    }
    take();
    g_type_class_unref(klass);
    if (!ok)
        return std::nullopt;
    return static_cast<GstNavigationModifierType>(flags);
}

// "PrevAngle" or "prev-angle" to GST_NAVIGATION_COMMAND_PREV_ANGLE.
std::optional<GstNavigationCommand> command(JsonObject* o)
{
    JsonNode* n = json_object_get_member(o, "command");
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return std::nullopt;
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        return static_cast<GstNavigationCommand>(json_node_get_int(n));
    if (json_node_get_value_type(n) != G_TYPE_STRING)
        return std::nullopt;
    std::string nick;
    for (const char* p = json_node_get_string(n); *p; ++p) {
        if (std::isupper(static_cast<unsigned char>(*p)) && !nick.empty() && nick.back() != '-')
            nick += '-';
        nick += static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
    }
    auto* klass = static_cast<GEnumClass*>(g_type_class_ref(GST_TYPE_NAVIGATION_COMMAND));
    const GEnumValue* v = g_enum_get_value_by_nick(klass, nick.c_str());
    std::optional<GstNavigationCommand> result;
    if (v)
        result = static_cast<GstNavigationCommand>(v->value);
    g_type_class_unref(klass);
    return result;
}

GstEvent* navigation_event(JsonObject* e, std::string& error)
{
    std::optional<std::string> kind = string_member(e, "event");
    if (!kind) {
        error = "the navigation event has no \"event\" name";
        return nullptr;
    }
    std::optional<GstNavigationModifierType> state = modifiers(e, error);
    if (!state)
        return nullptr;
    auto need = [&](const char* name) -> std::optional<double> {
        std::optional<double> v = number_member(e, name);
        if (!v)
            error = *kind + " needs a number \"" + name + "\"";
        return v;
    };
    auto id = [&]() -> std::optional<guint> {
        std::optional<double> v = need("identifier");
        if (v && (*v < 0 || *v > std::numeric_limits<guint>::max())) {
            error = *kind + ": identifier out of range";
            return std::nullopt;
        }
        return v ? std::optional<guint>(static_cast<guint>(*v)) : std::nullopt;
    };
    const std::string& k = *kind;
    if (k == "MouseMove") {
        auto x = need("x"), y = need("y");
        return x && y ? gst_navigation_event_new_mouse_move(*x, *y, *state) : nullptr;
    }
    if (k == "MouseButtonPress" || k == "MouseButtonRelease") {
        auto button = need("button"), x = need("x"), y = need("y");
        if (!button || !x || !y)
            return nullptr;
        int b = static_cast<int>(*button);
        return k == "MouseButtonPress" ? gst_navigation_event_new_mouse_button_press(b, *x, *y, *state)
                                       : gst_navigation_event_new_mouse_button_release(b, *x, *y, *state);
    }
    if (k == "MouseScroll") {
        auto x = need("x"), y = need("y"), dx = need("delta_x"), dy = need("delta_y");
        return x && y && dx && dy ? gst_navigation_event_new_mouse_scroll(*x, *y, *dx, *dy, *state) : nullptr;
    }
    if (k == "KeyPress" || k == "KeyRelease") {
        std::optional<std::string> key = string_member(e, "key");
        if (!key || key->empty()) {
            error = k + " needs a string \"key\"";
            return nullptr;
        }
        return k == "KeyPress" ? gst_navigation_event_new_key_press(key->c_str(), *state)
                               : gst_navigation_event_new_key_release(key->c_str(), *state);
    }
    if (k == "TouchDown" || k == "TouchMotion") {
        auto ident = id();
        auto x = need("x"), y = need("y");
        if (!ident || !x || !y)
            return nullptr;
        double pressure = number_member(e, "pressure").value_or(NAN);
        return k == "TouchDown" ? gst_navigation_event_new_touch_down(*ident, *x, *y, pressure, *state)
                                : gst_navigation_event_new_touch_motion(*ident, *x, *y, pressure, *state);
    }
    if (k == "TouchUp") {
        auto ident = id();
        auto x = need("x"), y = need("y");
        return ident && x && y ? gst_navigation_event_new_touch_up(*ident, *x, *y, *state) : nullptr;
    }
    if (k == "TouchFrame")
        return gst_navigation_event_new_touch_frame(*state);
    if (k == "TouchCancel")
        return gst_navigation_event_new_touch_cancel(*state);
    if (k == "Command") {
        std::optional<GstNavigationCommand> c = command(e);
        if (!c) {
            error = "Command needs a known \"command\"";
            return nullptr;
        }
        return gst_navigation_event_new_command(*c);
    }
    error = "unknown navigation event " + k;
    return nullptr;
}

// A JSON object's members as fields of `s`: strings, booleans, integers
// (gint when they fit, else gint64), doubles and objects (structures).
bool fill_structure(GstStructure* s, JsonObject* o, int depth, std::string& error)
{
    if (depth > 8) {
        error = "the structure is nested too deep";
        return false;
    }
    GList* members = json_object_get_members(o);
    bool ok = true;
    for (GList* m = members; m && ok; m = m->next) {
        const char* name = static_cast<const char*>(m->data);
        JsonNode* n = json_object_get_member(o, name);
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            GstStructure* inner = gst_structure_new_empty(name);
            ok = fill_structure(inner, json_node_get_object(n), depth + 1, error);
            if (ok)
                gst_structure_set(s, name, GST_TYPE_STRUCTURE, inner, nullptr);
            gst_structure_free(inner);
            continue;
        }
        if (!JSON_NODE_HOLDS_VALUE(n))
            continue; // null and arrays are left out
        GType type = json_node_get_value_type(n);
        if (type == G_TYPE_STRING) {
            gst_structure_set(s, name, G_TYPE_STRING, json_node_get_string(n), nullptr);
        } else if (type == G_TYPE_BOOLEAN) {
            gst_structure_set(s, name, G_TYPE_BOOLEAN, json_node_get_boolean(n), nullptr);
        } else if (type == G_TYPE_INT64) {
            gint64 v = json_node_get_int(n);
            if (v >= G_MININT && v <= G_MAXINT)
                gst_structure_set(s, name, G_TYPE_INT, static_cast<gint>(v), nullptr);
            else
                gst_structure_set(s, name, G_TYPE_INT64, v, nullptr);
        } else if (type == G_TYPE_DOUBLE) {
            gst_structure_set(s, name, G_TYPE_DOUBLE, json_node_get_double(n), nullptr);
        }
    }
    g_list_free(members);
    return ok;
}

// As GStreamer wants a structure's name: a letter, then letters, digits
// and "/-_.:+".
bool valid_structure_name(const std::string& name)
{
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
        return false;
    for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("/-_.:+").find(c) == std::string_view::npos)
            return false;
    }
    return true;
}

GstEvent* custom_upstream_event(JsonObject* r, std::string& error)
{
    std::optional<std::string> name = string_member(r, "structureName");
    if (!name || !valid_structure_name(*name)) {
        error = "customUpstreamEvent needs a valid \"structureName\"";
        return nullptr;
    }
    GstStructure* s = gst_structure_new_empty(name->c_str());
    if (JsonObject* fields = object_member(r, "structure")) {
        if (!fill_structure(s, fields, 0, error)) {
            gst_structure_free(s);
            return nullptr;
        }
    }
    return gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, s);
}

std::string to_text(JsonBuilder* builder)
{
    GRef<JsonNode> root = adopt_ref(json_builder_get_root(builder));
    GCharPtr text(json_to_string(root.get(), FALSE));
    return text.get();
}

std::string modifier_text(GstNavigationModifierType state)
{
    auto* klass = static_cast<GFlagsClass*>(g_type_class_ref(GST_TYPE_NAVIGATION_MODIFIER_TYPE));
    std::string text;
    for (guint i = 0; i < klass->n_values; ++i) {
        const GFlagsValue& v = klass->values[i];
        // One bit each; the masks that name several (none, mask) are left out.
        if (v.value == 0 || (v.value & (v.value - 1)) != 0 || (state & v.value) == 0)
            continue;
        if (!text.empty())
            text += '+';
        text += v.value_nick;
    }
    g_type_class_unref(klass);
    return text;
}

} // namespace

std::optional<ControlRequest> parse_control_request(const std::string& text, std::string& error,
                                                    std::optional<guint64>& id)
{
    id.reset();
    std::optional<protocol::Json> json = protocol::Json::parse(text);
    if (!json || json->is_null() || !JSON_NODE_HOLDS_OBJECT(json->node())) {
        error = "not a JSON object";
        return std::nullopt;
    }
    JsonObject* o = json_node_get_object(json->node());
    std::optional<double> raw_id = number_member(o, "id");
    if (!raw_id || *raw_id < 0 || *raw_id != std::floor(*raw_id)) {
        error = "no request \"id\"";
        return std::nullopt;
    }
    id = static_cast<guint64>(*raw_id);
    ControlRequest request;
    request.id = *id;
    request.mid = string_member(o, "mid");

    // The request, or a string holding it.
    std::optional<protocol::Json> inner;
    JsonObject* r = object_member(o, "request");
    if (!r) {
        if (std::optional<std::string> s = string_member(o, "request")) {
            inner = protocol::Json::parse(*s);
            if (inner && !inner->is_null() && JSON_NODE_HOLDS_OBJECT(inner->node()))
                r = json_node_get_object(inner->node());
        }
    }
    if (!r) {
        error = "no \"request\" object";
        return std::nullopt;
    }
    std::optional<std::string> type = string_member(r, "type");
    GstEvent* event = nullptr;
    if (type == "navigationEvent") {
        JsonObject* e = object_member(r, "event");
        if (!e) {
            error = "navigationEvent has no \"event\" object";
            return std::nullopt;
        }
        event = navigation_event(e, error);
    } else if (type == "customUpstreamEvent") {
        event = custom_upstream_event(r, error);
    } else {
        error = "unknown request type " + type.value_or("(none)");
    }
    if (!event)
        return std::nullopt;
    request.event = adopt_ref(event);
    return request;
}

std::string control_response(std::optional<guint64> id, const std::optional<std::string>& error)
{
    GRef<JsonBuilder> b = adopt_ref(json_builder_new());
    json_builder_begin_object(b.get());
    json_builder_set_member_name(b.get(), "type");
    json_builder_add_string_value(b.get(), "ControlResponseMessage");
    json_builder_set_member_name(b.get(), "id");
    if (id)
        json_builder_add_int_value(b.get(), static_cast<gint64>(*id));
    else
        json_builder_add_null_value(b.get());
    json_builder_set_member_name(b.get(), "error");
    if (error)
        json_builder_add_string_value(b.get(), error->c_str());
    else
        json_builder_add_null_value(b.get());
    json_builder_end_object(b.get());
    return to_text(b.get());
}

std::optional<ControlResponse> parse_control_response(const std::string& text)
{
    std::optional<protocol::Json> json = protocol::Json::parse(text);
    if (!json || json->is_null() || !JSON_NODE_HOLDS_OBJECT(json->node()))
        return std::nullopt;
    JsonObject* o = json_node_get_object(json->node());
    if (string_member(o, "type") != "ControlResponseMessage")
        return std::nullopt;
    std::optional<double> id = number_member(o, "id");
    if (!id || *id < 0)
        return std::nullopt;
    return ControlResponse {static_cast<guint64>(*id), string_member(o, "error")};
}

std::optional<std::string> navigation_request(GstEvent* event, guint64 id, const std::optional<std::string>& mid)
{
    if (!event || GST_EVENT_TYPE(event) != GST_EVENT_NAVIGATION)
        return std::nullopt;
    GRef<JsonBuilder> b = adopt_ref(json_builder_new());
    JsonBuilder* j = b.get();
    auto number = [j](const char* name, double v) {
        json_builder_set_member_name(j, name);
        json_builder_add_double_value(j, v);
    };
    GstNavigationModifierType state = GST_NAVIGATION_MODIFIER_NONE;
    gst_navigation_event_parse_modifier_state(event, &state);
    json_builder_begin_object(j);
    json_builder_set_member_name(j, "id");
    json_builder_add_int_value(j, static_cast<gint64>(id));
    if (mid) {
        json_builder_set_member_name(j, "mid");
        json_builder_add_string_value(j, mid->c_str());
    }
    json_builder_set_member_name(j, "request");
    json_builder_begin_object(j);
    json_builder_set_member_name(j, "type");
    json_builder_add_string_value(j, "navigationEvent");
    json_builder_set_member_name(j, "event");
    json_builder_begin_object(j);
    json_builder_set_member_name(j, "event");
    double x = 0, y = 0, dx = 0, dy = 0, pressure = 0;
    gint button = 0;
    guint ident = 0;
    const char* key = nullptr;
    GstNavigationCommand cmd = GST_NAVIGATION_COMMAND_INVALID;
    bool with_state = true;
    switch (gst_navigation_event_get_type(event)) {
    case GST_NAVIGATION_EVENT_MOUSE_MOVE:
        gst_navigation_event_parse_mouse_move_event(event, &x, &y);
        json_builder_add_string_value(j, "MouseMove");
        number("x", x);
        number("y", y);
        break;
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS:
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_RELEASE:
        gst_navigation_event_parse_mouse_button_event(event, &button, &x, &y);
        json_builder_add_string_value(j, gst_navigation_event_get_type(event) ==
                                                 GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS
                                             ? "MouseButtonPress"
                                             : "MouseButtonRelease");
        json_builder_set_member_name(j, "button");
        json_builder_add_int_value(j, button);
        number("x", x);
        number("y", y);
        break;
    case GST_NAVIGATION_EVENT_MOUSE_SCROLL:
        gst_navigation_event_parse_mouse_scroll_event(event, &x, &y, &dx, &dy);
        json_builder_add_string_value(j, "MouseScroll");
        number("x", x);
        number("y", y);
        number("delta_x", dx);
        number("delta_y", dy);
        break;
    case GST_NAVIGATION_EVENT_KEY_PRESS:
    case GST_NAVIGATION_EVENT_KEY_RELEASE:
        if (!gst_navigation_event_parse_key_event(event, &key) || !key)
            return std::nullopt;
        json_builder_add_string_value(
            j, gst_navigation_event_get_type(event) == GST_NAVIGATION_EVENT_KEY_PRESS ? "KeyPress" : "KeyRelease");
        json_builder_set_member_name(j, "key");
        json_builder_add_string_value(j, key);
        break;
    case GST_NAVIGATION_EVENT_TOUCH_DOWN:
    case GST_NAVIGATION_EVENT_TOUCH_MOTION:
        gst_navigation_event_parse_touch_event(event, &ident, &x, &y, &pressure);
        json_builder_add_string_value(
            j, gst_navigation_event_get_type(event) == GST_NAVIGATION_EVENT_TOUCH_DOWN ? "TouchDown" : "TouchMotion");
        json_builder_set_member_name(j, "identifier");
        json_builder_add_int_value(j, ident);
        number("x", x);
        number("y", y);
        number("pressure", std::isfinite(pressure) ? pressure : 0);
        break;
    case GST_NAVIGATION_EVENT_TOUCH_UP:
        gst_navigation_event_parse_touch_up_event(event, &ident, &x, &y);
        json_builder_add_string_value(j, "TouchUp");
        json_builder_set_member_name(j, "identifier");
        json_builder_add_int_value(j, ident);
        number("x", x);
        number("y", y);
        break;
    case GST_NAVIGATION_EVENT_TOUCH_FRAME:
        json_builder_add_string_value(j, "TouchFrame");
        break;
    case GST_NAVIGATION_EVENT_TOUCH_CANCEL:
        json_builder_add_string_value(j, "TouchCancel");
        break;
    case GST_NAVIGATION_EVENT_COMMAND: {
        gst_navigation_event_parse_command(event, &cmd);
        auto* klass = static_cast<GEnumClass*>(g_type_class_ref(GST_TYPE_NAVIGATION_COMMAND));
        const GEnumValue* v = g_enum_get_value(klass, cmd);
        std::string name;
        // The nick in CamelCase, as the Rust bindings name it: "prev-angle" -> "PrevAngle".
        for (const char* p = v ? v->value_nick : "invalid"; *p; ++p) {
            if (*p == '-')
                continue;
            bool start = name.empty() || p[-1] == '-';
            name += start ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
        }
        g_type_class_unref(klass);
        json_builder_add_string_value(j, "Command");
        json_builder_set_member_name(j, "command");
        json_builder_add_string_value(j, name.c_str());
        with_state = false;
        break;
    }
    default:
        return std::nullopt;
    }
    if (with_state) {
        json_builder_set_member_name(j, "modifier_state");
        json_builder_add_string_value(j, modifier_text(state).c_str());
    }
    json_builder_end_object(j);
    json_builder_end_object(j);
    json_builder_end_object(j);
    return to_text(j);
}

} // namespace signalbin
