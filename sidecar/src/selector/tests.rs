use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<Label<'a>> {
    pairs
        .iter()
        .map(|(name, value)| Label {
            name,
            value: Cow::Borrowed(value),
        })
        .collect()
}

fn err(source: &str) -> SelectorError {
    match Selector::parse(source) {
        Ok(s) => panic!("{source:?} parsed as {s}"),
        Err(e) => e,
    }
}

#[test]
fn bare_name_has_no_matchers() {
    let s = Selector::parse("http_requests_total").unwrap();
    assert_eq!(s.metric, "http_requests_total");
    assert!(s.matchers.is_empty());
    assert_eq!(s.to_string(), "http_requests_total");
}

#[test]
fn all_four_operators_and_trailing_comma() {
    let s = Selector::parse(r#"m{a="x", b!="y",c=~"re" , d!~'r2',}"#).unwrap();
    let ops: Vec<_> = s
        .matchers
        .iter()
        .map(|m| (m.label.as_str(), m.op))
        .collect();
    assert_eq!(
        ops,
        [
            ("a", MatchOp::Equal),
            ("b", MatchOp::NotEqual),
            ("c", MatchOp::RegexMatch),
            ("d", MatchOp::RegexNoMatch)
        ]
    );
    assert_eq!(s.matchers[3].value, "r2");
    assert_eq!(s.to_string(), r#"m{a="x", b!="y", c=~"re", d!~"r2"}"#);
}

#[test]
fn escapes_are_unescaped() {
    let s = Selector::parse(r#"m{a="q\"b\\n\n\t\x41\u00e9\101", b='it\'s', c=`raw\n`}"#).unwrap();
    assert_eq!(s.matchers[0].value, "q\"b\\n\n\tAéA");
    assert_eq!(s.matchers[1].value, "it's");
    assert_eq!(s.matchers[2].value, "raw\\n");
}

#[test]
fn regex_is_fully_anchored() {
    let s = Selector::parse(r#"http_requests_total{code=~"5.."}"#).unwrap();
    assert!(s.matches("http_requests_total", &labels(&[("code", "503")])));
    assert!(!s.matches("http_requests_total", &labels(&[("code", "5003")])));
    assert!(!s.matches("http_requests_total", &labels(&[("code", "x500")])));
    assert!(!s.matches("http_requests_total", &labels(&[("code", "200")])));
}

#[test]
fn alternation_is_anchored_as_a_whole() {
    let s = Selector::parse(r#"m{code=~"500|503"}"#).unwrap();
    assert!(s.matches("m", &labels(&[("code", "503")])));
    assert!(!s.matches("m", &labels(&[("code", "5000")])));
    assert!(!s.matches("m", &labels(&[("code", "1503")])));
}

#[test]
fn absent_label_compares_as_empty() {
    let eq_empty = Selector::parse(r#"m{env=""}"#).unwrap();
    assert!(eq_empty.matches("m", &labels(&[("code", "200")])));
    assert!(!eq_empty.matches("m", &labels(&[("env", "prod")])));
    let ne = Selector::parse(r#"m{env!="prod"}"#).unwrap();
    assert!(ne.matches("m", &labels(&[])));
    let nre = Selector::parse(r#"m{env!~".+"}"#).unwrap();
    assert!(nre.matches("m", &labels(&[])));
    let re = Selector::parse(r#"m{env=~".+"}"#).unwrap();
    assert!(!re.matches("m", &labels(&[])));
}

#[test]
fn name_must_match_exactly() {
    let s = Selector::parse("m").unwrap();
    assert!(s.matches("m", &labels(&[("a", "b")])));
    assert!(!s.matches("m_total", &labels(&[])));
}

#[test]
fn name_matcher_compares_the_sample_name() {
    let s = Selector::parse(r#"m{__name__=~"m|n"}"#).unwrap();
    assert!(s.matches("m", &labels(&[])));
    assert!(
        !Selector::parse(r#"m{__name__="n"}"#)
            .unwrap()
            .matches("m", &labels(&[]))
    );
}

#[test]
fn errors_give_the_offset_of_the_bad_token() {
    assert_eq!(err("").offset, 0);
    assert_eq!(err("{a=\"b\"}").offset, 0);
    let e = err(r#"m{a="b" b="c"}"#);
    assert_eq!(e.offset, 8, "{e}");
    assert!(e.message.contains("\",\" or \"}\""), "{e}");
    let e = err(r#"m{a=="b"}"#);
    assert_eq!(e.offset, 4, "{e}");
    let e = err(r#"m{a~"b"}"#);
    assert_eq!(e.offset, 3, "{e}");
    let e = err(r#"m{a="b""#);
    assert_eq!(e.offset, 7, "{e}");
    assert!(e.message.contains("missing \"}\""), "{e}");
    let e = err(r#"m{a="b}"#);
    assert_eq!(e.offset, 4, "{e}");
    assert!(e.message.contains("unterminated"), "{e}");
    let e = err(r#"m{a=~"(5"}"#);
    assert_eq!(e.offset, 5, "{e}");
    assert!(e.message.contains("bad regular expression"), "{e}");
    let e = err(r#"m{a="\q"}"#);
    assert_eq!(e.offset, 5, "{e}");
    let e = err("m x");
    assert_eq!(e.offset, 2, "{e}");
    let e = err(r#"m{1a="b"}"#);
    assert_eq!(e.offset, 2, "{e}");
}

#[test]
fn huge_regex_is_refused() {
    let source = r#"m{a=~"(?:a{1000}){1000}"}"#;
    let e = err(source);
    assert!(e.message.contains("size limit"), "{e}");
}

#[test]
fn prefix_reports_bytes_used() {
    let (s, used) = Selector::parse_prefix("a{b=\"c\"} / d").unwrap();
    assert_eq!(s.metric, "a");
    assert_eq!(used, 8);
    let (_, used) = Selector::parse_prefix("a  p99").unwrap();
    assert_eq!(used, 1);
}

fn value_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z\"'\\\\\n\t\u{1}é{},=~ ]{0,8}").unwrap()
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = Selector::parse(&text);
    }

    #[test]
    fn display_round_trips(name in "[a-z_:][a-z0-9_:]{0,8}", label in "[a-z_][a-z0-9_]{0,6}",
                           value in value_strategy(), op in 0..2usize) {
        let op = [MatchOp::Equal, MatchOp::NotEqual][op];
        let selector = Selector { metric: name, matchers: vec![Matcher::new(label, op, value).unwrap()] };
        let text = selector.to_string();
        prop_assert_eq!(Selector::parse(&text).unwrap(), selector);
    }
}
