//! Writes `src/tz/table.rs` and `src/tz/table.bin`, the compact zone table behind
//! `todo_domain::tz::Tz`, from chrono-tz (which stays a dev-dependency as the oracle; build.rs
//! deflates `table.bin` for embedding):
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

const DAY: i64 = 86_400;
/// Repeated transitions are 52 weeks + `0..=7` days after the one before the previous one.
const REPEAT_BASE_DAYS: i64 = 364;
/// How many 52- or 53-week repeats one packed byte holds.
const PACKED_REPEATS: usize = 5;

/// `Some(days - 364)` when transition `i` repeats transition `i - 2` (same offset, 364 to 371
/// whole days later: a yearly rule such as "last Sunday of March"), which is most of them.
fn repeat_of(changes: &[(i64, i32)], i: usize) -> Option<u8> {
    let (at, offset) = changes[i];
    let (earlier_at, earlier_offset) = *changes.get(i.checked_sub(2)?)?;
    let days = (at - earlier_at) / DAY - REPEAT_BASE_DAYS;
    let whole_days = (at - earlier_at) % DAY == 0;
    (offset == earlier_offset && whole_days && (0..=7).contains(&days)).then_some(days as u8)
}

/// palette length, palette (zigzag seconds), first offset's palette index, transition count,
/// then the transitions, each as one of:
/// - `code << 1 | 1` (a varint), `code` the time step since the previous transition (or since
///   1800) as `minutes << 1` or `seconds << 1 | 1`, then the new offset's palette index;
/// - one byte `days << 2`: transition `i - 2`'s offset again, `364 + days` days after it;
/// - one byte `bits << 2 | 0b10`: 2 to 5 such repeats of 364 (bit 0) or 371 (bit 1) days, the
///   first in the lowest bit, above them a 1 that marks the end.
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
    let mut i = 0;
    while i < changes.len() {
        let Some(days) = repeat_of(changes, i) else {
            let (at, offset) = changes[i];
            let step = u64::try_from(at - previous).unwrap();
            let code = if step % 60 == 0 {
                (step / 60) << 1
            } else {
                (step << 1) | 1
            };
            varint(&mut out, (code << 1) | 1);
            out.push(index(offset));
            previous = at;
            i += 1;
            continue;
        };
        let weeks: Vec<u8> = (i..changes.len())
            .map_while(|j| repeat_of(changes, j).filter(|&d| d == 0 || d == 7))
            .take(PACKED_REPEATS)
            .collect();
        if weeks.len() >= 2 {
            let bits = weeks
                .iter()
                .rev()
                .fold(1u8, |bits, &days| (bits << 1) | u8::from(days == 7));
            out.push((bits << 2) | 0b10);
            i += weeks.len();
        } else {
            out.push(days << 2);
            i += 1;
        }
        previous = changes[i - 1].0;
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
    assert!(table.len() <= usize::from(u16::MAX));
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
    let mut name_starts = vec![0];
    for name in &names {
        name_starts.push(name_starts.last().unwrap() + name.len());
    }
    assert!(*name_starts.last().unwrap() <= usize::from(u16::MAX));
    line(
        "/// Every accepted name, sorted (zones and links), one after the other (an offset takes"
            .into(),
    );
    line("/// 2 bytes of a component where a `&str` in an array takes 8).".into());
    line("pub(super) const NAMES: &str = concat!(".into());
    for name in &names {
        line(format!("    {name:?},"));
    }
    line(");\n".into());
    line("/// Where each name starts in `NAMES` (and, last, its length).".into());
    line(format!(
        "pub(super) const NAME_STARTS: [u16; {}] = [",
        name_starts.len()
    ));
    for chunk in name_starts.chunks(12) {
        let items: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        line(format!("    {},", items.join(", ")));
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
    line("/// Where each zone's entry starts in `table.bin` (and, last, its length).".into());
    line(format!(
        "pub(super) const ZONE_STARTS: [u16; {}] = [",
        starts.len()
    ));
    for chunk in starts.chunks(12) {
        let items: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        line(format!("    {},", items.join(", ")));
    }
    line("];".into());

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
