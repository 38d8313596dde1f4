//! The fixed date formats the domain and the assistant read and write, as chrono format items
//! rather than strftime strings. `NaiveDate::parse_from_str(text, "%Y-%m-%d")` and
//! `.format("%Y%m%d")` link chrono's strftime parser into every component that uses them; these
//! items are what that parser makes of the same strings (the tests check it), so reading and
//! writing with them is the same code without it.
use chrono::format::{Item, Numeric, Pad, ParseResult, Parsed};

const fn number(numeric: Numeric) -> Item<'static> {
    Item::Numeric(numeric, Pad::Zero)
}

const YEAR: Item<'static> = number(Numeric::Year);
const MONTH: Item<'static> = number(Numeric::Month);
const DAY: Item<'static> = number(Numeric::Day);
const HOUR: Item<'static> = number(Numeric::Hour);
const MINUTE: Item<'static> = number(Numeric::Minute);
const SECOND: Item<'static> = number(Numeric::Second);

/// `%Y-%m-%d`
pub const ISO_DATE: &[Item<'static>] = &[YEAR, Item::Literal("-"), MONTH, Item::Literal("-"), DAY];
/// `%Y%m%d`
pub const BASIC_DATE: &[Item<'static>] = &[YEAR, MONTH, DAY];
/// `%Y%m%dT%H%M%S`
pub const BASIC_DATE_TIME: &[Item<'static>] =
    &[YEAR, MONTH, DAY, Item::Literal("T"), HOUR, MINUTE, SECOND];
/// `%Y%m%dT%H%M%SZ`
pub const BASIC_DATE_TIME_UTC: &[Item<'static>] = &[
    YEAR,
    MONTH,
    DAY,
    Item::Literal("T"),
    HOUR,
    MINUTE,
    SECOND,
    Item::Literal("Z"),
];

/// `text` read with `items`, as `parse_from_str` reads it with the matching strftime string:
/// finish with `to_naive_date()`, or `to_naive_datetime_with_offset(0)` for a date and time.
pub fn parse(text: &str, items: &[Item<'static>]) -> ParseResult<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter())?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::format::StrftimeItems;
    use chrono::{NaiveDate, NaiveDateTime};

    #[test]
    fn the_items_are_what_strftime_makes_of_the_format() {
        for (items, format) in [
            (ISO_DATE, "%Y-%m-%d"),
            (BASIC_DATE, "%Y%m%d"),
            (BASIC_DATE_TIME, "%Y%m%dT%H%M%S"),
            (BASIC_DATE_TIME_UTC, "%Y%m%dT%H%M%SZ"),
        ] {
            assert_eq!(
                StrftimeItems::new(format).collect::<Vec<_>>(),
                items,
                "{format}"
            );
        }
    }

    #[test]
    fn parsing_agrees_with_parse_from_str() {
        for text in [
            "2026-03-01",
            "2026-3-1",
            "2026-02-30",
            "+2026-03-01",
            "2026-03-01x",
            "",
        ] {
            assert_eq!(
                parse(text, ISO_DATE).and_then(|p| p.to_naive_date()),
                NaiveDate::parse_from_str(text, "%Y-%m-%d"),
                "{text}"
            );
        }
        for text in [
            "20260301T093000",
            "20261231T235960",
            "20260301T9300",
            "20260301 093000",
        ] {
            assert_eq!(
                parse(text, BASIC_DATE_TIME).and_then(|p| p.to_naive_datetime_with_offset(0)),
                NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S"),
                "{text}"
            );
        }
        let at = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap();
        assert_eq!(
            at.format_with_items(BASIC_DATE_TIME_UTC.iter()).to_string(),
            "20260301T093000Z"
        );
    }
}
