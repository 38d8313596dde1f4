//! Writes `src/tz/table.rs` and `src/tz/table.bin`, the compact zone table behind
//! `todo_domain::tz::Tz`, from chrono-tz (which stays a dev-dependency as the oracle):
//!
//! ```text
//! cargo test --release -p todo-domain --test zone_table -- --ignored
//! rustfmt --edition 2024 crates/todo-domain/src/tz/table.rs
//! ```
//!
//! Every zone's UTC offset is sampled hourly from 1800 to 2100 and each change is bisected to
//! the second. chrono-tz has no transitions outside that range (asserted), and no span shorter
//! than an hour is known in the tz database; `src/tz/tests.rs` checks the result against
//! chrono-tz at every transition and at random instants.

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::{TZ_VARIANTS, Tz};

/// 1800-01-01T00:00:00Z, the base of the first transition's time.
const SCAN_FROM: i64 = -5_364_662_400;
/// 2100-01-01T00:00:00Z.
const SCAN_TO: i64 = 4_102_444_800;
const STEP: i64 = 3600;

fn offset_at(tz: Tz, t: i64) -> i32 {
    let utc = DateTime::from_timestamp(t, 0).unwrap().naive_utc();
    tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

/// The offset before the first transition and every (instant, new offset) after it.
fn spans(tz: Tz) -> (i32, Vec<(i64, i32)>) {
    let first = offset_at(tz, SCAN_FROM);
    assert_eq!(
        offset_at(tz, -30_000_000_000),
        first,
        "{tz}: change before 1800"
    );
    let mut changes = Vec::new();
    let mut current = first;
    let mut t = SCAN_FROM;
    while t < SCAN_TO {
        let next = t + STEP;
        if offset_at(tz, next) == current {
            t = next;
            continue;
        }
        let (mut same, mut changed) = (t, next);
        while changed - same > 1 {
            let mid = same + (changed - same) / 2;
            if offset_at(tz, mid) == current {
                same = mid;
            } else {
                changed = mid;
            }
        }
        current = offset_at(tz, changed);
        changes.push((changed, current));
        t = changed;
    }
    assert_eq!(
        offset_at(tz, 200_000_000_000),
        current,
        "{tz}: change after 2100"
    );
    (first, changes)
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// palette length, palette (zigzag seconds), first offset's palette index, transition count,
/// then per transition: time step since the previous one (or since 1800) as
/// `minutes << 1` or `seconds << 1 | 1`, and the new offset's palette index.
fn encode(first: i32, changes: &[(i64, i32)]) -> Vec<u8> {
    let mut palette = vec![first];
    for &(_, offset) in changes {
        if !palette.contains(&offset) {
            palette.push(offset);
        }
    }
    assert!(palette.len() < 256);
    let index = |offset: i32| palette.iter().position(|&p| p == offset).unwrap() as u8;
    let mut out = Vec::new();
    varint(&mut out, palette.len() as u64);
    for &offset in &palette {
        varint(&mut out, zigzag(i64::from(offset)));
    }
    out.push(index(first));
    varint(&mut out, changes.len() as u64);
    let mut previous = SCAN_FROM;
    for &(at, offset) in changes {
        let step = u64::try_from(at - previous).unwrap();
        varint(
            &mut out,
            if step % 60 == 0 {
                (step / 60) << 1
            } else {
                (step << 1) | 1
            },
        );
        out.push(index(offset));
        previous = at;
    }
    out
}

#[test]
#[ignore = "regenerates src/tz/table.*; run in release, takes about a minute"]
fn regenerate_zone_table() {
    let names: Vec<&str> = TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "names are sorted");
    let encoded: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let halves: Vec<_> = TZ_VARIANTS
            .chunks(TZ_VARIANTS.len().div_ceil(2))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&tz| {
                            let (first, changes) = spans(tz);
                            encode(first, &changes)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut distinct: Vec<&Vec<u8>> = Vec::new();
    let mut zone_of_name = Vec::new();
    for bytes in &encoded {
        let zone = distinct
            .iter()
            .position(|d| *d == bytes)
            .unwrap_or_else(|| {
                distinct.push(bytes);
                distinct.len() - 1
            });
        zone_of_name.push(zone);
    }
    let mut table = Vec::new();
    let mut starts = Vec::new();
    for bytes in &distinct {
        starts.push(table.len());
        table.extend_from_slice(bytes);
    }
    starts.push(table.len());
    let utc = names.iter().position(|&n| n == "UTC").unwrap();

    let version = chrono_tz::IANA_TZDB_VERSION;
    let mut source = String::new();
    let mut line = |text: String| {
        source.push_str(&text);
        source.push('\n');
    };
    line(format!(
        "// @generated by crates/todo-domain/tests/zone_table.rs from chrono-tz (tz database \
         {version}); do not edit.\n"
    ));
    line(format!(
        "pub(super) const TZDB_VERSION: &str = {version:?};\n"
    ));
    line(format!("pub(super) const UTC: u16 = {utc};\n"));
    line("/// Every accepted name, sorted (zones and links).".into());
    line(format!(
        "pub(super) const NAMES: [&str; {}] = [",
        names.len()
    ));
    for name in &names {
        line(format!("    {name:?},"));
    }
    line("];\n".into());
    line("/// The zone (index into `ZONE_STARTS`) of each name.".into());
    line(format!(
        "pub(super) const ZONE_OF_NAME: [u16; {}] = [",
        names.len()
    ));
    for chunk in zone_of_name.chunks(16) {
        let items: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        line(format!("    {},", items.join(", ")));
    }
    line("];\n".into());
    line("/// Where each zone's entry starts in `TABLE` (and, last, the table's length).".into());
    line(format!(
        "pub(super) const ZONE_STARTS: [u32; {}] = [",
        starts.len()
    ));
    for chunk in starts.chunks(12) {
        let items: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        line(format!("    {},", items.join(", ")));
    }
    line("];\n".into());
    line("pub(super) static TABLE: &[u8] = include_bytes!(\"table.bin\");".into());

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tz");
    std::fs::write(dir.join("table.bin"), &table).unwrap();
    std::fs::write(dir.join("table.rs"), source).unwrap();
    println!(
        "{} names, {} distinct zones, {} bytes",
        names.len(),
        distinct.len(),
        table.len()
    );
}
