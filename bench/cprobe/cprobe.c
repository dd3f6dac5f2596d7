/*
 * cprobe.c: the fresh process of the loading-cost benchmarks (fresh-process, dlopen,
 * memory), a C program that links nothing but libc.
 *
 * Why C and not the testkit's Rust probe: a Rust program already has libgcc_s.so.1
 * loaded (Rust's std links it for unwinding), so a module that needs libgcc_s would
 * load for free there, and the pages it adds would be hidden. Most processes that
 * resolve names on a server (curl, sshd, sudo, cron jobs, Python) are C programs whose
 * first lookup pays for everything the module brings. rustcache-bench compiles this
 * file with `cc -O2` into a temporary directory and runs it in the sandbox.
 *
 *   cprobe gai NAME                  getaddrinfo(NAME, AF_UNSPEC, SOCK_STREAM), timed
 *   cprobe mem NAME BEFORE AFTER     copies /proc/self/smaps to BEFORE, does two such
 *                                    lookups, copies /proc/self/smaps to AFTER
 *   cprobe dlopen MODULE NAME        dlopen("libnss_MODULE.so.2", RTLD_LAZY)
 *                                    as glibc's NSS loader does, timed; whether
 *                                    libgcc_s.so.1 is mapped afterwards; then two timed
 *                                    direct calls of _nss_MODULE_gethostbyname4_r(NAME)
 *
 * Output, in the testkit probe's format: `OP => ok addrs=inet:A,inet6:B` (or `err ...`)
 * on stdout; on stderr `elapsed_ns=N op=OP` (gai, mem: the first lookup) or
 * `dlopen_ns=N first_ns=N second_ns=N libgcc_s=yes|no`. Exit status 0, 1 when a
 * lookup failed, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <nss.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Static, so that copying smaps needs no allocation: the copy before the lookups
 * touches these pages, the copy after finds them already resident. */
static char copy_buf[64 * 1024];
static char line[4096];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Appends "inet:A" or "inet6:B" (with a comma after the first) to `line`. */
static void add_addr(size_t *used, int family, const void *addr)
{
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, addr, text, sizeof text))
        return;
    int n = snprintf(line + *used, sizeof line - *used, "%s%s:%s",
                     *used > strlen("ok addrs=") ? "," : "",
                     family == AF_INET ? "inet" : "inet6", text);
    if (n > 0 && (size_t)n < sizeof line - *used)
        *used += (size_t)n;
}

/* One getaddrinfo; the result line in `line`; returns the elapsed time. */
static uint64_t gai(const char *name, int *ok)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    uint64_t t0 = now_ns();
    int rc = getaddrinfo(name, NULL, &hints, &res);
    uint64_t elapsed = now_ns() - t0;
    *ok = rc == 0;
    if (rc != 0) {
        snprintf(line, sizeof line, "err %s", gai_strerror(rc));
        return elapsed;
    }
    size_t used = (size_t)snprintf(line, sizeof line, "ok addrs=");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            add_addr(&used, AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr);
        else if (ai->ai_family == AF_INET6)
            add_addr(&used, AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    }
    freeaddrinfo(res);
    return elapsed;
}

static int copy_smaps(const char *to)
{
    int in = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = in >= 0 && out >= 0;
    ssize_t n;
    while (ok && (n = read(in, copy_buf, sizeof copy_buf)) > 0)
        ok = write(out, copy_buf, (size_t)n) == n;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return ok;
}

static int libgcc_s_mapped(void)
{
    FILE *maps = fopen("/proc/self/maps", "re");
    char l[512];
    int found = 0;
    while (maps && fgets(l, sizeof l, maps))
        found |= strstr(l, "/libgcc_s.so") != NULL;
    if (maps)
        fclose(maps);
    return found;
}

/* glibc's struct gaih_addrtuple (nss.h). */
struct tuple {
    struct tuple *next;
    char *name;
    int family;
    uint32_t addr[4];
    uint32_t scopeid;
};

typedef enum nss_status (*byname4)(const char *, struct tuple **, char *, size_t, int *,
                                   int *, int32_t *);

static char nss_buf[64 * 1024] __attribute__((aligned(8)));

static uint64_t call4(byname4 f, const char *name, int *ok)
{
    struct tuple *pat = NULL;
    int err = 0, herr = 0;
    int32_t ttl = 0;
    uint64_t t0 = now_ns();
    enum nss_status st = f(name, &pat, nss_buf, sizeof nss_buf, &err, &herr, &ttl);
    uint64_t elapsed = now_ns() - t0;
    *ok = st == NSS_STATUS_SUCCESS;
    if (!*ok) {
        snprintf(line, sizeof line, "err status=%d errno=%d herr=%d", st, err, herr);
        return elapsed;
    }
    size_t used = (size_t)snprintf(line, sizeof line, "ok addrs=");
    for (struct tuple *t = pat; t; t = t->next)
        add_addr(&used, t->family, t->addr);
    return elapsed;
}

static int run_dlopen(const char *module, const char *name)
{
    char file[256], symbol[256];
    snprintf(file, sizeof file, "libnss_%s.so.2", module);
    snprintf(symbol, sizeof symbol, "_nss_%s_gethostbyname4_r", module);
    int before = libgcc_s_mapped();
    uint64_t t0 = now_ns();
    /* RTLD_LAZY (local scope) is what glibc's NSS loader passes (__libc_dlopen in
     * nss/nss_module.c). A module linked with -z now, as rustcache is, binds all its
     * symbols at load either way. */
    void *handle = dlopen(file, RTLD_LAZY);
    uint64_t opened = now_ns() - t0;
    if (!handle) {
        printf("dlopen %s %s => error dlopen %s\n", module, name, dlerror());
        return 1;
    }
    int after = libgcc_s_mapped();
    byname4 f = (byname4)dlsym(handle, symbol);
    if (!f) {
        printf("dlopen %s %s => error dlsym %s\n", module, name, symbol);
        return 1;
    }
    int ok1, ok2;
    uint64_t first = call4(f, name, &ok1);
    uint64_t second = call4(f, name, &ok2);
    printf("dlopen %s %s => %s\n", module, name, ok1 && ok2 ? line : "err a call failed");
    fprintf(stderr, "dlopen_ns=%llu first_ns=%llu second_ns=%llu libgcc_s=%s\n",
            (unsigned long long)opened, (unsigned long long)first,
            (unsigned long long)second, after && !before ? "yes" : before ? "before" : "no");
    return ok1 && ok2 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int ok = 0;
    if (argc == 3 && strcmp(argv[1], "gai") == 0) {
        uint64_t t = gai(argv[2], &ok);
        printf("gai %s unspec => %s\n", argv[2], line);
        fprintf(stderr, "elapsed_ns=%llu op=gai %s unspec\n", (unsigned long long)t, argv[2]);
    } else if (argc == 5 && strcmp(argv[1], "mem") == 0) {
        if (!copy_smaps(argv[3])) {
            printf("mem => error copying smaps: %s\n", strerror(errno));
            return 1;
        }
        int ok2;
        uint64_t t = gai(argv[2], &ok);
        gai(argv[2], &ok2);
        ok = ok && ok2;
        if (!copy_smaps(argv[4])) {
            printf("mem => error copying smaps: %s\n", strerror(errno));
            return 1;
        }
        printf("gai %s unspec => %s\n", argv[2], line);
        fprintf(stderr, "elapsed_ns=%llu op=gai %s unspec\n", (unsigned long long)t, argv[2]);
    } else if (argc == 4 && strcmp(argv[1], "dlopen") == 0) {
        return run_dlopen(argv[2], argv[3]);
    } else {
        fprintf(stderr, "usage: cprobe gai NAME | mem NAME BEFORE AFTER | dlopen MODULE NAME\n");
        return 2;
    }
    fflush(stdout);
    return ok ? 0 : 1;
}
