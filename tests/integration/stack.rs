// How much of its thread's stack a lookup uses: a lookup runs on whatever stack the
// application gave the calling thread, so under rustcache it must fit wherever it
// fits under glibc's own `dns`. Measured by painting: the thread runs on a stack the
// program filled with a pattern, and the lowest byte changed marks the deepest point.
// Each lookup is a fresh process, so rustcache's figure includes the module's load.

use libtest_mimic::Trial;
use rustcache_testkit::dns::{Behaviour, ScriptedServer};
use rustcache_testkit::ns::Sandbox;

use crate::common::{compile_c_program, with_zone, with_zone_and_resolv_conf, zone, WWW_V4};

pub fn tests() -> Vec<Trial> {
    trials![
        lookups_use_no_more_stack_than_glibc_dns,
        a_lookup_past_a_dead_server_uses_no_more_stack_than_glibc_dns,
    ]
}

/// `paint NAME`: looks NAME up (getaddrinfo; `@ADDR`: getnameinfo of an IPv4
/// address, NI_NAMEREQD) in a thread whose 256 KiB stack is painted first, and
/// prints `rc=N used=BYTES`.
const PROGRAM: &str = r#"
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define STACK (256 * 1024)
#define PAINT 0xA5

static void *run(void *arg)
{
    const char *name = arg;
    if (name[0] == '@') {
        struct sockaddr_in sa;
        char host[NI_MAXHOST];
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        if (inet_pton(AF_INET, name + 1, &sa.sin_addr) != 1)
            return (void *)100L;
        return (void *)(long)getnameinfo((struct sockaddr *)&sa, sizeof sa, host,
                                         sizeof host, NULL, 0, NI_NAMEREQD);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(name, NULL, &hints, &res);
    if (e == 0)
        freeaddrinfo(res);
    return (void *)(long)e;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    unsigned char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        return 3;
    memset(stack, PAINT, STACK);
    pthread_attr_t attr;
    pthread_t thread;
    void *rc;
    pthread_attr_init(&attr);
    if (pthread_attr_setstack(&attr, stack, STACK) != 0 ||
        pthread_create(&thread, &attr, run, argv[1]) != 0 || pthread_join(thread, &rc) != 0)
        return 4;
    size_t untouched = 0;
    while (untouched < STACK && stack[untouched] == PAINT)
        untouched++;
    printf("rc=%ld used=%zu\n", (long)rc, STACK - untouched);
    return 0;
}
"#;

/// Looks `name` up under `hosts` in a fresh process: (return code, stack bytes used).
fn stack_used(sb: &Sandbox, program: &std::path::Path, hosts: &str, name: &str) -> (i64, usize) {
    sb.write_nsswitch(hosts);
    let out = sb.command(program).arg(name).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{hosts}, {name}: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("{hosts}, {name}: no {key} in {text:?}"))
            .to_string()
    };
    (
        field("rc=").parse().unwrap(),
        field("used=").parse().unwrap(),
    )
}

/// Runs each case under `dns`, then under `rustcache` (so rustcache's lookup is a
/// miss), and checks both answered alike and rustcache went no deeper.
fn compare(sb: &Sandbox, cases: &[(&str, &str)]) {
    let program = compile_c_program(sb, "paint", PROGRAM);
    let mut report = String::new();
    for (what, name) in cases {
        let (dns_rc, dns) = stack_used(sb, &program, "dns", name);
        let (rc_rc, ours) = stack_used(sb, &program, "rustcache", name);
        report.push_str(&format!(
            "{what} ({name}): dns {dns} bytes, rustcache {ours}\n"
        ));
        assert_eq!(rc_rc, dns_rc, "{what}: another answer\n{report}");
        assert!(ours <= dns, "{what}: rustcache used more stack\n{report}");
    }
    eprintln!("{report}");
}

fn lookups_use_no_more_stack_than_glibc_dns() {
    with_zone("dns", |sb, server| {
        // Over UDP only TC=1: the answer comes over TCP.
        server.set_name_behaviour("big.example.com", Behaviour::Truncate);
        compare(
            sb,
            &[
                ("a new name, A and AAAA", "www.example.com"),
                ("an answer over TCP", "big.example.com"),
                ("a reverse lookup", &format!("@{WWW_V4}")),
                ("a short name through the search list, not found", "nosuch"),
            ],
        );
    });
}

fn a_lookup_past_a_dead_server_uses_no_more_stack_than_glibc_dns() {
    with_zone_and_resolv_conf(
        "dns",
        "nameserver 127.0.0.3\nnameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb, _| {
            let _dead = ScriptedServer::start_with(
                "127.0.0.3".parse().unwrap(),
                zone(),
                Behaviour::Blackhole,
            )
            .unwrap();
            compare(sb, &[("the first server dead", "v4only.example.com")]);
        },
    );
}
