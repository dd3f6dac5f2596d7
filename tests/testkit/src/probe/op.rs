//! Parsing of probe operations: one argv word per operation, fields separated by
//! spaces, each field percent-decoded (see the module documentation of
//! [`crate::probe`] for the grammar).

use std::net::IpAddr;
use std::time::Duration;

/// Address family argument of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// AF_UNSPEC
    Unspec,
    /// AF_INET
    Inet,
    /// AF_INET6
    Inet6,
}

impl Family {
    fn parse(s: &[u8]) -> Result<Self, String> {
        match s {
            b"unspec" => Ok(Family::Unspec),
            b"inet" => Ok(Family::Inet),
            b"inet6" => Ok(Family::Inet6),
            _ => Err(format!(
                "unknown family {:?} (unspec, inet, inet6)",
                String::from_utf8_lossy(s)
            )),
        }
    }

    /// The AF_* constant.
    pub fn af(self) -> libc::c_int {
        match self {
            Family::Unspec => libc::AF_UNSPEC,
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
        }
    }
}

/// Flags of a `gai` operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GaiFlags {
    /// AI_CANONNAME (and print `canon=`).
    pub canon: bool,
    /// AI_ADDRCONFIG
    pub addrconfig: bool,
    /// AI_V4MAPPED
    pub v4mapped: bool,
    /// AI_ALL
    pub all: bool,
    /// AI_NUMERICHOST
    pub numerichost: bool,
    /// ai_socktype = 0 instead of SOCK_STREAM (one entry per socket type).
    pub anysock: bool,
}

/// Which module entry point a direct call uses, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NssCall {
    /// `_nss_M_gethostbyname4_r`; with `caller_tuple`, `*pat` points to a caller-owned
    /// tuple on entry.
    ByName4 { name: Vec<u8>, caller_tuple: bool },
    /// `_nss_M_gethostbyname3_r`
    ByName3 { name: Vec<u8>, family: Family },
    /// `_nss_M_gethostbyname2_r`
    ByName2 { name: Vec<u8>, family: Family },
    /// `_nss_M_gethostbyname_r`
    ByName1 { name: Vec<u8> },
    /// `_nss_M_gethostbyaddr2_r`
    ByAddr2 { addr: IpAddr },
    /// `_nss_M_gethostbyaddr_r`
    ByAddr { addr: IpAddr },
}

/// Options of a direct module call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NssOpts {
    /// Start the buffer this many bytes past an 8-byte boundary (`off=N`).
    pub misalign: usize,
    /// Pass NULL for `ttlp` (`nottl`).
    pub null_ttl: bool,
    /// Pass NULL for `canonp` of gethostbyname3_r (`nocanon`).
    pub null_canon: bool,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// getaddrinfo
    Gai {
        name: Vec<u8>,
        family: Family,
        flags: GaiFlags,
    },
    /// gethostbyname_r
    Ghbn { name: Vec<u8> },
    /// gethostbyname2_r
    Ghbn2 { name: Vec<u8>, family: Family },
    /// gethostbyaddr_r
    Ghba { addr: IpAddr },
    /// getnameinfo with NI_NAMEREQD (and NI_NOFQDN with `nofqdn`)
    Gni { addr: IpAddr, nofqdn: bool },
    /// One direct call with a given buffer length.
    Nss {
        call: NssCall,
        buflen: usize,
        opts: NssOpts,
    },
    /// Direct calls from buflen 1, doubling on TRYAGAIN/ERANGE/NETDB_INTERNAL.
    NssLoop { call: NssCall, opts: NssOpts },
    /// Sleep.
    Sleep(Duration),
    /// List the open file descriptors.
    Fds,
    /// Whether this thread has a module's thread-local block.
    Tls { module: String },
    /// How much of the mappings of files whose path ends with `suffix` is
    /// resident in this process (smaps `Rss`, summed).
    Rss { suffix: String },
    /// Make a system call fail from now on (seccomp).
    Deny { nr: libc::c_long, errno: i32 },
    /// Fork children while other threads look names up (see `forks`).
    Forks { children: usize, name: Vec<u8> },
}

/// An operation with its modifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// Print its elapsed time on stderr (`time` prefix).
    pub timed: bool,
    /// How many times to run it (`repeat N` prefix); at least 1.
    pub repeat: u64,
    /// The word as echoed on stdout (the argv word without `time`/`repeat` prefixes).
    pub echo: String,
}

/// Parses one argv word.
pub fn parse_step(word: &str) -> Result<Step, String> {
    let mut fields: Vec<&str> = word.split(' ').filter(|f| !f.is_empty()).collect();
    let mut timed = false;
    let mut repeat = 1u64;
    let mut echo_from = 0usize;
    loop {
        match fields.first().copied() {
            Some("time") => {
                timed = true;
                fields.remove(0);
                echo_from += 1;
            }
            Some("repeat") => {
                let n = fields
                    .get(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n >= 1)
                    .ok_or("repeat needs a count >= 1")?;
                repeat = n;
                fields.drain(..2);
                echo_from += 2;
            }
            _ => break,
        }
    }
    let echo = word
        .split(' ')
        .filter(|f| !f.is_empty())
        .skip(echo_from)
        .collect::<Vec<_>>()
        .join(" ");
    let decoded: Vec<Vec<u8>> = fields
        .iter()
        .map(|f| decode_field(f))
        .collect::<Result<_, _>>()?;
    let op = parse_op(&decoded)?;
    Ok(Step {
        op,
        timed,
        repeat,
        echo,
    })
}

fn parse_op(fields: &[Vec<u8>]) -> Result<Op, String> {
    let (verb, args) = fields.split_first().ok_or("empty operation")?;
    let verb = String::from_utf8_lossy(verb).into_owned();
    let arg = |i: usize, what: &str| -> Result<&Vec<u8>, String> {
        args.get(i).ok_or_else(|| format!("{verb}: missing {what}"))
    };
    let op = match verb.as_str() {
        "gai" => {
            let name = arg(0, "NAME")?.clone();
            let family = Family::parse(arg(1, "FAMILY")?)?;
            let mut flags = GaiFlags::default();
            for f in args.iter().skip(2) {
                match f.as_slice() {
                    b"canon" => flags.canon = true,
                    b"addrconfig" => flags.addrconfig = true,
                    b"v4mapped" => flags.v4mapped = true,
                    b"all" => flags.all = true,
                    b"numerichost" => flags.numerichost = true,
                    b"anysock" => flags.anysock = true,
                    other => {
                        return Err(format!(
                            "gai: unknown flag {:?}",
                            String::from_utf8_lossy(other)
                        ))
                    }
                }
            }
            Op::Gai {
                name,
                family,
                flags,
            }
        }
        "ghbn" => Op::Ghbn {
            name: arg(0, "NAME")?.clone(),
        },
        "ghbn2" => Op::Ghbn2 {
            name: arg(0, "NAME")?.clone(),
            family: Family::parse(arg(1, "FAMILY")?)?,
        },
        "ghba" => Op::Ghba {
            addr: parse_addr(arg(0, "ADDR")?)?,
        },
        "gni" => {
            let addr = parse_addr(arg(0, "ADDR")?)?;
            let nofqdn = match args.get(1).map(Vec::as_slice) {
                None => false,
                Some(b"nofqdn") => true,
                Some(other) => {
                    return Err(format!(
                        "gni: unknown flag {:?}",
                        String::from_utf8_lossy(other)
                    ))
                }
            };
            Op::Gni { addr, nofqdn }
        }
        "sleep" => Op::Sleep(Duration::from_millis(parse_num(arg(0, "MS")?)?)),
        "fds" => Op::Fds,
        "tls" => Op::Tls {
            module: String::from_utf8_lossy(arg(0, "MODULE")?).into_owned(),
        },
        "rss" => Op::Rss {
            suffix: String::from_utf8_lossy(arg(0, "SUFFIX")?).into_owned(),
        },
        "forks" => Op::Forks {
            children: parse_num(arg(0, "N")?)? as usize,
            name: arg(1, "NAME")?.clone(),
        },
        "deny" => {
            let text = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
            let (nr, errno) =
                super::deny::parse(&text(arg(0, "SYSCALL")?), &text(arg(1, "ERRNO")?))?;
            Op::Deny { nr, errno }
        }
        other => return parse_nss(other, args),
    };
    Ok(op)
}

/// Parses the `nss*` and `nssloop*` verbs.
fn parse_nss(verb: &str, args: &[Vec<u8>]) -> Result<Op, String> {
    let (looped, base) = match verb.strip_prefix("nssloop") {
        Some(rest) => (true, format!("nss{rest}")),
        None => (false, verb.to_string()),
    };
    let arg = |i: usize, what: &str| -> Result<&Vec<u8>, String> {
        args.get(i).ok_or_else(|| format!("{verb}: missing {what}"))
    };
    let (call, used) = match base.as_str() {
        "nss4" => (
            NssCall::ByName4 {
                name: arg(0, "NAME")?.clone(),
                caller_tuple: false,
            },
            1,
        ),
        "nss4pat" => (
            NssCall::ByName4 {
                name: arg(0, "NAME")?.clone(),
                caller_tuple: true,
            },
            1,
        ),
        "nss3" => (
            NssCall::ByName3 {
                name: arg(0, "NAME")?.clone(),
                family: Family::parse(arg(1, "FAMILY")?)?,
            },
            2,
        ),
        "nss2" => (
            NssCall::ByName2 {
                name: arg(0, "NAME")?.clone(),
                family: Family::parse(arg(1, "FAMILY")?)?,
            },
            2,
        ),
        "nss1" => (
            NssCall::ByName1 {
                name: arg(0, "NAME")?.clone(),
            },
            1,
        ),
        "nssaddr2" => (
            NssCall::ByAddr2 {
                addr: parse_addr(arg(0, "ADDR")?)?,
            },
            1,
        ),
        "nssaddr" => (
            NssCall::ByAddr {
                addr: parse_addr(arg(0, "ADDR")?)?,
            },
            1,
        ),
        _ => return Err(format!("unknown operation {verb:?}")),
    };
    let (buflen, used) = if looped {
        (0, used)
    } else {
        let n = parse_num(arg(used, "BUFLEN")?)?;
        (
            usize::try_from(n).map_err(|_| "BUFLEN too large".to_string())?,
            used + 1,
        )
    };
    let mut opts = NssOpts::default();
    for f in args.iter().skip(used) {
        match f.as_slice() {
            b"nottl" => opts.null_ttl = true,
            b"nocanon" => opts.null_canon = true,
            other => match other.strip_prefix(b"off=") {
                Some(n) => opts.misalign = usize::try_from(parse_num(n)?).unwrap_or(0) % 8,
                None => {
                    return Err(format!(
                        "{verb}: unknown option {:?}",
                        String::from_utf8_lossy(other)
                    ))
                }
            },
        }
    }
    Ok(if looped {
        Op::NssLoop { call, opts }
    } else {
        Op::Nss { call, buflen, opts }
    })
}

fn parse_addr(s: &[u8]) -> Result<IpAddr, String> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an IP address: {:?}", String::from_utf8_lossy(s)))
}

fn parse_num(s: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not a number: {:?}", String::from_utf8_lossy(s)))
}

/// Decodes one field: `""` is the empty string, `%XX` is the byte 0xXX.
pub fn decode_field(field: &str) -> Result<Vec<u8>, String> {
    if field == "\"\"" {
        return Ok(Vec::new());
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {field:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_names_a_known_call_and_errno() {
        let s = parse_step("deny renameat2 ENOSYS").unwrap();
        assert_eq!(
            s.op,
            Op::Deny {
                nr: libc::SYS_renameat2,
                errno: libc::ENOSYS
            }
        );
        assert!(parse_step("deny unlink ENOSYS").is_err());
        assert!(parse_step("deny renameat2 ENOENT").is_err());
        assert!(parse_step("deny renameat2").is_err());
    }

    #[test]
    fn gai_with_flags_and_prefixes() {
        let s = parse_step("time repeat 3 gai Www.Example.com unspec canon").unwrap();
        assert!(s.timed);
        assert_eq!(s.repeat, 3);
        assert_eq!(s.echo, "gai Www.Example.com unspec canon");
        assert_eq!(
            s.op,
            Op::Gai {
                name: b"Www.Example.com".to_vec(),
                family: Family::Unspec,
                flags: GaiFlags {
                    canon: true,
                    ..GaiFlags::default()
                }
            }
        );
    }

    #[test]
    fn nss_ops() {
        let s = parse_step("nssaddr2 ::1 64 off=3 nottl").unwrap();
        assert_eq!(
            s.op,
            Op::Nss {
                call: NssCall::ByAddr2 {
                    addr: "::1".parse().unwrap()
                },
                buflen: 64,
                opts: NssOpts {
                    misalign: 3,
                    null_ttl: true,
                    null_canon: false
                }
            }
        );
        let s = parse_step("nssloop4 a.b").unwrap();
        assert!(matches!(s.op, Op::NssLoop { .. }));
        let s = parse_step("nssloop3 a.b inet6").unwrap();
        assert!(matches!(
            s.op,
            Op::NssLoop {
                call: NssCall::ByName3 {
                    family: Family::Inet6,
                    ..
                },
                ..
            }
        ));
        assert!(parse_step("nss4 a.b").is_err());
        assert!(parse_step("nss9 a.b 1").is_err());
    }

    #[test]
    fn fields_are_percent_decoded() {
        assert_eq!(decode_field("a%20b%2e").unwrap(), b"a b.");
        assert_eq!(decode_field("\"\"").unwrap(), b"");
        assert!(decode_field("%zz").is_err());
        let s = parse_step("ghbn \"\"").unwrap();
        assert_eq!(s.op, Op::Ghbn { name: Vec::new() });
    }
}
