/* test_serve_metrics.c - Prometheus text of the serve counters: names, labels, optional lines. */
#include "unit.h"

#include "serve/metrics.h"

#include <string.h>

static void test_render(void **state)
{
    (void)state;
    struct serve_metrics m;
    memset(&m, 0, sizeof m);
    m.ws_rejected[WS_REJECT_ORIGIN] = 3;
    m.ws_gaps = 2;
    metrics_count_http(&m, 200);
    metrics_count_http(&m, 200);
    metrics_count_http(&m, 404);
    metrics_count_http(&m, 418); /* not in the table: "other" */
    metrics_count_http(&m, 505);
    m.ws_rejected[WS_REJECT_HANDSHAKE] = 4;
    m.http_refused[HTTP_REFUSE_MALFORMED] = 6;
    m.http_refused[HTTP_REFUSE_TIMEOUT] = 7;
    m.ws_rx_refused[WS_RX_REFUSE_BAD_UTF8] = 8;
    m.ws_rx_refused[WS_RX_REFUSE_TOO_LARGE] = 10;
    m.http_connections = 9;
    m.http_refused[HTTP_REFUSE_TOO_LARGE] = 11;
    m.http_refused[HTTP_REFUSE_PIPELINED] = 12;
    m.db_cancelled = 13;
    struct metrics_gauges g = {.ws_clients = 5,
                               .ring_capacity = 16384,
                               .ring_rows = 10,
                               .ring_last_id = 99,
                               .ring_floor = 89,
                               .db_up = {true, false},
                               .db_queue = {1, 2},
                               .db_pool_size = 3,
                               .db_pool_up = 2,
                               .db_pool_busy = 1,
                               .api_held_bytes = 4096};
    struct sbuf b;
    sbuf_init(&b, 0, 1 << 20);
    metrics_render(&b, &m, &g);
    assert_false(b.failed);
    static const char *const want[] = {
        "# TYPE sensorpipe_ws_clients gauge\nsensorpipe_ws_clients 5\n",
        "sensorpipe_ws_rejected_total{reason=\"origin\"} 3\n",
        "# TYPE sensorpipe_ws_gaps_total counter\nsensorpipe_ws_gaps_total 2\n",
        "sensorpipe_http_requests_total{code=\"200\"} 2\n",
        "sensorpipe_http_requests_total{code=\"404\"} 1\n",
        "sensorpipe_http_requests_total{code=\"other\"} 1\n",
        "sensorpipe_http_requests_total{code=\"505\"} 1\n",
        "sensorpipe_ws_rejected_total{reason=\"handshake\"} 4\n",
        "# TYPE sensorpipe_http_refused_total counter\n",
        "sensorpipe_http_refused_total{reason=\"malformed\"} 6\n",
        "sensorpipe_http_refused_total{reason=\"header_timeout\"} 7\n",
        "sensorpipe_http_refused_total{reason=\"body\"} 0\n",
        "sensorpipe_ws_rx_refused_total{reason=\"bad_utf8\"} 8\n",
        "sensorpipe_ws_rx_refused_total{reason=\"binary\"} 0\n",
        "sensorpipe_ws_rx_refused_total{reason=\"too_large\"} 10\n",
        "sensorpipe_http_connections_total 9\n",
        "sensorpipe_hub_holds_total 0\n",
        "sensorpipe_db_up{conn=\"listen\"} 1\n",
        "sensorpipe_db_up{conn=\"query\"} 0\n",
        "sensorpipe_db_queue{conn=\"query\"} 2\n",
        "sensorpipe_ring_size 16384\n",
        "sensorpipe_http_refused_total{reason=\"too_large\"} 11\n",
        "sensorpipe_http_refused_total{reason=\"busy\"} 0\n",
        "sensorpipe_http_refused_total{reason=\"pipelined\"} 12\n",
        "sensorpipe_db_cancelled_total 13\n",
        "sensorpipe_db_pool_size 3\n",
        "sensorpipe_db_pool_up 2\n",
        "sensorpipe_db_pool_busy 1\n",
        "sensorpipe_api_held_bytes 4096\n",
        "sensorpipe_ring_last_id 99\n",
        "sensorpipe_ring_floor_id 89\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(b.data, want[i]))
            fail_msg("missing: %s", want[i]);
    /* each refusal is said once, by its reason label: no unlabelled copies */
    assert_null(strstr(b.data, "sensorpipe_ws_origin_rejections_total"));
    assert_null(strstr(b.data, "sensorpipe_ws_rx_oversized_total"));
    /* without an answer from the database there is no rejects line (rather than a wrong 0) */
    assert_null(strstr(b.data, "sensorpipe_rejects_total"));
    /* every sample line is "name[{labels}] integer" and every HELP has its TYPE */
    for (char *line = strtok(b.data, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        assert_true(strspn(sp + 1, "0123456789") == strlen(sp + 1));
        assert_true(strncmp(line, "sensorpipe_", 11) == 0);
    }
    sbuf_reset(&b);
    g.have_rejects = true;
    g.rejects = 7;
    metrics_render(&b, &m, &g);
    assert_non_null(strstr(b.data, "# TYPE sensorpipe_rejects_total counter\nsensorpipe_rejects_total 7\n"));
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
