/*
 * fuzz_mqtt_client.c - libFuzzer target: the ingest's MQTT client as a hostile
 * broker would talk to it.
 *
 * The client runs over an in-memory transport (struct mqtt_io) that hands it
 * the fuzzer's bytes as the broker's stream, cut into reads of a size the
 * input chooses (down to one byte), and takes what the client writes. Two
 * connections are made from the same stream, so redelivery and orphans are
 * exercised too. The input's first bytes choose the cut, when rows commit and
 * whether reading is paused; packets larger than the client's buffer, bad
 * remaining lengths, unexpected packet types, refusing CONNACKs and reused
 * packet ids all come from the stream.
 *
 * Checked: no crash, leak or undefined behaviour; no PUBACK for a message
 * whose row is not committed; every PUBACK the client writes is well formed;
 * the client's own bookkeeping agrees with the tracker's.
 */
/* fuzz-max-len: 8192 (several packets over the client's 1024-byte limit in one stream) */
#include "core/log.h"
#include "ingest/ack_tracker.h"
#include "ingest/mqtt_client.h"
#include "ingest/mqtt_frame.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_PACKET 1024 /* the client's limit: larger PUBLISHes take the too_large path */
#define FUZZ_REFS 4096       /* outstanding refs the fake ingest keeps before committing them */

/* The broker side of the in-memory transport, and the fake ingest behind the client. */
struct fuzz_rig {
    const uint8_t *stream;
    size_t len, pos;
    size_t cut;      /* bytes per read */
    bool open;       /* a connection is up */
    int connections; /* opened so far */
    uint8_t written[256];
    size_t wlen;  /* bytes of a packet the client wrote, not yet whole */
    uint8_t mode; /* bit 0: commit at once; bit 1: pause every other message; bit 2: block writes at times */
    unsigned tick;
    struct ack_ref refs[FUZZ_REFS];
    size_t nrefs;
    struct mqtt_client *c;
};

static struct fuzz_rig rig;

static int mem_open(void *ctx, const char *host, int port, char *err, size_t errlen)
{
    (void)ctx, (void)host, (void)port, (void)err, (void)errlen;
    rig.open = true;
    rig.pos = 0;
    rig.wlen = 0;
    rig.connections++;
    return 1000; /* never polled: the rig drives mqtt_client_service itself */
}

static int mem_finish(void *ctx, short *events, char *err, size_t errlen)
{
    (void)ctx, (void)events, (void)err, (void)errlen;
    return 1;
}

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    if (rig.pos >= rig.len)
        return MQTT_IO_EOF;
    size_t k = rig.len - rig.pos;
    if (k > rig.cut)
        k = rig.cut;
    if (k > n)
        k = n;
    memcpy(buf, rig.stream + rig.pos, k);
    rig.pos += k;
    return (ssize_t)k;
}

/* Is a PUBACK for mid going out while the row its slot waits for is not committed? */
static void check_puback(uint16_t mid)
{
    if (mid == 0)
        abort();
    for (size_t i = 0; i < rig.nrefs; i++)
        if (rig.refs[i].mid == mid && rig.refs[i].gen == rig.c->acks.slots[mid].gen)
            abort(); /* acknowledged before its row was committed */
}

static ssize_t mem_write(void *ctx, const void *buf, size_t n)
{
    (void)ctx;
    if ((rig.mode & 4) && (++rig.tick % 3) == 0)
        return 0; /* the socket is full now */
    const uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (rig.wlen < sizeof rig.written)
            rig.written[rig.wlen++] = p[i];
        struct mqtt_frame f;
        int rc = mqtt_frame_parse(rig.written, rig.wlen, sizeof rig.written, &f);
        if (rc == MQTT_FRAME_MORE && rig.wlen < sizeof rig.written)
            continue;
        if (rc == MQTT_FRAME_OK) {
            if (f.type == MQTT_PUBACK) {
                if (f.total != 4)
                    abort();
                check_puback((uint16_t)(rig.written[2] << 8 | rig.written[3]));
            }
            rig.wlen = 0;
        } else if (rc != MQTT_FRAME_MORE)
            abort(); /* the client wrote something that is not MQTT */
        else
            rig.wlen = 0; /* a CONNECT or SUBSCRIBE longer than the sniffer keeps: not checked */
    }
    return (ssize_t)n;
}

static void mem_close(void *ctx)
{
    (void)ctx;
    rig.open = false;
}

static const struct mqtt_io_ops mem_ops = {mem_open, mem_finish, mem_read, mem_write, mem_close};

static void commit_all(void)
{
    for (size_t i = 0; i < rig.nrefs; i++)
        mqtt_client_commit(rig.c, rig.refs[i]);
    rig.nrefs = 0;
}

static void on_message(void *ctx, const struct mqtt_message *m, struct ack_ref ref)
{
    (void)ctx;
    /* touch every byte handed over, so ASan sees a read outside the buffer */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < m->topic_len; i++)
        sink ^= (uint8_t)m->topic[i];
    for (size_t i = 0; i < m->payload_len; i++)
        sink ^= m->payload[i];
    (void)sink;
    if (m->truncated != (m->packet_len > FUZZ_MAX_PACKET) || m->qos > 1 || (m->qos == 0 && ref.mid))
        abort();
    if (m->truncated && m->payload_len > MQTT_CLIENT_SAMPLE)
        abort();
    if (!ref.mid)
        return;
    if (ref.mid != m->mid || rig.nrefs == FUZZ_REFS)
        abort();
    rig.refs[rig.nrefs++] = ref;
    if (rig.mode & 1)
        commit_all();
}

static bool can_read(void *ctx)
{
    (void)ctx;
    return !(rig.mode & 2) || (++rig.tick % 2) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    log_init("fuzz", LOG_SILENT);
    memset(&rig, 0, sizeof rig);
    rig.cut = data[0] ? data[0] : 1;
    rig.mode = data[1];
    rig.stream = data + 2;
    rig.len = size - 2;

    char f1[] = "+/+/+", f2[] = "+/status";
    char *filters[] = {f1, f2};
    struct mqtt_client_config cfg = {
        .host = "fuzz",
        .port = 1883,
        .client_id = "fuzz-ingest",
        .username = "ingest",
        .password = "secret",
        .password_len = 6,
        .qos = 1,
        .keepalive_s = 60,
        .filters = filters,
        .nfilters = 2,
        .max_packet = FUZZ_MAX_PACKET,
        .connect_timeout_ms = 1000,
    };
    struct mqtt_io io = {&mem_ops, NULL};
    struct mqtt_client_hooks hooks = {.on_message = on_message, .can_read = can_read};
    static struct mqtt_client c;
    char err[256];
    if (mqtt_client_init(&c, &cfg, &io, &hooks, err, sizeof err) != 0)
        abort();
    rig.c = &c;
    int64_t now = 1000000;
    /* two connections over the same stream; each ends when the stream does (or the client closes it) */
    int idle = 0;
    for (int round = 0; round < 2000 && idle < 20; round++) {
        size_t pos = rig.pos;
        enum mqtt_client_state st = c.state;
        short ev = 0;
        int fd = mqtt_client_pollfd(&c, &ev);
        mqtt_client_service(&c, fd >= 0 ? (short)(POLLIN | POLLOUT) : 0, now);
        if (round % 7 == 3)
            commit_all();
        mqtt_client_flush(&c);
        if (ack_tracker_in_use(&c.acks) != c.ackq.count)
            abort(); /* every id in use has exactly one PUBACK queued */
        if (c.state == MC_WAIT && rig.connections == 2)
            break;
        idle = pos == rig.pos && st == c.state ? idle + 1 : 0;
        now += c.state == MC_WAIT ? 6000 : 1; /* past any backoff */
    }
    commit_all();
    mqtt_client_flush(&c);
    mqtt_client_stop(&c, now);
    for (int i = 0; i < 10 && !mqtt_client_closed(&c); i++)
        mqtt_client_service(&c, POLLIN, now += 1000);
    mqtt_client_free(&c);
    return 0;
}
