// A thread cancelled (pthread_cancel) while its lookup waits for a server: the
// cancel takes effect when the lookup has returned, the thread ends as cancelled,
// and the process goes on resolving. Before, the forced unwind reached Rust frames
// and the process died of SIGABRT.

use std::time::Duration;

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, Behaviour};

use crate::common::{compile_c_program, with_zone};

pub fn tests() -> Vec<Trial> {
    trials![a_cancelled_lookup_thread_ends_cancelled_and_the_process_goes_on]
}

/// The program: a thread looks `argv[1]` up, the main thread cancels it
/// `argv[2]` ms later, joins it, then looks `argv[3]` up itself. The thread
/// reaches a cancellation point right after getaddrinfo returns.
const PROGRAM: &str = r#"
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* 0: not started, 1: in getaddrinfo, 2: it returned `code` */
static volatile int stage;
static volatile int code;

static const char *gai_name(int e)
{
    return e == 0 ? "ok" : e == EAI_AGAIN ? "EAI_AGAIN" : e == EAI_NONAME ? "EAI_NONAME" : "other";
}

static int lookup(const char *name)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(name, NULL, &hints, &res);
    if (e == 0)
        freeaddrinfo(res);
    return e;
}

static void *run(void *name)
{
    stage = 1;
    code = lookup(name);
    stage = 2;
    pthread_testcancel();
    return NULL;
}

static long ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
    pthread_t t;
    void *result;
    struct timespec at;
    if (argc != 4)
        return 2;
    if (pthread_create(&t, NULL, run, argv[1]) != 0)
        return 3;
    usleep((useconds_t)atoi(argv[2]) * 1000);
    clock_gettime(CLOCK_MONOTONIC, &at);
    if (pthread_cancel(t) != 0)
        return 4;
    pthread_join(t, &result);
    printf("cancelled=%s lookup=%s joined_ms=%ld\n",
           result == PTHREAD_CANCELED ? "yes" : "no",
           stage == 2 ? gai_name(code) : "unfinished", ms_since(&at));
    printf("after=%s\n", gai_name(lookup(argv[3])));
    return 0;
}
"#;

fn a_cancelled_lookup_thread_ends_cancelled_and_the_process_goes_on() {
    // RESOLV_CONF: timeout 1 s x attempts 1, the lookup's deadline.
    with_zone("rustcache", |sb, server| {
        server.set_name_behaviour("slow.example.com", Behaviour::Blackhole);
        let program = compile_c_program(sb, "cancel", PROGRAM);
        let out = sb
            .command(&program)
            .args(["slow.example.com", "300", "www.example.com"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report = format!(
            "{}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "the process died\n{report}");
        assert!(
            server.count_for("slow.example.com", qtype::A) >= 1,
            "the thread was not waiting for the server when cancelled\n{report}"
        );
        let first = stdout.lines().next().unwrap_or_default();
        // The lookup ran to its deadline and returned; then the thread ended at
        // its next cancellation point.
        assert!(
            first.starts_with("cancelled=yes lookup=EAI_AGAIN joined_ms="),
            "{report}"
        );
        let joined: u64 = first.rsplit('=').next().unwrap().parse().unwrap();
        let bound = Duration::from_secs(1) + Duration::from_millis(500);
        assert!(
            Duration::from_millis(joined) < bound,
            "the cancel waited {joined} ms, past the lookup's deadline\n{report}"
        );
        assert!(stdout.contains("after=ok"), "{report}");
    });
}
