//! Small lexical helpers of the spec parser: exact decimal percentages and typo hints.

/// The value of `whole.fraction` percent as a fraction (ASCII digits, at most a dozen of them),
/// rounded once: `percent("99", "9")` is exactly the double nearest 0.999.
pub(super) fn percent(whole: &str, fraction: &str) -> f64 {
    decimal(whole, fraction, 2)
}

/// The value of `whole.fraction` divided by `10^shift` (ASCII digits, at most a dozen of them,
/// `shift` at most 6), rounded once: `decimal("500", "", 3)` is exactly 0.5.
pub(super) fn decimal(whole: &str, fraction: &str, shift: usize) -> f64 {
    let mantissa = whole
        .bytes()
        .chain(fraction.bytes())
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    let scale = 10u64.pow(u32::try_from(fraction.len() + shift).unwrap_or(0));
    mantissa as f64 / scale as f64
}

/// A "did you mean" suffix when `word` is one edit away from a keyword.
pub(super) fn hint(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let close: Vec<&str> = ["max", "min"]
        .into_iter()
        .filter(|k| edit_distance(&lower, k) <= 1)
        .collect();
    match close.as_slice() {
        [only] => format!(" (did you mean {only:?}?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
