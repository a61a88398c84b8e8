/* test_ingest_known.c - the bounds on new topics per device and on devices (known.h). */
#include "unit.h"

#include "ingest/known.h"

#include <stdio.h>
#include <string.h>

static int reading(struct known *k, const char *topic, const char **reason)
{
    return known_admit_reading(k, topic, strlen(topic), reason);
}

static void test_topics_per_device(void **state)
{
    (void)state;
    struct known k;
    known_init(&k, 100, 3);
    const char *reason = NULL;
    assert_int_equal(reading(&k, "a/t/1", &reason), 0);
    assert_int_equal(reading(&k, "a/t/2", &reason), 0);
    assert_int_equal(reading(&k, "a/t/3", &reason), 0);
    /* the fourth new topic of a is refused, and refused again; a known one still passes */
    assert_int_equal(reading(&k, "a/t/4", &reason), -1);
    assert_string_equal(reason, "limit: too many topics for this device (--max-topics-per-device)");
    assert_int_equal(reading(&k, "a/t/4", &reason), -1);
    assert_int_equal(reading(&k, "a/t/2", &reason), 0);
    /* another device has its own count; a prefix of a's name is another device */
    assert_int_equal(reading(&k, "b/t/1", &reason), 0);
    assert_int_equal(reading(&k, "ab/t/1", &reason), 0);
    assert_int_equal(reading(&k, "a/t/5", &reason), -1);
    /* only the given length counts */
    assert_int_equal(known_admit_reading(&k, "a/t/2xyz", 5, &reason), 0);
    assert_int_equal(k.topics.count, 5);
    assert_int_equal(k.devices.count, 3);
    known_free(&k);
}

static void test_devices(void **state)
{
    (void)state;
    struct known k;
    known_init(&k, 2, 64);
    const char *reason = NULL;
    assert_int_equal(reading(&k, "d1/t/s", &reason), 0);
    assert_int_equal(known_admit_device(&k, "d2", 2, &reason), 0); /* presence makes a device too */
    assert_int_equal(reading(&k, "d3/t/s", &reason), -1);
    assert_string_equal(reason, "limit: too many devices (--max-devices)");
    assert_int_equal(known_admit_device(&k, "d3", 2, &reason), -1);
    /* known devices go on: new topics of d2, presence of d1 */
    assert_int_equal(reading(&k, "d2/t/s", &reason), 0);
    assert_int_equal(known_admit_device(&k, "d1", 2, &reason), 0);
    known_free(&k);
}

/* What is stored counts without bounds, and then bounds what comes. */
static void test_stored(void **state)
{
    (void)state;
    struct known k;
    known_init(&k, 2, 2);
    const char *stored[] = {"s/t/1", "s/t/2", "s/t/3", "handmade", "x/y"};
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++)
        assert_int_equal(known_add_stored(&k, stored[i], strlen(stored[i]), false), 0);
    assert_int_equal(known_add_stored(&k, "presence-only", 13, true), 0);
    assert_int_equal(known_add_stored(&k, "s/t/1", 5, false), 0); /* twice: counted once */
    assert_int_equal(k.topics.count, 5);
    assert_int_equal(k.devices.count, 4); /* s, handmade, x, presence-only: already past max-devices 2 */
    const char *reason = NULL;
    assert_int_equal(reading(&k, "s/t/3", &reason), 0); /* stored: passes */
    assert_int_equal(reading(&k, "s/t/4", &reason), -1);
    assert_int_equal(reading(&k, "new/t/1", &reason), -1);
    assert_string_equal(reason, "limit: too many devices (--max-devices)");
    assert_int_equal(reading(&k, "presence-only/t/1", &reason), 0);
    assert_int_equal(reading(&k, "presence-only/t/2", &reason), 0);
    assert_int_equal(reading(&k, "presence-only/t/3", &reason), -1);
    known_free(&k);
}

/* Many devices and topics: the index grows and every one stays found. */
static void test_many(void **state)
{
    (void)state;
    struct known k;
    known_init(&k, 5000, 8);
    const char *reason = NULL;
    char t[64];
    for (int d = 0; d < 5000; d++)
        for (int s = 0; s < 8; s++) {
            snprintf(t, sizeof t, "dev%d/m/s%d", d, s);
            if (reading(&k, t, &reason) != 0)
                fail_msg("%s refused: %s", t, reason);
        }
    assert_int_equal(k.topics.count, 40000);
    for (int d = 0; d < 5000; d += 7) {
        snprintf(t, sizeof t, "dev%d/m/s3", d);
        assert_int_equal(reading(&k, t, &reason), 0);
        snprintf(t, sizeof t, "dev%d/m/s8", d);
        assert_int_equal(reading(&k, t, &reason), -1);
    }
    assert_int_equal(reading(&k, "dev5000/m/s0", &reason), -1);
    assert_int_equal(k.topics.count, 40000);
    known_free(&k);
    known_free(&k); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_per_device),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_stored),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
