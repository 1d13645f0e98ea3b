//! Moments as people read them: "2026-12-01 14:05 UTC" on terminals, ISO 8601 in JSON. UTC,
//! said so: the module has no time zone database, and a wrong local time would be worse.
#![forbid(unsafe_code)]

/// (year, month, day, hour, minute, second) of a Unix time, proleptic Gregorian, UTC.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// "2026-12-01 14:05 UTC".
pub fn human(secs: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// "2026-12-01T14:05:09Z".
pub fn iso8601(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moments_read_right() {
        assert_eq!(human(0), "1970-01-01 00:00 UTC");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // date -u -d @1796137509
        assert_eq!(iso8601(1_796_137_509), "2026-12-01T15:05:09Z");
        assert_eq!(human(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(iso8601(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
