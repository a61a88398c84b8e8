/* test_ingest_mqtt_frame.c - reading and writing MQTT packets for the ingest's client: every packet type,
 * truncated, oversized and corrupt input, and every packet the client writes read back.
 */
#include "unit.h"

#include "ingest/mqtt_encode.h"
#include "ingest/mqtt_frame.h"

#include <string.h>

/* ---- whole packets of every type ---- */

struct frame_case {
    const char *name;
    uint8_t bytes[16];
    size_t len;
    uint8_t type, flags;
    size_t header_len, body_len;
};

static const struct frame_case whole[] = {
    /* CONNECT: "MQTT", level 4, clean session, keepalive 60, client id "a" */
    {"CONNECT", {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'a'}, 15, MQTT_CONNECT, 0, 2, 13},
    {"CONNACK", {0x20, 2, 0x01, 0x00}, 4, MQTT_CONNACK, 0, 2, 2},
    {"PUBLISH qos0", {0x30, 5, 0, 3, 'a', '/', 'b'}, 7, MQTT_PUBLISH, 0, 2, 5},
    {"PUBLISH qos1 dup retain", {0x3b, 8, 0, 3, 'a', '/', 'b', 0x12, 0x34, '7'}, 10, MQTT_PUBLISH, 0x0b, 2, 8},
    {"PUBACK", {0x40, 2, 0x12, 0x34}, 4, MQTT_PUBACK, 0, 2, 2},
    {"PUBACK v5 reason", {0x40, 3, 0x00, 0x01, 0x10}, 5, MQTT_PUBACK, 0, 2, 3},
    {"PUBREC", {0x50, 2, 0, 9}, 4, MQTT_PUBREC, 0, 2, 2},
    {"PUBREL", {0x62, 2, 0, 9}, 4, MQTT_PUBREL, 2, 2, 2},
    {"PUBCOMP", {0x70, 2, 0, 9}, 4, MQTT_PUBCOMP, 0, 2, 2},
    {"SUBSCRIBE", {0x82, 8, 0, 1, 0, 3, '+', '/', '+', 1}, 10, MQTT_SUBSCRIBE, 2, 2, 8},
    {"SUBACK", {0x90, 3, 0, 1, 1}, 5, MQTT_SUBACK, 0, 2, 3},
    {"UNSUBSCRIBE", {0xa2, 7, 0, 2, 0, 3, '+', '/', '+'}, 9, MQTT_UNSUBSCRIBE, 2, 2, 7},
    {"UNSUBACK", {0xb0, 2, 0, 2}, 4, MQTT_UNSUBACK, 0, 2, 2},
    {"PINGREQ", {0xc0, 0}, 2, MQTT_PINGREQ, 0, 2, 0},
    {"PINGRESP", {0xd0, 0}, 2, MQTT_PINGRESP, 0, 2, 0},
    {"DISCONNECT", {0xe0, 0}, 2, MQTT_DISCONNECT, 0, 2, 0},
    {"AUTH", {0xf0, 0}, 2, MQTT_AUTH, 0, 2, 0},
};

static void test_every_packet_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        const struct frame_case *c = &whole[i];
        struct mqtt_frame f;
        print_message("%s\n", c->name);
        assert_int_equal(mqtt_frame_parse(c->bytes, c->len, 1024, &f), MQTT_FRAME_OK);
        assert_int_equal(f.type, c->type);
        assert_int_equal(f.flags, c->flags);
        assert_int_equal(f.header_len, c->header_len);
        assert_int_equal(f.body_len, c->body_len);
        assert_int_equal(f.total, c->len);
        assert_string_equal(mqtt_type_name(f.type), c->name[0] == 'P' && c->type == MQTT_PUBLISH ? "PUBLISH"
                                                    : c->type == MQTT_PUBACK                     ? "PUBACK"
                                                                                                 : c->name);
        /* every strict prefix is incomplete, never an error */
        for (size_t n = 0; n < c->len; n++)
            assert_int_equal(mqtt_frame_parse(c->bytes, n, 1024, &f), MQTT_FRAME_MORE);
        /* bytes of the next packet after it change nothing */
        uint8_t two[32];
        memcpy(two, c->bytes, c->len);
        memcpy(two + c->len, "\xc0\x00", 2);
        assert_int_equal(mqtt_frame_parse(two, c->len + 2, 1024, &f), MQTT_FRAME_OK);
        assert_int_equal(f.total, c->len);
    }
    assert_string_equal(mqtt_type_name(0), "?");
    assert_string_equal(mqtt_type_name(99), "?");
}

/* ---- the remaining length: 1 to 4 bytes, boundaries, corrupt encodings ---- */

struct length_case {
    const char *name;
    uint8_t bytes[8];
    size_t len;
    int rc;
    size_t header_len, body_len;
};

static const struct length_case lengths[] = {
    {"0", {0x30, 0x00}, 2, MQTT_FRAME_OK, 2, 0},
    {"127: one byte", {0x30, 0x7f}, 2, MQTT_FRAME_MORE, 2, 127},
    {"128: two bytes", {0x30, 0x80, 0x01}, 3, MQTT_FRAME_MORE, 3, 128},
    {"16383", {0x30, 0xff, 0x7f}, 3, MQTT_FRAME_MORE, 3, 16383},
    {"16384: three bytes", {0x30, 0x80, 0x80, 0x01}, 4, MQTT_FRAME_MORE, 4, 16384},
    {"2097151", {0x30, 0xff, 0xff, 0x7f}, 4, MQTT_FRAME_MORE, 4, 2097151},
    {"2097152: four bytes", {0x30, 0x80, 0x80, 0x80, 0x01}, 5, MQTT_FRAME_MORE, 5, 2097152},
    {"268435455: the largest", {0x30, 0xff, 0xff, 0xff, 0x7f}, 5, MQTT_FRAME_MORE, 5, MQTT_REMAINING_MAX},
    {"non-minimal zero is read as 0", {0x30, 0x80, 0x00}, 3, MQTT_FRAME_OK, 3, 0},
    {"five length bytes", {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, 6, MQTT_FRAME_MALFORMED, 0, 0},
    {"fifth byte would follow", {0x30, 0x80, 0x80, 0x80, 0x80}, 5, MQTT_FRAME_MALFORMED, 0, 0},
    {"length cut after one byte", {0x30, 0x80}, 2, MQTT_FRAME_MORE, 0, 0},
    {"length cut after three bytes", {0x30, 0x80, 0x80, 0x80}, 4, MQTT_FRAME_MORE, 0, 0},
    {"type 0 is reserved", {0x00, 0x00}, 2, MQTT_FRAME_MALFORMED, 0, 0},
    {"type 0 before its length", {0x0f}, 1, MQTT_FRAME_MALFORMED, 0, 0},
    {"empty", {0}, 0, MQTT_FRAME_MORE, 0, 0},
};

static void test_remaining_length(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        const struct length_case *c = &lengths[i];
        struct mqtt_frame f;
        print_message("%s\n", c->name);
        /* no size limit to speak of: the encoding alone decides */
        int rc = mqtt_frame_parse(c->bytes, c->len, (size_t)MQTT_REMAINING_MAX + 5, &f);
        assert_int_equal(rc, c->rc);
        if (c->header_len) {
            /* complete header: total is known even while the body is missing */
            assert_int_equal(f.header_len, c->header_len);
            assert_int_equal(f.body_len, c->body_len);
            assert_int_equal(f.total, c->header_len + c->body_len);
        } else
            assert_int_equal(f.total, 0);
    }
}

static void test_oversized(void **state)
{
    (void)state;
    struct mqtt_frame f;
    /* 200-byte body: fine at 202, too big at 201, known as soon as the header is in */
    uint8_t hdr[] = {0x30, 0xc8, 0x01};
    assert_int_equal(mqtt_frame_parse(hdr, sizeof hdr, 203, &f), MQTT_FRAME_MORE);
    assert_int_equal(f.total, 203);
    assert_int_equal(mqtt_frame_parse(hdr, sizeof hdr, 203 - 1, &f), MQTT_FRAME_TOO_BIG);
    /* the largest encodable length against a 64 KiB bound */
    uint8_t huge[] = {0x82, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(mqtt_frame_parse(huge, sizeof huge, 65536, &f), MQTT_FRAME_TOO_BIG);
    /* a header that alone is over the bound */
    uint8_t ping[] = {0xc0, 0x00};
    assert_int_equal(mqtt_frame_parse(ping, sizeof ping, 1, &f), MQTT_FRAME_TOO_BIG);
    assert_int_equal(mqtt_frame_parse(ping, sizeof ping, 2, &f), MQTT_FRAME_OK);
}

/* ---- what the client writes, read back ---- */

static void test_encode_connect(void **state)
{
    (void)state;
    struct mqtt_connect c = {.client_id = "ingest", .clean_session = false, .keepalive_s = 60};
    uint8_t out[128];
    long n = mqtt_connect_build(out, sizeof out, &c);
    const uint8_t plain[] = {0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 6, 'i', 'n', 'g', 'e', 's', 't'};
    assert_int_equal(n, sizeof plain);
    assert_memory_equal(out, plain, sizeof plain);
    assert_int_equal(mqtt_connect_build(NULL, 0, &c), n);            /* the length alone */
    assert_int_equal(mqtt_connect_build(out, (size_t)n - 1, &c), 0); /* does not fit */

    c.username = "u";
    c.password = "p\0w";
    c.password_len = 3;
    c.clean_session = true;
    n = mqtt_connect_build(out, sizeof out, &c);
    const uint8_t login[] = {0x10, 26,  0,   4,   'M', 'Q', 'T', 'T', 4,   0xc2, 0, 60,  0, 6,
                             'i',  'n', 'g', 'e', 's', 't', 0,   1,   'u', 0,    3, 'p', 0, 'w'};
    assert_int_equal(n, sizeof login);
    assert_memory_equal(out, login, sizeof login);
    struct mqtt_frame f;
    assert_int_equal(mqtt_frame_parse(out, (size_t)n, 128, &f), MQTT_FRAME_OK);
    assert_int_equal(f.type, MQTT_CONNECT);

    c.username = NULL; /* a password without a user name is not valid 3.1.1 */
    assert_int_equal(mqtt_connect_build(out, sizeof out, &c), -1);
    static char long_id[70000];
    memset(long_id, 'x', sizeof long_id - 1);
    struct mqtt_connect l = {.client_id = long_id};
    assert_int_equal(mqtt_connect_build(NULL, 0, &l), -1);
}

static void test_encode_subscribe(void **state)
{
    (void)state;
    char f1[] = "+/+/+", f2[] = "+/status";
    char *filters[] = {f1, f2};
    uint8_t out[64];
    long n = mqtt_subscribe_build(out, sizeof out, 1, filters, 2, 1);
    const uint8_t want[] = {0x82, 21, 0,   1,   0,   5,   '+', '/', '+', '/', '+', 1,
                            0,    8,  '+', '/', 's', 't', 'a', 't', 'u', 's', 1};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(mqtt_subscribe_build(out, 10, 1, filters, 2, 1), 0);
    assert_int_equal(mqtt_subscribe_build(out, sizeof out, 1, filters, 0, 1), -1);
    /* a remaining length over 127 takes two bytes */
    static char big[300];
    memset(big, 'a', sizeof big - 1);
    char *one[] = {big};
    static uint8_t large[512];
    n = mqtt_subscribe_build(large, sizeof large, 7, one, 1, 0);
    struct mqtt_frame f;
    assert_int_equal(mqtt_frame_parse(large, (size_t)n, sizeof large, &f), MQTT_FRAME_OK);
    assert_int_equal(f.type, MQTT_SUBSCRIBE);
    assert_int_equal(f.flags, 2);
    assert_int_equal(f.header_len, 3);
    assert_int_equal(f.total, (size_t)n);
}

static void test_encode_small(void **state)
{
    (void)state;
    uint8_t ack[MQTT_PUBACK_LEN];
    mqtt_puback_build(ack, 0x1234);
    const uint8_t want[] = {0x40, 2, 0x12, 0x34};
    assert_memory_equal(ack, want, sizeof want);
    struct mqtt_frame f;
    assert_int_equal(mqtt_frame_parse(mqtt_pingreq, MQTT_PINGREQ_LEN, 8, &f), MQTT_FRAME_OK);
    assert_int_equal(f.type, MQTT_PINGREQ);
    assert_int_equal(mqtt_frame_parse(mqtt_disconnect, MQTT_DISCONNECT_LEN, 8, &f), MQTT_FRAME_OK);
    assert_int_equal(f.type, MQTT_DISCONNECT);
}

/* ---- SUBACK ---- */

static void test_suback(void **state)
{
    (void)state;
    const uint8_t ok[] = {0x90, 4, 0, 1, 1, 0x80};
    struct mqtt_frame f;
    uint16_t mid;
    const uint8_t *codes;
    size_t n;
    assert_int_equal(mqtt_frame_parse(ok, sizeof ok, 64, &f), MQTT_FRAME_OK);
    assert_int_equal(mqtt_suback_parse(ok, &f, &mid, &codes, &n), 0);
    assert_int_equal(mid, 1);
    assert_int_equal(n, 2);
    assert_int_equal(codes[0], 1);
    assert_int_equal(codes[1], 0x80);
    const uint8_t bad[][5] = {{0x91, 3, 0, 1, 0}, {0x90, 2, 0, 1}, {0xb0, 3, 0, 1, 0}};
    const size_t lens[] = {5, 4, 5};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mqtt_frame_parse(bad[i], lens[i], 64, &f), MQTT_FRAME_OK);
        assert_int_equal(mqtt_suback_parse(bad[i], &f, &mid, &codes, &n), -1);
    }
}

/* ---- the head of a PUBLISH too large to hold ---- */

static void test_publish_head(void **state)
{
    (void)state;
    /* QoS 1, topic "a/b", id 0x0102, a payload of 1000 bytes: remaining length 2 + 3 + 2 + 1000 = 1007 */
    static uint8_t pkt[1100];
    const uint8_t head[] = {0x32, 0xef, 0x07, 0, 3, 'a', '/', 'b', 1, 2};
    memcpy(pkt, head, sizeof head);
    memset(pkt + sizeof head, 'x', 1000);
    struct mqtt_frame f;
    assert_int_equal(mqtt_frame_parse(pkt, 12, 4096, &f), MQTT_FRAME_MORE);
    assert_int_equal(f.total, 1010);
    struct mqtt_publish p;
    for (size_t avail = 0; avail < sizeof head; avail++)
        assert_int_equal(mqtt_publish_parse_head(pkt, avail, &f, &p), MQTT_PUBLISH_MORE);
    assert_int_equal(mqtt_publish_parse_head(pkt, 50, &f, &p), MQTT_PUBLISH_OK);
    assert_int_equal(p.topic_len, 3);
    assert_memory_equal(p.topic, "a/b", 3);
    assert_int_equal(p.mid, 0x0102);
    assert_int_equal(p.qos, 1);
    assert_int_equal(p.payload_len, 40);
    assert_ptr_equal(p.payload, pkt + sizeof head);
    /* a topic length that lies is judged against the whole packet, not what has arrived */
    const uint8_t lie[] = {0x30, 0x80, 0x01, 0xff, 0xff};
    assert_int_equal(mqtt_frame_parse(lie, sizeof lie, 4096, &f), MQTT_FRAME_MORE);
    assert_int_equal(mqtt_publish_parse_head(lie, sizeof lie, &f, &p), MQTT_PUBLISH_TOPIC_LEN);
    assert_string_equal(mqtt_publish_error(MQTT_PUBLISH_MORE), "topic or packet id not all received yet");
}

/* ---- PUBLISH, as the client reads it from the broker ---- */

struct publish_case {
    const char *name;
    uint8_t bytes[24];
    size_t len;
    int rc;
    const char *topic; /* NULL: not checked (error cases) */
    const char *payload;
    uint8_t qos;
    uint16_t mid;
    bool dup, retain;
};

/* clang-format off */
static const struct publish_case publishes[] = {
    {"qos 0", {0x30, 9, 0, 3, 'a', '/', 'b', '2', '1', '.', '5'}, 11, MQTT_PUBLISH_OK, "a/b", "21.5", 0, 0, false, false},
    {"qos 0 retained", {0x31, 6, 0, 3, 'a', '/', 'b', '7'}, 8, MQTT_PUBLISH_OK, "a/b", "7", 0, 0, false, true},
    {"qos 0 empty payload", {0x30, 5, 0, 3, 'a', '/', 'b'}, 7, MQTT_PUBLISH_OK, "a/b", "", 0, 0, false, false},
    {"qos 1", {0x32, 8, 0, 3, 'a', '/', 'b', 0x12, 0x34, '7'}, 10, MQTT_PUBLISH_OK, "a/b", "7", 1, 0x1234, false,
     false},
    {"qos 1 dup retain", {0x3b, 8, 0, 3, 'a', '/', 'b', 0xff, 0xff, '7'}, 10, MQTT_PUBLISH_OK, "a/b", "7", 1, 65535,
     true, true},
    {"qos 1 empty payload", {0x32, 7, 0, 3, 'a', '/', 'b', 0, 1}, 9, MQTT_PUBLISH_OK, "a/b", "", 1, 1, false, false},
    {"qos 2", {0x34, 8, 0, 3, 'a', '/', 'b', 0, 9, 'x'}, 10, MQTT_PUBLISH_OK, "a/b", "x", 2, 9, false, false},
    {"qos 0 with dup: read as sent", {0x38, 6, 0, 3, 'a', '/', 'b', '1'}, 8, MQTT_PUBLISH_OK, "a/b", "1", 0, 0, true,
     false},
    {"topic with a NUL byte: bytes as sent", {0x30, 6, 0, 3, 'a', 0, 'b', '1'}, 8, MQTT_PUBLISH_OK, NULL, "1", 0, 0,
     false, false},
    {"qos 3", {0x36, 8, 0, 3, 'a', '/', 'b', 0, 1, '7'}, 10, MQTT_PUBLISH_BAD_QOS, NULL, NULL, 0, 0, false, false},
    {"no body", {0x30, 0}, 2, MQTT_PUBLISH_TRUNCATED, NULL, NULL, 0, 0, false, false},
    {"one byte of topic length", {0x30, 1, 0}, 3, MQTT_PUBLISH_TRUNCATED, NULL, NULL, 0, 0, false, false},
    {"topic length past the end", {0x30, 5, 0, 9, 'a', '/', 'b'}, 7, MQTT_PUBLISH_TOPIC_LEN, NULL, NULL, 0, 0, false,
     false},
    {"topic length 65535", {0x30, 5, 0xff, 0xff, 'a', '/', 'b'}, 7, MQTT_PUBLISH_TOPIC_LEN, NULL, NULL, 0, 0, false,
     false},
    {"qos 1, no room for the packet id", {0x32, 5, 0, 3, 'a', '/', 'b'}, 7, MQTT_PUBLISH_TOPIC_LEN, NULL, NULL, 0, 0,
     false, false},
    {"qos 1, half a packet id", {0x32, 6, 0, 3, 'a', '/', 'b', 0}, 8, MQTT_PUBLISH_TOPIC_LEN, NULL, NULL, 0, 0, false,
     false},
    {"empty topic", {0x30, 3, 0, 0, '1'}, 5, MQTT_PUBLISH_EMPTY_TOPIC, NULL, NULL, 0, 0, false, false},
    {"qos 1 packet id 0", {0x32, 8, 0, 3, 'a', '/', 'b', 0, 0, '7'}, 10, MQTT_PUBLISH_MID_ZERO, NULL, NULL, 0, 0, false,
     false},
    {"not a PUBLISH", {0x40, 2, 0, 1}, 4, MQTT_PUBLISH_NOT_PUBLISH, NULL, NULL, 0, 0, false, false},
};
/* clang-format on */

static void test_publish(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof publishes / sizeof publishes[0]; i++) {
        const struct publish_case *c = &publishes[i];
        print_message("%s\n", c->name);
        struct mqtt_frame f;
        assert_int_equal(mqtt_frame_parse(c->bytes, c->len, 64, &f), MQTT_FRAME_OK);
        assert_int_equal(f.total, c->len);
        struct mqtt_publish p;
        int rc = mqtt_publish_parse(c->bytes, &f, &p);
        assert_int_equal(rc, c->rc);
        assert_string_not_equal(mqtt_publish_error(rc), "?");
        if (rc != MQTT_PUBLISH_OK)
            continue;
        if (c->topic) {
            assert_int_equal(p.topic_len, strlen(c->topic));
            assert_memory_equal(p.topic, c->topic, p.topic_len);
        }
        assert_int_equal(p.payload_len, strlen(c->payload));
        assert_memory_equal(p.payload, c->payload, p.payload_len);
        /* topic and payload point into the packet, within it */
        assert_true(p.topic >= c->bytes && p.payload + p.payload_len == c->bytes + c->len);
        assert_int_equal(p.qos, c->qos);
        assert_int_equal(p.mid, c->mid);
        assert_int_equal(p.dup, c->dup);
        assert_int_equal(p.retain, c->retain);
    }
    assert_string_equal(mqtt_publish_error(42), "?");
}

/* A remaining length that claims less than the topic needs: the frame is cut there, the PUBLISH refused. */
static void test_publish_length_lies(void **state)
{
    (void)state;
    /* remaining length 4 but topic length 3 + the QoS 1 packet id = 7 */
    const uint8_t bytes[] = {0x32, 4, 0, 3, 'a', '/', 'b', 0, 1, '7'};
    struct mqtt_frame f;
    assert_int_equal(mqtt_frame_parse(bytes, sizeof bytes, 64, &f), MQTT_FRAME_OK);
    assert_int_equal(f.total, 6);
    struct mqtt_publish p;
    assert_int_equal(mqtt_publish_parse(bytes, &f, &p), MQTT_PUBLISH_TOPIC_LEN);
    /* every cut of a good QoS 1 PUBLISH's remaining length is refused, never read past */
    const uint8_t good[] = {0x32, 8, 0, 3, 'a', '/', 'b', 0, 1, '7'};
    for (uint8_t len = 0; len < 7; len++) {
        uint8_t cut[sizeof good];
        memcpy(cut, good, sizeof good);
        cut[1] = len;
        assert_int_equal(mqtt_frame_parse(cut, 2u + len, 64, &f), MQTT_FRAME_OK);
        assert_true(mqtt_publish_parse(cut, &f, &p) < 0);
    }
    uint8_t seven[sizeof good];
    memcpy(seven, good, sizeof good);
    seven[1] = 7; /* the packet id and no payload */
    assert_int_equal(mqtt_frame_parse(seven, 9, 64, &f), MQTT_FRAME_OK);
    assert_int_equal(mqtt_publish_parse(seven, &f, &p), MQTT_PUBLISH_OK);
    assert_int_equal(p.payload_len, 0);
}

/* ---- CONNACK ---- */

static void test_connack(void **state)
{
    (void)state;
    struct mqtt_frame f;
    bool sp;
    uint8_t code;
    const uint8_t resumed[] = {0x20, 2, 0x01, 0x00};
    assert_int_equal(mqtt_frame_parse(resumed, sizeof resumed, 64, &f), MQTT_FRAME_OK);
    assert_int_equal(mqtt_connack_parse(resumed, &f, &sp, &code), 0);
    assert_true(sp);
    assert_int_equal(code, 0);
    const uint8_t refused[] = {0x20, 2, 0x00, 0x05};
    assert_int_equal(mqtt_frame_parse(refused, sizeof refused, 64, &f), MQTT_FRAME_OK);
    assert_int_equal(mqtt_connack_parse(refused, &f, &sp, &code), 0);
    assert_false(sp);
    assert_int_equal(code, 5);
    const uint8_t bad[][5] = {{0x21, 2, 0, 0}, {0x20, 1, 0}, {0x20, 3, 0, 0, 0}, {0x40, 2, 0, 1}};
    const size_t lens[] = {4, 3, 5, 4};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mqtt_frame_parse(bad[i], lens[i], 64, &f), MQTT_FRAME_OK);
        assert_int_equal(mqtt_connack_parse(bad[i], &f, &sp, &code), -1);
    }
}

/* ---- a stream cut at every byte ---- */

static void test_stream_any_split(void **state)
{
    (void)state;
    /* CONNECT, SUBSCRIBE, PUBACK, PINGREQ, PUBACK, DISCONNECT */
    const uint8_t stream[] = {0x10, 13,  0,   4,   'M', 'Q',  'T', 'T', 4, 0x02, 0, 60,   0, 1, 'a', 0x82, 8, 0, 1, 0,
                              3,    '+', '/', '+', 1,   0x40, 2,   0,   1, 0xc0, 0, 0x40, 2, 0, 2,   0xe0, 0};
    const uint8_t types[] = {MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_PUBACK, MQTT_PINGREQ, MQTT_PUBACK, MQTT_DISCONNECT};
    for (size_t step = 1; step <= sizeof stream; step++) {
        uint8_t buf[sizeof stream];
        size_t have = 0, fed = 0, next = 0;
        while (next < sizeof types) {
            struct mqtt_frame f;
            int rc = mqtt_frame_parse(buf, have, 128, &f);
            if (rc == MQTT_FRAME_MORE) {
                assert_true(fed < sizeof stream);
                size_t n = sizeof stream - fed < step ? sizeof stream - fed : step;
                memcpy(buf + have, stream + fed, n);
                have += n;
                fed += n;
                continue;
            }
            assert_int_equal(rc, MQTT_FRAME_OK);
            assert_int_equal(f.type, types[next]);
            next++;
            memmove(buf, buf + f.total, have - f.total);
            have -= f.total;
        }
        assert_int_equal(have, 0);
        assert_int_equal(fed, sizeof stream);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_packet_type),
        cmocka_unit_test(test_remaining_length),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_encode_connect),
        cmocka_unit_test(test_encode_subscribe),
        cmocka_unit_test(test_encode_small),
        cmocka_unit_test(test_suback),
        cmocka_unit_test(test_publish_head),
        cmocka_unit_test(test_stream_any_split),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_length_lies),
        cmocka_unit_test(test_connack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
