//! The table against chrono-tz, the oracle it was generated from.
use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use proptest::prelude::*;

use super::*;

fn oracle(zone: Tz) -> chrono_tz::Tz {
    zone.name()
        .parse()
        .expect("chrono-tz knows every name we accept")
}

fn naive(seconds: i64) -> NaiveDateTime {
    DateTime::from_timestamp(seconds, 0).unwrap().naive_utc()
}

fn offset_seconds<O: Offset>(result: LocalResult<O>) -> LocalResult<i32> {
    result.map(|offset| offset.fix().local_minus_utc())
}

fn assert_agrees_at(zone: Tz, utc: i64) {
    let ours = zone.offset_from_utc_datetime(&naive(utc)).fix();
    let theirs = oracle(zone).offset_from_utc_datetime(&naive(utc)).fix();
    assert_eq!(ours, theirs, "{zone} at {utc}");
}

fn assert_local_agrees_at(zone: Tz, local: i64) {
    let local = naive(local);
    let ours = offset_seconds(zone.offset_from_local_datetime(&local));
    let theirs = offset_seconds(oracle(zone).offset_from_local_datetime(&local));
    assert_eq!(ours, theirs, "{zone} at local {local}");
}

#[test]
fn names_are_exactly_chrono_tz_names() {
    let ours: Vec<&str> = Tz::all().map(Tz::name).collect();
    let theirs: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    assert_eq!(ours, theirs);
    assert_eq!(TZDB_VERSION, chrono_tz::IANA_TZDB_VERSION);
    for zone in Tz::all() {
        assert_eq!(Tz::named(zone.name()), Some(zone));
        assert_eq!(zone.name().parse::<Tz>(), Ok(zone));
    }
    assert_eq!(Tz::UTC.name(), "UTC");
    assert_eq!(Tz::named("utc"), None);
    assert_eq!(Tz::named("Europe/Berlin "), None);
    assert!("Mars/Olympus".parse::<Tz>().is_err());
}

#[test]
fn every_palette_fits() {
    for zone in 0..table::ZONE_STARTS.len() - 1 {
        let mut pos = usize::from(table::ZONE_STARTS[zone]);
        let palette = read_varint(table(), &mut pos);
        assert!(palette as usize <= MAX_PALETTE, "zone {zone}: {palette}");
    }
}

/// Both sides of every transition of every zone, in UTC and on the wall clock (the gap or
/// overlap it opens, and the seconds around it).
#[test]
fn every_transition_agrees_with_chrono_tz() {
    let mut transitions = 0;
    for zone in Tz::all() {
        let spans: Vec<Span> = zone.spans().collect();
        assert!(
            spans
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].offset != w[1].offset)
        );
        for pair in spans.windows(2) {
            let at = pair[1].start.unwrap();
            transitions += 1;
            assert_agrees_at(zone, at - 1);
            assert_agrees_at(zone, at);
            let (before, after) = (i64::from(pair[0].offset), i64::from(pair[1].offset));
            for local in [at + before, at + after] {
                for delta in [-3601, -1, 0, 1, 3600] {
                    assert_local_agrees_at(zone, local + delta);
                }
            }
            assert_local_agrees_at(zone, at + (before + after) / 2);
        }
    }
    assert!(transitions > 30_000, "{transitions}");
}

#[test]
fn offsets_display_as_fixed_offsets_and_know_their_zone() {
    let berlin = Tz::named("Europe/Berlin").unwrap();
    let summer = berlin.from_utc_datetime(&naive(1_782_900_000));
    assert_eq!(summer.offset().to_string(), "+02:00");
    assert_eq!(summer.timezone(), berlin);
    assert_eq!(summer.to_rfc3339(), "2026-07-01T12:00:00+02:00");
    assert_eq!(format!("{berlin}"), "Europe/Berlin");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn utc_to_local_agrees_with_chrono_tz(
        zone in 0..NAME_COUNT,
        utc in -6_000_000_000i64..8_000_000_000,
    ) {
        let zone = Tz(u16::try_from(zone).unwrap());
        let ours = zone.offset_from_utc_datetime(&naive(utc)).fix();
        let theirs = oracle(zone).offset_from_utc_datetime(&naive(utc)).fix();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn local_to_utc_agrees_with_chrono_tz(
        zone in 0..NAME_COUNT,
        local in -6_000_000_000i64..8_000_000_000,
    ) {
        let zone = Tz(u16::try_from(zone).unwrap());
        let ours = offset_seconds(zone.offset_from_local_datetime(&naive(local)));
        let theirs = offset_seconds(oracle(zone).offset_from_local_datetime(&naive(local)));
        prop_assert_eq!(ours, theirs);
    }
}
