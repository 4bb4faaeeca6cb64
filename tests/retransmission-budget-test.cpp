// Unit tests of RetransmissionBudget: retransmissions of one consumer are
// held to a quarter of the media bytes of the second before (at least
// 16 kB a second), so that resending into a congested link cannot pile
// onto the congestion.
#include "retransmissions.h"

#include <gst/check/gstcheck.h>

GST_DEBUG_CATEGORY(signalsink_debug); // retransmissions.cpp logs to signalsink's category

using signalbin::RetransmissionBudget;

namespace {
constexpr int64_t kSecond = G_USEC_PER_SEC;

// 2 Mbit/s of media in 1000-byte packets over the second starting at `start`.
void media_second(RetransmissionBudget& b, int64_t start)
{
    for (int i = 0; i < 250; ++i)
        b.sent(start + i * kSecond / 250, 1000, false);
}

// Serves every request, each resending 1000 bytes, until refused; the
// bytes resent.
uint64_t resend_until_refused(RetransmissionBudget& b, int64_t at)
{
    uint64_t bytes = 0;
    while (b.allow(at) && bytes < 10 * 1000 * 1000) {
        b.sent(at, 1000, true);
        bytes += 1000;
    }
    return bytes;
}
} // namespace

GST_START_TEST(test_quarter_of_the_media)
{
    RetransmissionBudget b;
    media_second(b, 0);
    media_second(b, kSecond);
    // 250 kB of media in the second before: 62.5 kB of retransmissions.
    uint64_t resent = resend_until_refused(b, kSecond + kSecond / 2);
    ck_assert_uint_ge(resent, 62000);
    ck_assert_uint_le(resent, 64000);
}
GST_END_TEST;

GST_START_TEST(test_minimum_when_little_media)
{
    RetransmissionBudget b;
    b.sent(0, 1000, false);
    uint64_t resent = resend_until_refused(b, kSecond + 1);
    ck_assert_uint_ge(resent, RetransmissionBudget::kMinBytesPerSecond);
    ck_assert_uint_le(resent, RetransmissionBudget::kMinBytesPerSecond + 1000);
}
GST_END_TEST;

GST_START_TEST(test_budget_comes_back_each_second)
{
    RetransmissionBudget b;
    media_second(b, 0);
    media_second(b, kSecond);
    ck_assert_uint_gt(resend_until_refused(b, kSecond + 10), 0);
    ck_assert(!b.allow(kSecond + 20));
    media_second(b, 2 * kSecond);
    ck_assert(b.allow(3 * kSecond));
}
GST_END_TEST;

static Suite* retransmission_budget_suite()
{
    Suite* s = suite_create("retransmission-budget");
    TCase* tc = tcase_create("general");
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_quarter_of_the_media);
    tcase_add_test(tc, test_minimum_when_little_media);
    tcase_add_test(tc, test_budget_comes_back_each_second);
    return s;
}

GST_CHECK_MAIN(retransmission_budget);
