/* auth_parse.c - Cookie, Authorization and login-body parsers (see auth_parse.h). */
#include "auth_parse.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

bool auth_cookie_find(const char *hdr, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name), i = 0;
    while (i < len) {
        while (i < len && (is_space(hdr[i]) || hdr[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && hdr[i] != ';')
            i++;
        /* hdr[start..i) is one "k=v" */
        const char *eq = memchr(hdr + start, '=', i - start);
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - (hdr + start));
        while (klen && is_space(hdr[start + klen - 1]))
            klen--;
        if (klen != nlen || memcmp(hdr + start, name, nlen))
            continue;
        const char *v = eq + 1, *end = hdr + i;
        while (v < end && is_space(*v))
            v++;
        while (end > v && is_space(end[-1]))
            end--;
        if (end - v >= 2 && *v == '"' && end[-1] == '"') {
            v++;
            end--;
        }
        *val = v;
        *vlen = (size_t)(end - v);
        return true;
    }
    return false;
}

bool auth_bearer(const char *hdr, size_t len, const char **tok, size_t *tlen)
{
    if (len < 7 || strncasecmp(hdr, "Bearer", 6) || !is_space(hdr[6]))
        return false;
    size_t i = 6;
    while (i < len && is_space(hdr[i]))
        i++;
    size_t start = i;
    while (i < len && !is_space(hdr[i]))
        i++;
    size_t end = i;
    while (i < len && is_space(hdr[i]))
        i++;
    if (i != len || end == start)
        return false;
    for (size_t k = start; k < end; k++)
        if ((unsigned char)hdr[k] < 0x21 || (unsigned char)hdr[k] > 0x7e)
            return false;
    *tok = hdr + start;
    *tlen = end - start;
    return true;
}

bool auth_name_valid(const char *s, size_t len)
{
    if (len < 1 || len > AUTH_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decode a form value s[0..n) into out (cap bytes with the NUL). -1 when bad, too long or holding NUL. */
static int form_decode(const char *s, size_t n, char *out, size_t cap, size_t *olen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexv(s[i + 1]), lo = hexv(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    *olen = o;
    return 0;
}

static int put(const char *v, size_t n, char *out, size_t cap)
{
    if (n + 1 > cap || memchr(v, '\0', n))
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

int auth_login_parse(const char *body, size_t len, bool json, char *name, char *password, const char **err)
{
    bool have_name = false, have_pw = false;
    size_t nlen = 0, plen = 0;
    *err = "a login needs a name and a password";
    if (json) {
        cJSON *j = cJSON_ParseWithLength(body, len);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
        if (cJSON_IsString(n) && cJSON_IsString(p)) {
            nlen = strlen(n->valuestring);
            plen = strlen(p->valuestring);
            have_name = !put(n->valuestring, nlen, name, AUTH_NAME_MAX + 1);
            have_pw = !put(p->valuestring, plen, password, AUTH_PASSWORD_MAX + 1);
        } else if (!j)
            *err = "the body is not JSON";
        cJSON_Delete(j);
    } else {
        size_t i = 0;
        while (i < len) {
            const char *amp = memchr(body + i, '&', len - i);
            size_t end = amp ? (size_t)(amp - body) : len;
            const char *eq = memchr(body + i, '=', end - i);
            if (eq) {
                size_t klen = (size_t)(eq - (body + i)), voff = (size_t)(eq - body) + 1;
                if (klen == 4 && !memcmp(body + i, "name", 4) && !have_name)
                    have_name = !form_decode(body + voff, end - voff, name, AUTH_NAME_MAX + 1, &nlen);
                else if (klen == 8 && !memcmp(body + i, "password", 8) && !have_pw)
                    have_pw = !form_decode(body + voff, end - voff, password, AUTH_PASSWORD_MAX + 1, &plen);
            }
            i = end + 1;
        }
    }
    if (!have_name || !have_pw || plen == 0)
        return -1;
    if (!auth_name_valid(name, nlen)) {
        *err = "a user name is 1 to 64 of A-Z a-z 0-9 _ . -";
        return -1;
    }
    *err = NULL;
    return 0;
}
