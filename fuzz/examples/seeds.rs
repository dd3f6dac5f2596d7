//! Writes seed inputs for the fuzz targets into `<dir>/<target>/` (by
//! default `fuzz/corpus`): well-formed replies, cache regions holding valid
//! entries, and a few corruptions. `make fuzz` runs it first.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

use std::net::Ipv6Addr;
use std::path::Path;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rustcache::cache::{HEADER_SIZE, LAYOUT_VERSION, SLOT_SIZE};
use rustcache::upstream::QType;
use rustcache_fuzz::input::{fixed_reply_input, named_reply_input, reader_input, torn_input, Op};
use rustcache_fuzz::region::Region;
use rustcache_fuzz::samples::{key, sample_entries, KEYS, NOW, QTYPES, QUESTIONS};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);
    write(dir, "reply", replies())?;
    write(dir, "cache_reader", regions())?;
    write(dir, "cache_torn", corruptions())?;
    Ok(())
}

fn write(dir: &Path, target: &str, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}

fn name(text: &str) -> Name {
    Name::from_ascii(format!("{text}.")).expect("seed names are valid")
}

fn record_type(qtype: QType) -> RecordType {
    match qtype {
        QType::A => RecordType::A,
        QType::Aaaa => RecordType::AAAA,
        QType::Ptr => RecordType::PTR,
    }
}

fn data(qtype: QType, i: u8) -> RData {
    match qtype {
        QType::A => RData::A(A::new(192, 0, 2, i)),
        QType::Aaaa => RData::AAAA(AAAA::from(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            0,
            u16::from(i),
        ))),
        QType::Ptr => RData::PTR(PTR(name(&format!("host{i}.example.org")))),
    }
}

fn soa(ttl: u32) -> Record {
    Record::from_rdata(
        name("example"),
        ttl,
        RData::SOA(SOA::new(
            name("ns.example"),
            name("h.example"),
            1,
            2,
            3,
            4,
            120,
        )),
    )
}

/// The replies a server might send for `qname`/`qtype`.
fn messages(id: u16, qname: &str, qtype: QType) -> Vec<Vec<u8>> {
    let base = || {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name(qname), record_type(qtype)));
        m
    };
    let mut out = Vec::new();
    // Direct answer, two records.
    let mut m = base();
    m.add_answer(Record::from_rdata(name(qname), 300, data(qtype, 1)));
    m.add_answer(Record::from_rdata(name(qname), 60, data(qtype, 2)));
    out.push(m);
    // A CNAME chain, a record off the chain, and upper case.
    let mut m = base();
    m.add_answer(Record::from_rdata(
        name(qname),
        300,
        RData::CNAME(CNAME(name("Alias.Example.net"))),
    ));
    m.add_answer(Record::from_rdata(
        name("alias.example.net"),
        200,
        RData::CNAME(CNAME(name("host.example.net"))),
    ));
    m.add_answer(Record::from_rdata(
        name("HOST.example.net"),
        90,
        data(qtype, 3),
    ));
    m.add_answer(Record::from_rdata(name("other.example"), 5, data(qtype, 4)));
    out.push(m);
    // NODATA and NXDOMAIN with an SOA, SERVFAIL, truncated.
    let mut m = base();
    m.add_authority(soa(900));
    out.push(m);
    let mut m = base();
    m.metadata.response_code = ResponseCode::NXDomain;
    m.add_authority(soa(30));
    out.push(m);
    let mut m = base();
    m.metadata.response_code = ResponseCode::ServFail;
    out.push(m);
    let mut m = base();
    m.metadata.truncation = true;
    out.push(m);
    out.into_iter()
        .map(|m| m.to_vec().expect("seed messages encode"))
        .collect()
}

fn replies() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (i, (qname, qtype)) in QUESTIONS.iter().enumerate() {
        for m in messages(0x4242, qname, *qtype) {
            seeds.push(fixed_reply_input(i, &m));
        }
    }
    for (t, qname) in [
        (0, "b.example.org"),
        (1, "B.Example"),
        (2, "9.113.0.203.in-addr.arpa"),
    ] {
        for m in messages(0x0101, qname, QTYPES[t]) {
            seeds.push(named_reply_input(qname, t, &m));
        }
    }
    seeds
}

/// A header as a file of `slots` slots has it.
fn file_header(region: &Region, slots: usize) {
    region.write(0, b"RUSTCACH");
    region.write(8, &LAYOUT_VERSION.to_le_bytes());
    region.write(12, &(HEADER_SIZE as u32).to_le_bytes());
    region.write(
        16,
        &((HEADER_SIZE + slots * SLOT_SIZE) as u64).to_le_bytes(),
    );
    region.write(24, &(slots as u32).to_le_bytes());
    region.write(28, &(SLOT_SIZE as u32).to_le_bytes());
}

fn regions() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (seed, generation) in [(0x1234, 1), (u64::MAX, 0)] {
        let region = Region::new(8);
        file_header(&region, 64);
        region.set_identity(seed, generation);
        let table = region.table(true);
        for (k, entry) in sample_entries() {
            table.put_entry(&key(k), &entry, NOW, 0);
        }
        let _ = table.try_lease(&key(1), NOW, NOW + 3000);
        // For resealing inputs: each slot's `hits` word names
        // the key it holds (see `prepare` in cache_reader).
        for slot in 0..region.slots() {
            let data = Region::data_offset(slot);
            let hash = u64::from_le_bytes(region.read(data, 8).try_into().unwrap_or([0; 8]));
            if let Some(k) = (0..KEYS.len()).find(|&k| key(k).hash(seed) == hash) {
                region.write(Region::slot_offset(slot) + 4, &[k as u8]);
            }
        }
        let image = region.bytes();
        // 8 slots: writable or not, resealed or not, in memory or a file.
        for flags in [0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37] {
            seeds.push(reader_input(flags, &image));
        }
    }
    // An empty region, and one slot only.
    seeds.push(reader_input(0x08, &Region::new(1).bytes()));
    seeds
}

fn corruptions() -> Vec<Vec<u8>> {
    let flip = [0x01u8];
    vec![
        torn_input(0, &[]),
        torn_input(
            0,
            &[Op::XorSlots {
                offset: 32 + 64,
                mask: &flip,
            }],
        ),
        torn_input(
            0,
            &[Op::XorSlots {
                offset: 512 + 32 + 100,
                mask: &[0xff; 16],
            }],
        ),
        torn_input(
            0,
            &[Op::XorSlots {
                offset: 0,
                mask: &flip,
            }],
        ),
        torn_input(
            0,
            &[Op::Splice {
                slot: 0,
                version: 1,
                from: 0,
                to: 7,
            }],
        ),
        torn_input(
            0,
            &[Op::Splice {
                slot: 3,
                version: 0,
                from: 8,
                to: 59,
            }],
        ),
        torn_input(
            0x02,
            &[Op::XorHeader {
                offset: 40,
                mask: &flip,
            }],
        ),
        torn_input(
            0x10,
            &[
                Op::XorSlots {
                    offset: 8,
                    mask: &[0x80; 8],
                },
                Op::Splice {
                    slot: 1,
                    version: 2,
                    from: 4,
                    to: 20,
                },
            ],
        ),
    ]
}
