//! What staff typed to find a registration (签到, triage): a code, a phone, an ID number — found
//! by the code or a blind index, never by decrypting — or, in triage, a full name. Pure.

use crate::prepare::registration;
use crate::privacy;

/// What was typed: a phone (11 digits), an ID number (18 characters, valid check digit) or a code.
#[derive(Debug, PartialEq)]
pub enum Query {
    Code(String),
    Phone(String),
    IdNumber(String),
}

pub fn classify(q: &str) -> Option<Query> {
    let compact: String = q
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if privacy::valid_phone(&compact) {
        return Some(Query::Phone(compact));
    }
    let id = privacy::normalize_id_number(&compact);
    if privacy::valid_id_number(&id) {
        return Some(Query::IdNumber(id));
    }
    let code = registration::normalize_code(&compact);
    let alphabet = registration::CODE_ALPHABET;
    (8..=12)
        .contains(&code.len())
        .then_some(())
        .filter(|_| code.bytes().all(|b| alphabet.contains(&b)))
        .map(|_| Query::Code(code))
}

/// A triage search: one of the above, else a full name (also found by its blind index).
#[derive(Debug, PartialEq)]
pub enum Search {
    Known(Query),
    Name(String),
}

pub fn search(q: &str) -> Option<Search> {
    if let Some(known) = classify(q) {
        return Some(Search::Known(known));
    }
    let name = privacy::normalize_name(q);
    (!name.is_empty()).then(|| Search::Name(name.chars().take(50).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_desk_typed() {
        assert_eq!(
            classify(" 138 1234 5678 "),
            Some(Query::Phone("13812345678".into()))
        );
        assert_eq!(
            classify("11010519491231002x"),
            Some(Query::IdNumber("11010519491231002X".into()))
        );
        assert_eq!(classify("abcd 2345"), Some(Query::Code("ABCD2345".into())));
        assert_eq!(
            classify("110105194912310021"),
            None,
            "a wrong check digit is neither an ID nor a code"
        );
        assert_eq!(classify(""), None);
        assert_eq!(classify("ABC"), None);
    }

    #[test]
    fn anything_else_is_a_name() {
        assert_eq!(search(" 张三 "), Some(Search::Name("张三".into())));
        assert_eq!(
            search("13812345678"),
            Some(Search::Known(Query::Phone("13812345678".into())))
        );
        assert_eq!(search("  "), None);
    }
}
