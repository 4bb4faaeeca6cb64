// Unit tests of KeyframeCoalescer, the rule that keeps one lossy consumer
// from flooding a shared encoder (and so every other consumer) with key
// frames: at most one forced key frame per interval, a request in between
// served when the interval ends or by a key frame that comes anyway, and
// nobody left waiting longer than the interval.
#include "keyframe-coalescer.h"

#include <gst/check/gstcheck.h>

GST_DEBUG_CATEGORY(signalsink_debug); // the coalescer logs to signalsink's category

using signalbin::KeyframeCoalescer;

namespace {
constexpr int64_t kInterval = 500 * 1000;
constexpr int64_t kFrame = 33 * 1000; // 30 fps
} // namespace

GST_START_TEST(test_first_request_goes_through)
{
    KeyframeCoalescer c(kInterval);
    ck_assert(c.request(1000000));
    ck_assert(!c.frame(1000000 + kFrame, false)); // nothing pending
    ck_assert_uint_eq(c.counts().requests, 1);
    ck_assert_uint_eq(c.counts().forwarded, 1);
}
GST_END_TEST;

// A consumer asking every 20 ms for 10 s (PLI on every lost packet) gets
// the encoder to make at most 2 key frames a second.
GST_START_TEST(test_flood_is_bounded)
{
    KeyframeCoalescer c(kInterval);
    int64_t t = 0;
    uint64_t forced = 0;
    int64_t next_frame = 0;
    for (; t < 10 * G_USEC_PER_SEC; t += 20 * 1000) {
        forced += c.request(t) ? 1 : 0;
        while (next_frame <= t) {
            forced += c.frame(next_frame, false) ? 1 : 0;
            next_frame += kFrame;
        }
    }
    ck_assert_uint_le(forced, 10 * G_USEC_PER_SEC / kInterval + 1);
    ck_assert_uint_ge(forced, 10 * G_USEC_PER_SEC / kInterval - 1);
    ck_assert_uint_eq(c.counts().forwarded, forced);
    ck_assert_uint_eq(c.counts().requests, 500);
}
GST_END_TEST;

// A request soon after another is held, and sent with the first frame
// after the interval: it waits at most the interval and a frame.
GST_START_TEST(test_pending_request_is_served_after_the_interval)
{
    KeyframeCoalescer c(kInterval);
    ck_assert(c.request(0));
    ck_assert(!c.request(100 * 1000)); // a second consumer, 100 ms later
    int64_t sent_at = -1;
    for (int64_t t = 100 * 1000; t < 2 * kInterval; t += kFrame) {
        if (c.frame(t, false)) {
            sent_at = t;
            break;
        }
    }
    ck_assert_int_ge(sent_at, kInterval);
    ck_assert_int_lt(sent_at, kInterval + kFrame);
    ck_assert(!c.frame(sent_at + kFrame, false)); // served: nothing pending
    ck_assert_uint_eq(c.counts().forwarded, 2);
}
GST_END_TEST;

// A key frame the encoder made after the last forced one (its own schedule,
// or the answer to that request) serves what is pending: no extra one.
GST_START_TEST(test_key_frame_serves_pending_requests)
{
    KeyframeCoalescer c(kInterval);
    ck_assert(c.request(0));
    ck_assert(!c.request(50 * 1000));
    ck_assert(!c.request(60 * 1000));
    ck_assert(!c.frame(70 * 1000, true)); // the key frame
    for (int64_t t = 70 * 1000 + kFrame; t < 3 * kInterval; t += kFrame)
        ck_assert(!c.frame(t, false));
    ck_assert_uint_eq(c.counts().forwarded, 1);
    ck_assert_uint_eq(c.counts().requests, 3);
}
GST_END_TEST;

// After a quiet spell a request goes straight through again.
GST_START_TEST(test_request_after_the_interval_goes_through)
{
    KeyframeCoalescer c(kInterval);
    ck_assert(c.request(0));
    ck_assert(c.request(kInterval));
    ck_assert(!c.request(kInterval + 1));
    ck_assert(c.request(3 * kInterval));
    ck_assert_uint_eq(c.counts().forwarded, 3);
}
GST_END_TEST;

static Suite* keyframe_coalescer_suite()
{
    Suite* s = suite_create("keyframe-coalescer");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_first_request_goes_through);
    tcase_add_test(tc, test_flood_is_bounded);
    tcase_add_test(tc, test_pending_request_is_served_after_the_interval);
    tcase_add_test(tc, test_key_frame_serves_pending_requests);
    tcase_add_test(tc, test_request_after_the_interval_goes_through);
    return s;
}

GST_CHECK_MAIN(keyframe_coalescer);
