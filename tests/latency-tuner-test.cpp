// Unit tests of LatencyTuner: signalsrc's jitterbuffer latency raised when
// retransmissions come too late, kept above the measured round trip, let
// down again after a quiet spell, and never below the `latency` property
// or above the cap.
#include "latency-tuner.h"

#include <gst/check/gstcheck.h>

GST_DEBUG_CATEGORY(signalsrc_debug); // the tuner logs to signalsrc's category

using signalbin::LatencyTuner;

GST_START_TEST(test_quiet_path_keeps_the_property)
{
    LatencyTuner t(20);
    for (int s = 0; s < 30; ++s)
        ck_assert_uint_eq(t.update(0, 0), 20);
}
GST_END_TEST;

GST_START_TEST(test_late_packets_raise_it_to_the_cap)
{
    LatencyTuner t(20);
    unsigned previous = 20;
    uint64_t late = 0;
    for (int s = 0; s < 20; ++s) {
        late += 5;
        unsigned now = t.update(late, 0);
        ck_assert_uint_ge(now, previous);
        ck_assert_uint_le(now, LatencyTuner::kMaxLatencyMs);
        previous = now;
    }
    ck_assert_uint_eq(previous, LatencyTuner::kMaxLatencyMs);
}
GST_END_TEST;

// A measured round trip of 100 ms: at least 1.5 round trips and 20 ms.
GST_START_TEST(test_round_trip_sets_a_floor)
{
    LatencyTuner t(20);
    ck_assert_uint_eq(t.update(0, 100), 170);
    for (int s = 0; s < 30; ++s)
        ck_assert_uint_ge(t.update(0, 100), 170);
}
GST_END_TEST;

// After the path recovers (nothing late, short round trip), it comes back
// down, in steps, to the property.
GST_START_TEST(test_comes_back_down)
{
    LatencyTuner t(20);
    uint64_t late = 0;
    for (int s = 0; s < 10; ++s)
        t.update(late += 5, 300);
    ck_assert_uint_eq(t.current_ms(), LatencyTuner::kMaxLatencyMs);
    for (int s = 0; s < 9; ++s)
        ck_assert_uint_eq(t.update(late, 0), LatencyTuner::kMaxLatencyMs); // not at once
    unsigned after_ten = t.update(late, 0);
    ck_assert_uint_lt(after_ten, LatencyTuner::kMaxLatencyMs);
    for (int s = 0; s < 200; ++s)
        t.update(late, 0);
    ck_assert_uint_eq(t.current_ms(), 20);
}
GST_END_TEST;

// A user who asked for more than the cap keeps it.
GST_START_TEST(test_never_below_the_property)
{
    LatencyTuner t(800);
    ck_assert_uint_eq(t.update(0, 0), 800);
    ck_assert_uint_eq(t.update(10, 0), 800);
}
GST_END_TEST;

static Suite* latency_tuner_suite()
{
    Suite* s = suite_create("latency-tuner");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_quiet_path_keeps_the_property);
    tcase_add_test(tc, test_late_packets_raise_it_to_the_cap);
    tcase_add_test(tc, test_round_trip_sets_a_floor);
    tcase_add_test(tc, test_comes_back_down);
    tcase_add_test(tc, test_never_below_the_property);
    return s;
}

GST_CHECK_MAIN(latency_tuner);
