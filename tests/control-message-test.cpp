// Unit tests of the control channel's messages (control-message.h): the
// requests gstwebrtc-api's remote controller sends (copied from what its
// remote-controller.js builds), custom upstream events, bad input, and our
// own navigation requests read back.
#include "control-message.h"

#include <gst/video/navigation.h>

#include <string>

// After the standard headers: its fail() macros break <ios>.
#include <gst/check/gstcheck.h>

using signalbin::ControlRequest;
using signalbin::control_response;
using signalbin::navigation_request;
using signalbin::parse_control_request;
using signalbin::parse_control_response;

namespace {

std::optional<ControlRequest> parse(const std::string& text, std::string& error, std::optional<guint64>& id)
{
    return parse_control_request(text, error, id);
}

ControlRequest parse_ok(const std::string& text)
{
    std::string error;
    std::optional<guint64> id;
    std::optional<ControlRequest> r = parse(text, error, id);
    ck_assert_msg(r.has_value(), "refused %s: %s", text.c_str(), error.c_str());
    return std::move(*r);
}

std::string refused(const std::string& text, std::optional<guint64>* id_out = nullptr)
{
    std::string error;
    std::optional<guint64> id;
    ck_assert_msg(!parse(text, error, id).has_value(), "accepted %s", text.c_str());
    ck_assert(!error.empty());
    if (id_out)
        *id_out = id;
    return error;
}

bool contains(const std::string& haystack, const char* needle)
{
    return haystack.find(needle) != std::string::npos;
}

} // namespace

GST_START_TEST(test_mouse_move_from_gstwebrtc_api)
{
    ControlRequest r = parse_ok(R"({"id":3,"request":{"type":"navigationEvent","event":{"event":"MouseMove",)"
                                R"("x":120.5,"y":64,"modifier_state":"shift-mask+button1-mask"}}})");
    ck_assert_uint_eq(r.id, 3);
    ck_assert(!r.mid);
    ck_assert(r.navigation());
    ck_assert_int_eq(gst_navigation_event_get_type(r.event.get()), GST_NAVIGATION_EVENT_MOUSE_MOVE);
    double x = 0, y = 0;
    ck_assert(gst_navigation_event_parse_mouse_move_event(r.event.get(), &x, &y));
    ck_assert(x == 120.5 && y == 64);
    GstNavigationModifierType state = GST_NAVIGATION_MODIFIER_NONE;
    ck_assert(gst_navigation_event_parse_modifier_state(r.event.get(), &state));
    ck_assert_int_eq(state, GST_NAVIGATION_MODIFIER_SHIFT_MASK | GST_NAVIGATION_MODIFIER_BUTTON1_MASK);
}
GST_END_TEST;

GST_START_TEST(test_button_key_scroll_touch)
{
    ControlRequest press = parse_ok(R"({"id":4,"mid":"video0","request":{"type":"navigationEvent","event":)"
                                    R"({"event":"MouseButtonPress","x":1,"y":2,"button":1,"modifier_state":""}}})");
    ck_assert(press.mid == std::string("video0"));
    gint button = 0;
    double x = 0, y = 0;
    ck_assert_int_eq(gst_navigation_event_get_type(press.event.get()), GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS);
    ck_assert(gst_navigation_event_parse_mouse_button_event(press.event.get(), &button, &x, &y));
    ck_assert_int_eq(button, 1);

    ControlRequest key = parse_ok(R"({"id":5,"request":{"type":"navigationEvent","event":{"event":"KeyPress",)"
                                  R"("key":"Return","modifier_state":"control-mask"}}})");
    const char* name = nullptr;
    ck_assert_int_eq(gst_navigation_event_get_type(key.event.get()), GST_NAVIGATION_EVENT_KEY_PRESS);
    ck_assert(gst_navigation_event_parse_key_event(key.event.get(), &name));
    ck_assert_str_eq(name, "Return");

    ControlRequest scroll = parse_ok(R"({"id":6,"request":{"type":"navigationEvent","event":{"event":"MouseScroll",)"
                                     R"("x":5,"y":6,"delta_x":-0,"delta_y":-100,"modifier_state":""}}})");
    double dx = 1, dy = 0;
    ck_assert(gst_navigation_event_parse_mouse_scroll_event(scroll.event.get(), &x, &y, &dx, &dy));
    ck_assert(dx == 0 && dy == -100);

    ControlRequest touch = parse_ok(R"({"id":7,"request":{"type":"navigationEvent","event":{"event":"TouchDown",)"
                                    R"("identifier":2,"x":9,"y":8,"pressure":0.5,"modifier_state":""}}})");
    guint ident = 0;
    double pressure = 0;
    ck_assert(gst_navigation_event_parse_touch_event(touch.event.get(), &ident, &x, &y, &pressure));
    ck_assert_uint_eq(ident, 2);
    ck_assert(pressure == 0.5);

    ControlRequest frame = parse_ok(R"({"id":8,"request":{"type":"navigationEvent","event":{"event":"TouchFrame",)"
                                    R"("modifier_state":""}}})");
    ck_assert_int_eq(gst_navigation_event_get_type(frame.event.get()), GST_NAVIGATION_EVENT_TOUCH_FRAME);

    // Bit-flag names as another serialiser writes them.
    ControlRequest flags = parse_ok(R"({"id":9,"request":{"type":"navigationEvent","event":{"event":"MouseMove",)"
                                    R"("x":0,"y":0,"modifier_state":"CONTROL_MASK | MOD1_MASK"}}})");
    GstNavigationModifierType state = GST_NAVIGATION_MODIFIER_NONE;
    gst_navigation_event_parse_modifier_state(flags.event.get(), &state);
    ck_assert_int_eq(state, GST_NAVIGATION_MODIFIER_CONTROL_MASK | GST_NAVIGATION_MODIFIER_MOD1_MASK);
}
GST_END_TEST;

// webrtcsink also takes the request as a string holding it.
GST_START_TEST(test_request_as_string)
{
    ControlRequest r = parse_ok(
        R"({"id":10,"request":"{\"type\":\"navigationEvent\",\"event\":{\"event\":\"MouseMove\",\"x\":1,\"y\":1}}"})");
    ck_assert_uint_eq(r.id, 10);
    ck_assert_int_eq(gst_navigation_event_get_type(r.event.get()), GST_NAVIGATION_EVENT_MOUSE_MOVE);
}
GST_END_TEST;

GST_START_TEST(test_custom_upstream_event)
{
    ControlRequest r = parse_ok(R"({"id":11,"request":{"type":"customUpstreamEvent","structureName":"robot-command",)"
                                R"("structure":{"speed":3,"name":"left","on":true,"ratio":0.25,"big":8589934592,)"
                                R"("pose":{"x":1}}}})");
    ck_assert(!r.navigation());
    ck_assert_int_eq(GST_EVENT_TYPE(r.event.get()), GST_EVENT_CUSTOM_UPSTREAM);
    const GstStructure* s = gst_event_get_structure(r.event.get());
    ck_assert_str_eq(gst_structure_get_name(s), "robot-command");
    gint speed = 0;
    gboolean on = FALSE;
    gdouble ratio = 0;
    gint64 big = 0;
    ck_assert(gst_structure_get_int(s, "speed", &speed) && speed == 3);
    ck_assert_str_eq(gst_structure_get_string(s, "name"), "left");
    ck_assert(gst_structure_get_boolean(s, "on", &on) && on);
    ck_assert(gst_structure_get_double(s, "ratio", &ratio) && ratio == 0.25);
    ck_assert(gst_structure_get_int64(s, "big", &big) && big == 8589934592LL);
    ck_assert(gst_structure_has_field_typed(s, "pose", GST_TYPE_STRUCTURE));
}
GST_END_TEST;

GST_START_TEST(test_bad_requests)
{
    ck_assert(contains(refused("not json"), "not a JSON object"));
    ck_assert(contains(refused("[1,2]"), "not a JSON object"));
    ck_assert(contains(refused(R"({"request":{"type":"navigationEvent"}})"), "id"));
    std::optional<guint64> id;
    // The id is kept for the response even when the rest is wrong.
    ck_assert(contains(refused(R"({"id":12,"request":{"type":"reboot"}})", &id), "unknown request type reboot"));
    ck_assert(id == 12u);
    ck_assert(contains(refused(R"({"id":13,"request":{"type":"navigationEvent","event":{"event":"MouseMove","x":1}}})"),
                       "\"y\""));
    ck_assert(contains(refused(R"({"id":14,"request":{"type":"navigationEvent","event":{"event":"MouseMove",)"
                               R"("x":1,"y":1,"modifier_state":"turbo-mask"}}})"),
                       "unknown modifier turbo-mask"));
    ck_assert(contains(refused(R"({"id":15,"request":{"type":"navigationEvent","event":{"event":"Teleport"}}})"),
                       "unknown navigation event Teleport"));
    ck_assert(contains(refused(R"({"id":16,"request":{"type":"customUpstreamEvent","structureName":"9 lives"}})"),
                       "structureName"));
    ck_assert(contains(refused(R"({"id":17,"request":{"type":"navigationEvent","event":{"event":"KeyPress"}}})"),
                       "\"key\""));
    ck_assert(contains(refused(R"({"id":-1,"request":{}})"), "id"));
}
GST_END_TEST;

GST_START_TEST(test_responses)
{
    std::string ok = control_response(7u, std::nullopt);
    ck_assert_str_eq(ok.c_str(), R"({"type":"ControlResponseMessage","id":7,"error":null})");
    auto r = parse_control_response(ok);
    ck_assert(r && r->id == 7 && !r->error);
    auto bad = parse_control_response(control_response(8u, std::string("no stream has mid x")));
    ck_assert(bad && bad->id == 8 && bad->error == std::string("no stream has mid x"));
    ck_assert(contains(control_response(std::nullopt, std::string("bad request")), "\"id\":null"));
    // A request is not a response.
    ck_assert(!parse_control_response(R"({"id":1,"request":{"type":"navigationEvent"}})"));
}
GST_END_TEST;

// What signalsrc sends reads back as the same event.
GST_START_TEST(test_navigation_request_round_trip)
{
    auto modifiers = static_cast<GstNavigationModifierType>(GST_NAVIGATION_MODIFIER_SHIFT_MASK |
                                                            GST_NAVIGATION_MODIFIER_META_MASK);
    GstEvent* events[] = {
        gst_navigation_event_new_mouse_move(10, 20, modifiers),
        gst_navigation_event_new_mouse_button_release(3, 4, 5, GST_NAVIGATION_MODIFIER_NONE),
        gst_navigation_event_new_mouse_scroll(1, 2, 0.5, -1.5, GST_NAVIGATION_MODIFIER_NONE),
        gst_navigation_event_new_key_release("space", modifiers),
        gst_navigation_event_new_touch_motion(4, 7, 8, 0.75, GST_NAVIGATION_MODIFIER_NONE),
        gst_navigation_event_new_touch_up(4, 7, 8, GST_NAVIGATION_MODIFIER_NONE),
        gst_navigation_event_new_command(GST_NAVIGATION_COMMAND_PREV_ANGLE),
    };
    guint64 id = 0;
    for (GstEvent* event : events) {
        std::optional<std::string> text = navigation_request(event, id, std::string("video0"));
        ck_assert(text.has_value());
        ControlRequest back = parse_ok(*text);
        ck_assert_uint_eq(back.id, id);
        ck_assert(back.mid == std::string("video0"));
        ck_assert_msg(gst_structure_is_equal(gst_event_get_structure(event), gst_event_get_structure(back.event.get())),
                      "%s", text->c_str());
        gst_event_unref(event);
        ++id;
    }
    GstEvent* eos = gst_event_new_eos();
    ck_assert(!navigation_request(eos, 0, std::nullopt));
    gst_event_unref(eos);
}
GST_END_TEST;

static Suite* control_message_suite()
{
    Suite* s = suite_create("control-message");
    TCase* tc = tcase_create("messages");
    tcase_add_test(tc, test_mouse_move_from_gstwebrtc_api);
    tcase_add_test(tc, test_button_key_scroll_touch);
    tcase_add_test(tc, test_request_as_string);
    tcase_add_test(tc, test_custom_upstream_event);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_responses);
    tcase_add_test(tc, test_navigation_request_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

GST_CHECK_MAIN(control_message);
