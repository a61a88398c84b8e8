/*
 * test_serve_addr_limit.c - the per-address table of serve: limits per kind, addresses kept apart
 * (IPv6 by /64), release and reuse, a full table refusing only new addresses, and deletion that keeps
 * every other address findable (checked against a plain array under a random workload).
 */
#include "unit.h"

#include "serve/addr_limit.h"

#include <stdlib.h>
#include <string.h>

static void v4(uint8_t out[16], uint32_t a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t addr[16];
    memcpy(addr, mapped, 12);
    addr[12] = (uint8_t)(a >> 24), addr[13] = (uint8_t)(a >> 16), addr[14] = (uint8_t)(a >> 8), addr[15] = (uint8_t)a;
    addr_key(addr, out);
}

static void test_limits(void **state)
{
    (void)state;
    struct addr_table t;
    assert_int_equal(addr_table_init(&t, 16, 42), 0);
    uint8_t a[16], b[16];
    v4(a, 0x7f000002);
    v4(b, 0x7f000003);
    for (int i = 0; i < 3; i++)
        assert_int_equal(addr_acquire(&t, a, ADDR_WS, 3), ADDR_OK);
    assert_int_equal(addr_check(&t, a, ADDR_WS, 3), ADDR_OVER);
    assert_int_equal(addr_acquire(&t, a, ADDR_WS, 3), ADDR_OVER);
    assert_int_equal(addr_count(&t, a, ADDR_WS), 3);
    /* other kinds and other addresses are not affected */
    assert_int_equal(addr_acquire(&t, a, ADDR_REQ, 3), ADDR_OK);
    assert_int_equal(addr_acquire(&t, b, ADDR_WS, 3), ADDR_OK);
    assert_int_equal(addr_count(&t, b, ADDR_WS), 1);
    assert_int_equal(t.used, 2);
    /* a release makes room again; the address leaves when nothing is counted */
    addr_release(&t, a, ADDR_WS);
    assert_int_equal(addr_acquire(&t, a, ADDR_WS, 3), ADDR_OK);
    for (int i = 0; i < 3; i++)
        addr_release(&t, a, ADDR_WS);
    assert_int_equal(t.used, 2); /* still one request */
    addr_release(&t, a, ADDR_REQ);
    assert_int_equal(t.used, 1);
    assert_int_equal(addr_count(&t, a, ADDR_WS), 0);
    /* releasing what is not counted changes nothing */
    addr_release(&t, a, ADDR_WS);
    addr_release(&t, b, ADDR_CONN);
    assert_int_equal(addr_count(&t, b, ADDR_WS), 1);
    /* limit 0 refuses everything */
    assert_int_equal(addr_acquire(&t, a, ADDR_CONN, 0), ADDR_OVER);
    addr_table_free(&t);
}

static void test_ipv6_prefix(void **state)
{
    (void)state;
    uint8_t x[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    uint8_t y[16], kx[16], ky[16];
    memcpy(y, x, 16);
    y[15] = 0x99; /* the same /64 */
    addr_key(x, kx);
    addr_key(y, ky);
    assert_memory_equal(kx, ky, 16);
    y[7] = 2; /* another /64 */
    addr_key(y, ky);
    assert_memory_not_equal(kx, ky, 16);
    /* IPv4 keeps every bit */
    uint8_t a[16], b[16];
    v4(a, 0x0a000001);
    v4(b, 0x0a000002);
    assert_memory_not_equal(a, b, 16);
}

static void test_full(void **state)
{
    (void)state;
    struct addr_table t;
    assert_int_equal(addr_table_init(&t, 4, 7), 0);
    uint8_t k[16];
    for (uint32_t i = 0; i < 4; i++) {
        v4(k, 0x0a000000 + i);
        assert_int_equal(addr_acquire(&t, k, ADDR_CONN, 10), ADDR_OK);
    }
    v4(k, 0x0a0000ff);
    assert_int_equal(addr_check(&t, k, ADDR_CONN, 10), ADDR_FULL);
    assert_int_equal(addr_acquire(&t, k, ADDR_CONN, 10), ADDR_FULL);
    assert_int_equal(addr_count(&t, k, ADDR_CONN), 0);
    /* addresses already in go on */
    v4(k, 0x0a000002);
    assert_int_equal(addr_acquire(&t, k, ADDR_WS, 10), ADDR_OK);
    /* one leaves: a new one fits */
    v4(k, 0x0a000001);
    addr_release(&t, k, ADDR_CONN);
    v4(k, 0x0a0000ff);
    assert_int_equal(addr_acquire(&t, k, ADDR_CONN, 10), ADDR_OK);
    assert_int_equal(t.used, 4);
    addr_table_free(&t);
}

/* Random acquires and releases against a plain array of counts: deletion never loses an address. */
static void test_random_against_model(void **state)
{
    (void)state;
    enum { ADDRS = 200, STEPS = 200000 };
    static uint32_t model[ADDRS][ADDR_KINDS];
    memset(model, 0, sizeof model);
    struct addr_table t;
    assert_int_equal(addr_table_init(&t, ADDRS, 1), 0);
    srand(12345);
    for (int step = 0; step < STEPS; step++) {
        int a = rand() % ADDRS, k = rand() % ADDR_KINDS;
        uint8_t key[16];
        v4(key, 0xc0a80000 + (uint32_t)a * 7919u);
        if (rand() % 2) {
            enum addr_verdict v = addr_acquire(&t, key, (enum addr_kind)k, 4);
            assert_int_equal(v, model[a][k] < 4 ? ADDR_OK : ADDR_OVER);
            if (v == ADDR_OK)
                model[a][k]++;
        } else if (model[a][k]) {
            addr_release(&t, key, (enum addr_kind)k);
            model[a][k]--;
        }
        if (step % 1000 == 0) {
            size_t live = 0;
            for (int i = 0; i < ADDRS; i++) {
                uint8_t ki[16];
                v4(ki, 0xc0a80000 + (uint32_t)i * 7919u);
                bool any = false;
                for (int j = 0; j < ADDR_KINDS; j++) {
                    assert_int_equal(addr_count(&t, ki, (enum addr_kind)j), model[i][j]);
                    any |= model[i][j] != 0;
                }
                live += any;
            }
            assert_int_equal(t.used, live);
        }
    }
    addr_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_ipv6_prefix),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
