//! The sandbox and the probe binary working together (the testkit checking itself,
//! without the rustcache module): files over /etc, /run, environment, timeouts.

use std::net::Ipv4Addr;
use std::time::Duration;

use rustcache_testkit::dns::{ScriptedServer, Zone};
use rustcache_testkit::ns::Sandbox;

fn sandbox<R: Send>(f: impl FnOnce(&Sandbox) -> R + Send) -> R {
    Sandbox::run(|sb| {
        sb.set_probe_binary(env!("CARGO_BIN_EXE_rustcache-probe"));
        f(sb)
    })
}

#[test]
fn hosts_and_nsswitch_are_the_sandbox_files() {
    sandbox(|sb| {
        sb.write_nsswitch("files");
        sb.write_hosts("192.0.2.5 box.test alias.test\n");
        let out = sb.probe(&[
            "gai box.test inet canon",
            "ghbn alias.test",
            "gai nope.test unspec",
        ]);
        out.expect_ok();
        assert_eq!(
            out.results(),
            [
                "ok canon=box.test addrs=inet:192.0.2.5",
                "ok name=box.test aliases=alias.test type=inet addrs=192.0.2.5",
                "err EAI_NONAME",
            ]
        );
    });
}

#[test]
fn resolv_conf_points_at_a_scripted_server() {
    sandbox(|sb| {
        let zone = Zone::new().soa("example.com", 60).a(
            "www.example.com",
            300,
            Ipv4Addr::new(192, 0, 2, 1),
        );
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone).unwrap();
        sb.write_resolv_conf("nameserver 127.0.0.2\n");
        sb.write_nsswitch("dns");
        let out = sb.probe(&["gai www.example.com inet"]);
        assert_eq!(out.results(), ["ok addrs=inet:192.0.2.1"], "{out}");
        assert_eq!(server.count(), 1);
    });
}

#[test]
fn run_is_a_private_tmpfs_shared_by_probes() {
    sandbox(|sb| {
        assert!(sb.run_is_tmpfs());
        std::fs::write(sb.run_dir().join("marker"), "x").unwrap();
        assert!(
            !std::path::Path::new("/run/marker").exists(),
            "host /run untouched"
        );
        let out = sb.command("/bin/cat").arg("/run/marker").output().unwrap();
        assert_eq!(out.stdout, b"x");
        sb.clear_run();
        assert!(std::fs::read_dir(sb.run_dir()).unwrap().next().is_none());
    });
}

#[test]
fn environment_is_cleared_except_path_library_path_and_test_env() {
    sandbox(|sb| {
        sb.env("RUSTCACHE_TEST_VAR", "42");
        let out = sb.command("/usr/bin/env").output().unwrap();
        let mut vars: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('=').next().unwrap().to_string())
            .collect();
        vars.sort();
        assert_eq!(vars, ["LD_LIBRARY_PATH", "PATH", "RUSTCACHE_TEST_VAR"]);
    });
}

#[test]
fn etc_overlay_adds_files_without_touching_the_host() {
    sandbox(|sb| {
        sb.write_etc_file("rustcache-testkit-probe.conf", "hello\n");
        let out = sb
            .command("/bin/cat")
            .arg("/etc/rustcache-testkit-probe.conf")
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"hello\n");
        assert!(!std::path::Path::new("/etc/rustcache-testkit-probe.conf").exists());
    });
}

#[test]
fn probes_time_out_and_report_it() {
    sandbox(|sb| {
        sb.set_probe_timeout(Duration::from_millis(300));
        let out = sb.probe(&["sleep 5000"]);
        assert!(out.timed_out);
        assert!(!out.success());
        assert!(out.elapsed < Duration::from_secs(2));
    });
}

#[test]
fn probe_many_runs_concurrently() {
    sandbox(|sb| {
        sb.write_nsswitch("files");
        sb.write_hosts("192.0.2.7 many.test\n");
        let started = std::time::Instant::now();
        let outs = sb.probe_many(4, &["sleep 300", "time gai many.test inet"]);
        assert!(
            started.elapsed() < Duration::from_millis(1100),
            "{:?}",
            started.elapsed()
        );
        for o in &outs {
            o.expect_ok();
            assert_eq!(o.results(), ["ok", "ok addrs=inet:192.0.2.7"]);
            assert_eq!(o.timings().len(), 1);
        }
    });
}

#[test]
fn malformed_ops_exit_2_with_one_line_each() {
    sandbox(|sb| {
        let out = sb.probe(&["gai x nofamily", "sleep 1"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.results()[0].starts_with("usage: unknown family"));
        assert_eq!(out.result(1), "ok");
    });
}

#[test]
fn panics_propagate_out_of_the_sandbox() {
    let caught = std::panic::catch_unwind(|| Sandbox::run(|_| panic!("inner failure")));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner failure"));
}

#[test]
fn servers_bind_inside_the_namespace_only() {
    let host_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    sandbox(|sb| {
        assert!(sb.is_inside());
        assert_ne!(
            std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
            host_ns
        );
        let inner = std::thread::spawn(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
            .join()
            .unwrap();
        assert_ne!(
            inner, host_ns,
            "threads spawned inside inherit the namespace"
        );
    });
}

#[test]
fn probes_can_run_as_another_user() {
    sandbox(|sb| {
        sb.write_nsswitch("files");
        sb.write_hosts("192.0.2.8 nobody.test\n");
        let out = sb.probe_as(65534, 65534, &["gai nobody.test inet"]);
        assert_eq!(out.results(), ["ok addrs=inet:192.0.2.8"], "{out}");
        let id = sb.command("/usr/bin/id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&id.stdout).trim(),
            "0",
            "command() keeps root"
        );
    });
}
