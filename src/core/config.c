/* config.c - option tables: defaults, config file, environment, flags (see config.h). */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *cfg_default_getenv(const char *name)
{
    return getenv(name);
}

static void cfg_env_name(const char *name, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "SENSORPIPE_");
    for (const char *p = name; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* Store text into the option's destination, checking type and bounds. */
static int cfg_set(const struct cfg_opt *o, const char *text, const char *source, char *err, size_t errlen)
{
    switch (o->type) {
    case CFG_STR: {
        char **dst = o->dest;
        char *copy = strdup(text);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return CFG_ERROR;
        }
        free(*dst);
        *dst = copy;
        return CFG_OK;
    }
    case CFG_BOOL: {
        bool *dst = o->dest;
        if (!strcmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on"))
            *dst = true;
        else if (!strcmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off") || !*text)
            *dst = false;
        else {
            snprintf(err, errlen, "%s: --%s expects true or false, got '%.64s'", source, o->name, text);
            return CFG_ERROR;
        }
        return CFG_OK;
    }
    case CFG_INT:
    case CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = o->type == CFG_INT ? (double)strtol(text, &end, 10) : strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v)) {
            snprintf(err, errlen, "%s: --%s expects a number, got '%.64s'", source, o->name, text);
            return CFG_ERROR;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: --%s must be between %g and %g, got %.64s", source, o->name, o->min, o->max,
                     text);
            return CFG_ERROR;
        }
        if (o->type == CFG_INT)
            *(long *)o->dest = (long)v;
        else
            *(double *)o->dest = v;
        return CFG_OK;
    }
    }
    return CFG_ERROR;
}

static const struct cfg_opt *cfg_find(const struct cfg_opt *opts, const char *name, size_t len)
{
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

/* ---- the config file ---- */

static bool cfg_names_have(const char *const *names, const char *name, size_t len)
{
    for (; *names; names++)
        if (strlen(*names) == len && !strncmp(*names, name, len))
            return true;
    return false;
}

static const struct cfg_section *cfg_section_find(const char *name, size_t len)
{
    for (const struct cfg_section *s = cfg_sections; s->name; s++)
        if (strlen(s->name) == len && !strncmp(s->name, name, len))
            return s;
    return NULL;
}

static bool cfg_known_anywhere(const char *name, size_t len)
{
    for (const struct cfg_section *s = cfg_sections; s->name; s++)
        if (cfg_names_have(s->options, name, len))
            return true;
    return false;
}

static void cfg_trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

#define CFG_SEEN_ALL 1u  /* set before any header */
#define CFG_SEEN_MINE 2u /* set under this subcommand's header */

int cfg_file_apply(const struct cfg_opt *opts, const char *section, const char *text, size_t len, const char *source,
                   char *err, size_t errlen)
{
    enum { PART_ALL, PART_MINE, PART_OTHER } part = PART_ALL;
    const struct cfg_section *other = NULL;
    size_t nopts = 0;
    while (opts[nopts].name)
        nopts++;
    unsigned char *seen = calloc(nopts + 1, 1);
    if (!seen) {
        snprintf(err, errlen, "out of memory");
        return CFG_ERROR;
    }
    int rc = CFG_OK;
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len && rc == CFG_OK;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (memchr(line, '\0', ll)) {
            snprintf(err, errlen, "%s:%u: a NUL byte", source, lineno);
            rc = CFG_ERROR;
            break;
        }
        const char *b = line, *e = line + ll;
        cfg_trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *nb = b + 1, *ne = e - 1;
            if (e - b < 2 || *ne != ']') {
                snprintf(err, errlen, "%s:%u: a header is [command]", source, lineno);
                rc = CFG_ERROR;
                break;
            }
            cfg_trim(&nb, &ne);
            size_t hl = (size_t)(ne - nb);
            if (hl == strlen(section) && !strncmp(nb, section, hl))
                part = PART_MINE;
            else if ((other = cfg_section_find(nb, hl)) != NULL)
                part = PART_OTHER;
            else {
                snprintf(err, errlen, "%s:%u: [%.*s] names no command", source, lineno, (int)(hl > 64 ? 64 : hl), nb);
                rc = CFG_ERROR;
            }
            continue;
        }
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (!eq) {
            snprintf(err, errlen, "%s:%u: expected name = value", source, lineno);
            rc = CFG_ERROR;
            break;
        }
        const char *n = b, *ne = eq, *v = eq + 1, *ve = e;
        cfg_trim(&n, &ne);
        cfg_trim(&v, &ve);
        size_t nlen = (size_t)(ne - n);
        int shown = (int)(nlen > 64 ? 64 : nlen);
        if (nlen == 0) {
            snprintf(err, errlen, "%s:%u: no name before '='", source, lineno);
            rc = CFG_ERROR;
            break;
        }
        if (nlen == 6 && !strncmp(n, "config", 6)) {
            snprintf(err, errlen, "%s:%u: a config file cannot name another (config =)", source, lineno);
            rc = CFG_ERROR;
            break;
        }
        if (part == PART_OTHER) {
            if (!cfg_names_have(other->options, n, nlen)) {
                snprintf(err, errlen, "%s:%u: sensorpipe %s has no setting '%.*s'", source, lineno, other->name, shown,
                         n);
                rc = CFG_ERROR;
            }
            continue;
        }
        const struct cfg_opt *o = cfg_find(opts, n, nlen);
        if (!o) {
            if (part == PART_ALL && cfg_known_anywhere(n, nlen))
                continue; /* another subcommand's */
            if (part == PART_MINE)
                snprintf(err, errlen, "%s:%u: sensorpipe %s has no setting '%.*s'", source, lineno, section, shown, n);
            else
                snprintf(err, errlen, "%s:%u: no command has a setting '%.*s'", source, lineno, shown, n);
            rc = CFG_ERROR;
            break;
        }
        unsigned bit = part == PART_MINE ? CFG_SEEN_MINE : CFG_SEEN_ALL;
        if (seen[o - opts] & bit) {
            snprintf(err, errlen, "%s:%u: '%s' is set twice", source, lineno, o->name);
            rc = CFG_ERROR;
            break;
        }
        seen[o - opts] |= (unsigned char)bit;
        size_t vlen = (size_t)(ve - v);
        char *value = malloc(vlen + 1);
        if (!value) {
            snprintf(err, errlen, "out of memory");
            rc = CFG_ERROR;
            break;
        }
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        char where[128];
        snprintf(where, sizeof where, "%.100s:%u", source, lineno);
        rc = cfg_set(o, value, where, err, errlen);
        free(value);
    }
    free(seen);
    return rc;
}

/* Read a whole config file (at most CFG_FILE_MAX bytes) into *out (malloc'd; the caller frees it). */
static int cfg_file_read(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "config file %.200s: %s", path, strerror(errno));
        return CFG_ERROR;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CFG_FILE_MAX) {
        snprintf(err, errlen, "config file %.200s: not a regular file of at most %d bytes", path, CFG_FILE_MAX);
        goto fail;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0; /* one byte more: a file that grew is seen */
    if (!(buf = malloc(cap))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "config file %.200s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            snprintf(err, errlen, "config file %.200s changed while it was read", path);
            goto fail;
        }
    }
    close(fd);
    *out = buf;
    *len = n;
    return CFG_OK;
fail:
    free(buf);
    close(fd);
    return CFG_ERROR;
}

/* The --config of argv (walking it as the flag loop does), else SENSORPIPE_CONFIG; NULL when none. */
static const char *cfg_config_path(const struct cfg_opt *opts, int argc, char **argv, cfg_getenv_fn env, char *err,
                                   size_t errlen, int *rc)
{
    *rc = CFG_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option --config needs a value");
                *rc = CFG_ERROR;
                return NULL;
            }
            return argv[i + 1];
        }
        if (!strncmp(a, "--config=", 9))
            return a + 9;
        if (strncmp(a, "--", 2) != 0 || strchr(a, '='))
            continue;
        const struct cfg_opt *o = cfg_find(opts, a + 2, strlen(a + 2));
        if (o && o->type != CFG_BOOL)
            i++; /* its value */
    }
    const char *v = env("SENSORPIPE_CONFIG");
    return v && *v ? v : NULL;
}

int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, cfg_getenv_fn env, char *err, size_t errlen)
{
    if (!env)
        env = cfg_default_getenv;
    for (const struct cfg_opt *o = opts; o->name; o++) {
        if (o->type == CFG_STR)
            *(char **)o->dest = NULL;
        if (cfg_set(o, o->def ? o->def : (o->type == CFG_STR ? "" : "0"), "default", err, errlen))
            return CFG_ERROR;
    }
    int rc;
    const char *path = cfg_config_path(opts, argc, argv, env, err, errlen, &rc);
    if (rc != CFG_OK)
        return rc;
    if (path) {
        char *text;
        size_t len;
        if (cfg_file_read(path, &text, &len, err, errlen) != CFG_OK)
            return CFG_ERROR;
        rc = cfg_file_apply(opts, argc > 0 && argv[0] ? argv[0] : "", text, len, path, err, errlen);
        free(text);
        if (rc != CFG_OK)
            return rc;
    }
    for (const struct cfg_opt *o = opts; o->name; o++) {
        char name[96];
        cfg_env_name(o->name, name, sizeof name);
        const char *v = env(name);
        if (!v && o->env_alias)
            v = env(o->env_alias);
        if (v && cfg_set(o, v, "environment", err, errlen))
            return CFG_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return CFG_HELP;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%.64s' (options start with --)", a);
            return CFG_ERROR;
        }
        if (!strcmp(a, "--config")) {
            i++; /* read before the environment */
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct cfg_opt *o = cfg_find(opts, a, len);
        if (!o && !eq && len > 3 && !strncmp(a, "no-", 3)) {
            o = cfg_find(opts, a + 3, len - 3);
            if (o && o->type == CFG_BOOL) {
                *(bool *)o->dest = false;
                continue;
            }
            o = NULL;
        }
        if (!o) {
            snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)(len > 64 ? 64 : len), a);
            return CFG_ERROR;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (o->type == CFG_BOOL)
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "option --%s needs a value", o->name);
            return CFG_ERROR;
        }
        if (cfg_set(o, value, "flag", err, errlen))
            return CFG_ERROR;
    }
    return CFG_OK;
}

void cfg_usage(FILE *out, const char *cmd, const char *summary, const struct cfg_opt *opts)
{
    fprintf(out, "usage: sensorpipe %s [options]\n%s\n\noptions (flag, environment, default):\n", cmd, summary);
    for (const struct cfg_opt *o = opts; o->name; o++) {
        char env[96];
        cfg_env_name(o->name, env, sizeof env);
        fprintf(out, "  --%-20s %s\n  %22s env %s%s%s, default '%s'\n", o->name, o->help, "", env,
                o->env_alias ? " or " : "", o->env_alias ? o->env_alias : "", o->def ? o->def : "");
    }
    fprintf(out, "  --%-20s settings file: name = value lines; those under [%s] for this command only\n", "config",
            cmd);
    fprintf(out, "  %22s env SENSORPIPE_CONFIG; the environment and flags override it\n", "");
    fprintf(out, "  --%-20s %s\n", "help", "show this help");
}

/* Bounded output of cfg_mask_dsn: appends what fits, always NUL-terminated (when there is room at all). */
struct mask_out {
    char *p;
    size_t len, cap;
};

static void mask_put(struct mask_out *o, const char *s, size_t n)
{
    if (!o->cap)
        return;
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Is k[0..n) the keyword "password" (percent-decoded first when decode, as libpq does in URIs)? */
static bool mask_is_password(const char *k, size_t n, bool decode)
{
    char key[16];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (decode && c == '%' && i + 2 < n && hexval(k[i + 1]) >= 0 && hexval(k[i + 2]) >= 0) {
            c = (char)(hexval(k[i + 1]) * 16 + hexval(k[i + 2]));
            i += 2;
        }
        if (m == sizeof key - 1)
            return false;
        key[m++] = c;
    }
    key[m] = '\0';
    return !strcasecmp(key, "password");
}

/* scheme://[user[:password]@]host...[?key=value&...]: the password and every password= parameter masked. */
static void mask_uri(const char *dsn, const char *after_scheme, struct mask_out *o)
{
    const char *p = after_scheme;
    size_t cred = strcspn(p, "@/"); /* libpq: credentials end at the first '@' before any '/' */
    if (p[cred] == '@') {
        const char *colon = memchr(p, ':', cred);
        if (colon) {
            mask_put(o, dsn, (size_t)(colon + 1 - dsn));
            mask_put(o, "***", 3);
            dsn = p + cred;
        }
        p += cred + 1;
    }
    const char *q = strchr(p, '?');
    if (!q) {
        mask_put(o, dsn, strlen(dsn));
        return;
    }
    q++;
    mask_put(o, dsn, (size_t)(q - dsn));
    while (*q) {
        size_t plen = strcspn(q, "&");
        const char *eq = memchr(q, '=', plen);
        if (eq && mask_is_password(q, (size_t)(eq - q), true)) {
            mask_put(o, q, (size_t)(eq + 1 - q));
            mask_put(o, "***", 3);
        } else
            mask_put(o, q, plen);
        q += plen;
        if (*q == '&')
            mask_put(o, q++, 1);
    }
}

/*
 * key = value ... as libpq reads it (spaces around '=', 'quoted values' with \-escapes,
 * \-escapes in plain values too): the value of every password key masked. What libpq
 * would refuse (a key without '=', an unterminated quote) is masked from there on.
 */
static void mask_keyvalue(const char *s, struct mask_out *o)
{
    const char *p = s;
    while (*p) {
        const char *start = p;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p) {
            mask_put(o, start, (size_t)(p - start));
            return;
        }
        const char *key = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t klen = (size_t)(p - key);
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=') {
            mask_put(o, start, (size_t)(key - start));
            mask_put(o, "***", 3);
            return;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        const char *val = p;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p) {
                mask_put(o, start, (size_t)(val - start));
                mask_put(o, "***", 3);
                return;
            }
            p++;
        } else
            for (; *p && !isspace((unsigned char)*p); p++)
                if (*p == '\\' && p[1])
                    p++;
        mask_put(o, start, (size_t)(val - start));
        if (mask_is_password(key, klen, false))
            mask_put(o, "***", 3);
        else
            mask_put(o, val, (size_t)(p - val));
    }
}

void cfg_mask_dsn(const char *dsn, char *out, size_t outlen)
{
    struct mask_out o = {out, 0, outlen};
    if (outlen)
        out[0] = '\0';
    /* URI form: scheme://user:password@host/db?password=... */
    size_t scheme = strspn(dsn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    if (scheme && !strncmp(dsn + scheme, "://", 3)) {
        mask_uri(dsn, dsn + scheme + 3, &o);
        return;
    }
    /* key=value form; a string that cannot hold a password (an address, a path) is shown as it is */
    if (strcasestr(dsn, "password"))
        mask_keyvalue(dsn, &o);
    else
        mask_put(&o, dsn, strlen(dsn));
}

void cfg_log_effective(const struct cfg_opt *opts)
{
    for (const struct cfg_opt *o = opts; o->name; o++) {
        char buf[512];
        switch (o->type) {
        case CFG_STR: {
            const char *s = *(char **)o->dest ? *(char **)o->dest : "";
            if (o->secret && *s)
                snprintf(buf, sizeof buf, "***");
            else
                cfg_mask_dsn(s, buf, sizeof buf);
            break;
        }
        case CFG_INT:
            snprintf(buf, sizeof buf, "%ld", *(long *)o->dest);
            break;
        case CFG_BOOL:
            snprintf(buf, sizeof buf, "%s", *(bool *)o->dest ? "true" : "false");
            break;
        case CFG_DOUBLE:
            snprintf(buf, sizeof buf, "%g", *(double *)o->dest);
            break;
        }
        log_info("config %s = %s", o->name, buf);
    }
}

void cfg_free(const struct cfg_opt *opts)
{
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (o->type == CFG_STR) {
            free(*(char **)o->dest);
            *(char **)o->dest = NULL;
        }
}

int cfg_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || errno || p < 0 || p > 65535)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}
