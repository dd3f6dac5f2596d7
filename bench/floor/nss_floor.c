/*
 * nss_floor.c: the "floor" of the hit-latency benchmarks, an NSS hosts module that
 * does nothing but answer two fixed names from constants, as fast as a module can.
 *
 * rustcache-bench compiles it into libnss_floor.so.2 in a temporary directory that
 * probes find through LD_LIBRARY_PATH, with `hosts: floor` on the hosts line:
 *
 *   cc -O2 -fPIC -shared -fvisibility=hidden -Wl,-soname,libnss_floor.so.2 \
 *      -DFLOOR_V4_NAME='"v4.hit.example.com"'  -DFLOOR_V4_ADDR=198,18,7,1 \
 *      -DFLOOR_DUAL_NAME='"dual.hit.example.com"' -DFLOOR_DUAL_V4=198,18,7,2 \
 *      -DFLOOR_DUAL_V6=0x20,0x01,0x0d,0xb8,0,7,0,0,0,0,0,0,0,0,0,2 \
 *      -o libnss_floor.so.2 nss_floor.c
 *
 * The names and addresses come from the benchmark (one source of truth), so the
 * module answers exactly the address set rustcache must return for the same names:
 * FLOOR_V4_NAME has one IPv4 address, FLOOR_DUAL_NAME one IPv4 and one IPv6 address.
 * Any other name is "not found". What getaddrinfo costs with `hosts: floor` is what
 * glibc itself costs (nsswitch, the call, building the addrinfo list, RFC 3484
 * sorting); a caching module cannot answer a hit faster than this.
 *
 * The ABI (DESIGN.md, "The glibc hosts ABI"): buffer too small is TRYAGAIN with
 * ERANGE and NETDB_INTERNAL, nothing written unless returning SUCCESS, pointers in the
 * buffer 8-byte aligned, arrays NULL-terminated, a non-NULL *pat on entry receives the
 * first tuple. The reverse lookups answer "not found" (a missing symbol would count as
 * UNAVAIL). The other databases' functions are exported as UNAVAIL stubs (at the end).
 */
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#if !defined(FLOOR_V4_NAME) || !defined(FLOOR_V4_ADDR) || !defined(FLOOR_DUAL_NAME) \
    || !defined(FLOOR_DUAL_V4) || !defined(FLOOR_DUAL_V6)
#error "compile with -DFLOOR_V4_NAME, -DFLOOR_V4_ADDR, -DFLOOR_DUAL_NAME, -DFLOOR_DUAL_V4, -DFLOOR_DUAL_V6 (see the comment above)"
#endif

#define EXPORT __attribute__((visibility("default")))
#define TTL 300

/* One fixed answer: the name, and at most one address per family. */
struct answer {
    const char *name;
    size_t name_len; /* without the NUL */
    const unsigned char *v4; /* 4 bytes, or NULL */
    const unsigned char *v6; /* 16 bytes, or NULL */
};

static const unsigned char v4_only_v4[4] = {FLOOR_V4_ADDR};
static const unsigned char dual_v4[4] = {FLOOR_DUAL_V4};
static const unsigned char dual_v6[16] = {FLOOR_DUAL_V6};

static const struct answer answers[] = {
    {FLOOR_V4_NAME, sizeof(FLOOR_V4_NAME) - 1, v4_only_v4, NULL},
    {FLOOR_DUAL_NAME, sizeof(FLOOR_DUAL_NAME) - 1, dual_v4, dual_v6},
};

static const struct answer *find(const char *name)
{
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
        if (strcasecmp(name, answers[i].name) == 0)
            return &answers[i];
    return NULL;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Bytes from `buffer` to the next 8-byte boundary. */
static size_t misalignment(const char *buffer)
{
    return (8 - ((uintptr_t)buffer & 7)) & 7;
}

static enum nss_status fail(enum nss_status status, int err, int herr, int *errnop,
                            int *h_errnop)
{
    *h_errnop = herr;
    *errnop = err;
    return status;
}

static enum nss_status too_small(int *errnop, int *h_errnop)
{
    return fail(NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL, errnop, h_errnop);
}

EXPORT enum nss_status _nss_floor_gethostbyname4_r(const char *name,
                                                    struct gaih_addrtuple **pat,
                                                    char *buffer, size_t buflen,
                                                    int *errnop, int *h_errnop,
                                                    int32_t *ttlp)
{
    const struct answer *a = find(name);
    if (a == NULL)
        return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);

    size_t count = (a->v4 != NULL) + (a->v6 != NULL);
    /* Tuples the buffer must hold: all of them, or all but the first when the caller
     * passed one in *pat. Then the name. */
    size_t in_buffer = *pat != NULL ? count - 1 : count;
    size_t pad = misalignment(buffer);
    size_t need = pad + in_buffer * sizeof(struct gaih_addrtuple) + a->name_len + 1;
    if (buflen < need)
        return too_small(errnop, h_errnop);

    struct gaih_addrtuple *tuples = (struct gaih_addrtuple *)(buffer + pad);
    char *hname = (char *)(tuples + in_buffer);
    memcpy(hname, a->name, a->name_len + 1);

    struct gaih_addrtuple *slots[2];
    size_t next = 0;
    if (*pat != NULL)
        slots[0] = *pat;
    else
        slots[0] = &tuples[next++];
    if (count == 2)
        slots[1] = &tuples[next++];

    size_t i = 0;
    if (a->v4 != NULL) {
        struct gaih_addrtuple *t = slots[i++];
        memset(t, 0, sizeof(*t));
        t->family = AF_INET;
        memcpy(t->addr, a->v4, 4);
    }
    if (a->v6 != NULL) {
        struct gaih_addrtuple *t = slots[i++];
        memset(t, 0, sizeof(*t));
        t->family = AF_INET6;
        memcpy(t->addr, a->v6, 16);
    }
    for (size_t k = 0; k < count; k++) {
        slots[k]->name = k == 0 ? hname : NULL;
        slots[k]->next = k + 1 < count ? slots[k + 1] : NULL;
    }
    *pat = slots[0];
    if (ttlp != NULL)
        *ttlp = TTL;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_floor_gethostbyname3_r(const char *name, int af,
                                                    struct hostent *result, char *buffer,
                                                    size_t buflen, int *errnop,
                                                    int *h_errnop, int32_t *ttlp,
                                                    char **canonp)
{
    const struct answer *a = find(name);
    if (a == NULL)
        return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
    const unsigned char *addr;
    size_t alen;
    if (af == AF_INET) {
        addr = a->v4;
        alen = 4;
    } else if (af == AF_INET6) {
        addr = a->v6;
        alen = 16;
    } else {
        return fail(NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY, errnop, h_errnop);
    }
    if (addr == NULL)
        return fail(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);

    /* Layout: h_aliases {NULL}, h_addr_list {addr, NULL}, the address, the name. */
    size_t pad = misalignment(buffer);
    size_t arrays = 3 * sizeof(char *);
    size_t need = pad + arrays + align8(alen) + a->name_len + 1;
    if (buflen < need)
        return too_small(errnop, h_errnop);

    char **aliases = (char **)(buffer + pad);
    char **addr_list = aliases + 1;
    char *addr_bytes = (char *)(aliases + 3);
    char *hname = addr_bytes + align8(alen);
    memcpy(addr_bytes, addr, alen);
    memcpy(hname, a->name, a->name_len + 1);
    aliases[0] = NULL;
    addr_list[0] = addr_bytes;
    addr_list[1] = NULL;

    result->h_name = hname;
    result->h_aliases = aliases;
    result->h_addrtype = af;
    result->h_length = (int)alen;
    result->h_addr_list = addr_list;
    if (ttlp != NULL)
        *ttlp = TTL;
    if (canonp != NULL)
        *canonp = hname;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_floor_gethostbyname2_r(const char *name, int af,
                                                    struct hostent *result, char *buffer,
                                                    size_t buflen, int *errnop,
                                                    int *h_errnop)
{
    return _nss_floor_gethostbyname3_r(name, af, result, buffer, buflen, errnop, h_errnop,
                                       NULL, NULL);
}

EXPORT enum nss_status _nss_floor_gethostbyname_r(const char *name, struct hostent *result,
                                                   char *buffer, size_t buflen, int *errnop,
                                                   int *h_errnop)
{
    return _nss_floor_gethostbyname3_r(name, AF_INET, result, buffer, buflen, errnop,
                                       h_errnop, NULL, NULL);
}

EXPORT enum nss_status _nss_floor_gethostbyaddr2_r(const void *addr, socklen_t len, int af,
                                                    struct hostent *result, char *buffer,
                                                    size_t buflen, int *errnop,
                                                    int *h_errnop, int32_t *ttlp)
{
    (void)addr, (void)len, (void)af, (void)result, (void)buffer, (void)buflen, (void)ttlp;
    return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
}

EXPORT enum nss_status _nss_floor_gethostbyaddr_r(const void *addr, socklen_t len, int af,
                                                   struct hostent *result, char *buffer,
                                                   size_t buflen, int *errnop,
                                                   int *h_errnop)
{
    return _nss_floor_gethostbyaddr2_r(addr, len, af, result, buffer, buflen, errnop,
                                       h_errnop, NULL);
}

/*
 * The other databases' functions (passwd, group, shadow, services, ...), each answering
 * UNAVAIL, which is what glibc assumes of a function a module lacks. glibc 2.34 and later
 * look every NSS function of every database up when they load a module, and each name
 * missing is a failed symbol lookup whose error message is built and thrown away: these
 * 54 names cost a fresh process's first lookup about 46,000 instructions (callgrind of
 * `hosts: floor dns` and a new name: 367,007 before, 320,900 after), though only about
 * 2 us. rustcache exports the same stubs (nss-module/src/other_databases.rs), so the
 * floor does too: it is to cost no more to load than a module has to.
 */
#define UNAVAIL(name) \
    EXPORT enum nss_status _nss_floor_##name(void) { return NSS_STATUS_UNAVAIL; }
UNAVAIL(endaliasent) UNAVAIL(endetherent) UNAVAIL(endgrent) UNAVAIL(endnetent)
UNAVAIL(endnetgrent) UNAVAIL(endprotoent) UNAVAIL(endpwent) UNAVAIL(endrpcent)
UNAVAIL(endservent) UNAVAIL(endsgent) UNAVAIL(endspent) UNAVAIL(getaliasbyname_r)
UNAVAIL(getaliasent_r) UNAVAIL(getetherent_r) UNAVAIL(getgrent_r) UNAVAIL(getgrgid_r)
UNAVAIL(getgrnam_r) UNAVAIL(gethostton_r) UNAVAIL(getnetbyaddr_r)
UNAVAIL(getnetbyname_r) UNAVAIL(getnetent_r) UNAVAIL(getnetgrent_r)
UNAVAIL(getntohost_r) UNAVAIL(getprotobyname_r) UNAVAIL(getprotobynumber_r)
UNAVAIL(getprotoent_r) UNAVAIL(getpublickey) UNAVAIL(getpwent_r) UNAVAIL(getpwnam_r)
UNAVAIL(getpwuid_r) UNAVAIL(getrpcbyname_r) UNAVAIL(getrpcbynumber_r)
UNAVAIL(getrpcent_r) UNAVAIL(getsecretkey) UNAVAIL(getservbyname_r)
UNAVAIL(getservbyport_r) UNAVAIL(getservent_r) UNAVAIL(getsgent_r) UNAVAIL(getsgnam_r)
UNAVAIL(getspent_r) UNAVAIL(getspnam_r) UNAVAIL(initgroups_dyn) UNAVAIL(netname2user)
UNAVAIL(setaliasent) UNAVAIL(setetherent) UNAVAIL(setgrent) UNAVAIL(setnetent)
UNAVAIL(setnetgrent) UNAVAIL(setprotoent) UNAVAIL(setpwent) UNAVAIL(setrpcent)
UNAVAIL(setservent) UNAVAIL(setsgent) UNAVAIL(setspent)
