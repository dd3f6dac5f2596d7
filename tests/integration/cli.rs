// The rustcache command: check reports bad lines with their numbers, enable/disable edit the hosts line.

use std::process::Command;

use libtest_mimic::Trial;
use rustcache_testkit::ns::Sandbox;

pub fn tests() -> Vec<Trial> {
    trials![
        check_reports_each_bad_line_with_its_number,
        check_passes_a_good_configuration,
        check_reports_each_bad_routing_value_with_its_line,
        enable_and_disable_edit_the_hosts_line_idempotently,
        enable_edits_a_bind_mounted_nsswitch_conf_in_place,
        enable_edits_the_target_of_a_symlink_and_keeps_the_link,
    ]
}

fn rustcache() -> Command {
    Command::new(crate::common::rustcache_cli())
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rustcache-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_reports_each_bad_line_with_its_number() {
    let dir = tempdir("check-bad");
    let resolv = dir.join("resolv.conf");
    let conf = dir.join("rustcache.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.2\nnameserver not-an-ip\n").unwrap();
    std::fs::write(&conf, "# comment\nndots 2\nndots many\nfrobnicate\n").unwrap();
    let out = rustcache()
        .args(["check", "--resolv-conf"])
        .arg(&resolv)
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let r = resolv.display();
    let c = conf.display();
    assert!(
        stderr.contains(&format!("{r}:2: `nameserver`: `not-an-ip`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{c}:3: `ndots`: `many` is not 0 to 15")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{c}:4: unknown keyword `frobnicate`")),
        "{stderr}"
    );
    // What is in force: the good lines.
    assert!(stdout.contains("nameserver     127.0.0.2:53"), "{stdout}");
    assert!(stdout.contains("ndots:2"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn check_passes_a_good_configuration() {
    let dir = tempdir("check-good");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.2\nsearch a.example\noptions timeout:2 attempts:3 use-vc\n\
         options edns0 use-vc\n",
    )
    .unwrap();
    let out = rustcache()
        .args(["check", "--resolv-conf"])
        .arg(&resolv)
        .arg("--config")
        .arg(dir.join("absent.conf"))
        .env("RES_OPTIONS", "no-aaaa")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Options glibc knows and rustcache does not act on are named, once
    // each, and are not problems.
    assert!(
        stdout.contains(
            "no effect      use-vc edns0 no-aaaa (glibc options rustcache accepts and does not act on)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("deadline       6000 ms per lookup"),
        "{stdout}"
    );
    assert!(stdout.contains("ok: no problems found"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn enable_and_disable_edit_the_hosts_line_idempotently() {
    let dir = tempdir("enable");
    let nsswitch = dir.join("nsswitch.conf");
    let original = "passwd: files\nhosts:          files dns\n";
    std::fs::write(&nsswitch, original).unwrap();
    for _ in 0..2 {
        let status = rustcache()
            .arg("enable")
            .arg("--nsswitch")
            .arg(&nsswitch)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read_to_string(&nsswitch).unwrap(),
            "passwd: files\nhosts:          files rustcache [!UNAVAIL=return] dns\n"
        );
    }
    let status = rustcache()
        .arg("disable")
        .arg("--nsswitch")
        .arg(&nsswitch)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&nsswitch).unwrap(), original);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Regression: in containers /etc/nsswitch.conf is often a bind mount,
/// which cannot be renamed over (EBUSY); `make install` failed there.
fn enable_edits_a_bind_mounted_nsswitch_conf_in_place() {
    Sandbox::run(|sb| {
        let file = sb.write_nsswitch("files dns");
        let status = sb
            .command(crate::common::rustcache_cli())
            .arg("enable")
            .status()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("hosts: files rustcache [!UNAVAIL=return] dns\n"),
            "{text}"
        );
    });
}

/// Found by the RPM tests: renaming over a symlinked nsswitch.conf replaced
/// the link (authselect's, say) with a plain file.
fn enable_edits_the_target_of_a_symlink_and_keeps_the_link() {
    let dir = tempdir("symlink");
    let target = dir.join("real-nsswitch.conf");
    let link = dir.join("nsswitch.conf");
    std::fs::write(&target, "hosts: files dns\n").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let status = rustcache()
        .arg("enable")
        .arg("--nsswitch")
        .arg(&link)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "hosts: files rustcache [!UNAVAIL=return] dns\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn check_reports_each_bad_routing_value_with_its_line() {
    let dir = tempdir("check-routing");
    let resolv = dir.join("resolv.conf");
    let conf = dir.join("rustcache.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.2\n").unwrap();
    std::fs::write(
        &conf,
        "server=/corp.example/10.1.0.2#53\nserver=/bad..name/10.0.0.1\n\
         address=/lan.example/300.1.1.1\nserver=/corp.example/10.1.0.3#99999\n\
         server=10.0.0.1\nrebind-domain-ok=ec2.internal\nmin-cache-ttl = 30\n",
    )
    .unwrap();
    let out = rustcache()
        .args(["check", "--resolv-conf"])
        .arg(&resolv)
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let c = conf.display();
    for (line, key) in [
        (2, "server"),
        (3, "address"),
        (4, "server"),
        (5, "server"),
        (6, "rebind-domain-ok"),
    ] {
        assert!(
            stderr.contains(&format!("{c}:{line}: `{key}`")),
            "line {line}:\n{stderr}"
        );
    }
    for good in [1, 7] {
        assert!(!stderr.contains(&format!("{c}:{good}:")), "{stderr}");
    }
    // What is in force: the good lines.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("route          server=/corp.example/10.1.0.2#53"),
        "{stdout}"
    );
    assert!(!stdout.contains("10.1.0.3"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
