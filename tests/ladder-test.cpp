// Unit tests of the quality ladder (ladder.h): the video-ladder property's
// text, the default rungs, and how a consumer's tier follows its estimate.
#include "ladder.h"

#include <gst/check/gstcheck.h>

using signalbin::Ladder;
using signalbin::Rung;
using signalbin::TierChooser;

GST_START_TEST(test_default_ladder)
{
    Ladder l = signalbin::default_ladder(2048);
    ck_assert_uint_eq(l.size(), 4);
    ck_assert(l[0] == (Rung {2048, 1, 0}));
    ck_assert(l[1] == (Rung {819, 2, 0}));
    ck_assert(l[2] == (Rung {409, 2, 0}));
    ck_assert(l[3] == (Rung {204, 4, 0}));
    std::string why;
    auto parsed = signalbin::parse_ladder("", 2048, why);
    ck_assert(parsed && *parsed == l);
}
GST_END_TEST;

GST_START_TEST(test_parse)
{
    std::string why;
    auto l = signalbin::parse_ladder("3000, 1200:2, 500:2:15,150:4", 3000, why);
    ck_assert(l);
    ck_assert_uint_eq(l->size(), 4);
    ck_assert(l->at(2) == (Rung {500, 2, 15}));
    std::string text = signalbin::ladder_text(*l);
    ck_assert_str_eq(text.c_str(), "3000,1200:2,500:2:15,150:4");
    for (const char* bad : {"abc", "1000,2000", "1000:0", "1000:2:1000", "1000,,500", "1000:2:3:4",
                            "1,2,3,4,5,6,7,8,9"}) {
        why.clear();
        ck_assert_msg(!signalbin::parse_ladder(bad, 2048, why), "accepted \"%s\"", bad);
        ck_assert_msg(!why.empty(), "no reason for \"%s\"", bad);
    }
}
GST_END_TEST;

// Down at once, to the rung that fits; up one rung after the hold; a rise
// that fails doubles the back-off.
GST_START_TEST(test_tiers_follow_the_estimate)
{
    Ladder l = signalbin::default_ladder(2048);
    TierChooser t(l, 2561000); // 2048 kbit/s with headroom
    ck_assert_uint_eq(t.tier(), 0);
    int64_t now = 0;
    ck_assert_uint_eq(t.update(now, 2561000), 0);
    now += 100000;
    ck_assert_uint_eq(t.update(now, 900000), 2); // 819 kbit/s needs 1024 with headroom
    // Up needs the hold and the back-off.
    now += 100000;
    ck_assert_uint_eq(t.update(now, 1100000), 2);
    now += TierChooser::kUpHoldUs / 2;
    ck_assert_uint_eq(t.update(now, 1100000), 2);
    now += TierChooser::kMinBackoffUs;
    ck_assert_uint_eq(t.update(now, 1100000), 1); // 1100 covers 819 / 0.8
    // Fails at once: the back-off doubles.
    now += 500000;
    ck_assert_uint_eq(t.update(now, 800000), 2);
    ck_assert_int_eq(t.backoff_us(), 2 * TierChooser::kMinBackoffUs);
    // Far below every rung: the last one.
    now += 100000;
    ck_assert_uint_eq(t.update(now, 50000), 3);
}
GST_END_TEST;

GST_START_TEST(test_lone_bitrate)
{
    Ladder l = signalbin::default_ladder(2048);
    TierChooser t(l, 700000); // tier 2 (409 kbit/s)
    ck_assert_uint_eq(t.tier(), 2);
    unsigned kbps = t.lone_kbps(700000, 0);
    ck_assert_uint_ge(kbps, 409);
    ck_assert_uint_le(kbps, 819);
    ck_assert_uint_eq(t.lone_kbps(10000000, 0), 819); // never above the rung above
    ck_assert_uint_eq(t.lone_kbps(10000, 0), 409);    // never below its own
    TierChooser top(l, 10000000);
    ck_assert_uint_eq(top.lone_kbps(10000000, 0), 2048);
    ck_assert_uint_eq(top.lone_kbps(10000000, 4000), 4000);
    // A step at a time above what got through.
    ck_assert_uint_eq(top.lone_kbps(10000000, 4000, 3000000), 3300);
}
GST_END_TEST;

static Suite* ladder_suite()
{
    Suite* s = suite_create("ladder");
    TCase* tc = tcase_create("general");
    tcase_add_test(tc, test_default_ladder);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_tiers_follow_the_estimate);
    tcase_add_test(tc, test_lone_bitrate);
    suite_add_tcase(s, tc);
    return s;
}

GST_CHECK_MAIN(ladder);
