//! Static files, compiled into the binary so that it runs from any directory, named by a hash of
//! their content (`/static/app.3f2a9c1e.css`) so that they can be cached for a year: a build that
//! changes a file changes its name, and no browser keeps a stale copy. Templates link them
//! through `url`; `public::pages::assets` serves them.

use sha2::{Digest, Sha256};
use std::sync::LazyLock;

#[derive(Debug, PartialEq)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "board.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/board.js"),
    },
    Asset {
        name: "desk.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/desk.js"),
    },
    Asset {
        name: "day.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/day.js"),
    },
];

/// `app.css` with its bytes → `app.3f2a9c1e.css`: the first 8 hex digits of the content's SHA-256
/// before the extension.
pub fn hashed_name(name: &str, body: &[u8]) -> String {
    let hash = hex::encode(&Sha256::digest(body)[..4]);
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

/// Each file's current URL, in the order of `FILES`, computed once.
static URLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|f| format!("/static/{}", hashed_name(f.name, f.body)))
        .collect()
});

/// The URL under which a static file is served now: `url("app.css")` → `/static/app.3f2a9c1e.css`.
pub fn url(name: &str) -> &'static str {
    let i = FILES
        .iter()
        .position(|f| f.name == name)
        .unwrap_or_else(|| panic!("no static file {name} is compiled in"));
    &URLS[i]
}

/// What a request for `/static/{requested}` finds.
#[derive(Debug, PartialEq)]
pub enum Found {
    Current(&'static Asset),
    /// A known file under its plain name (`app.css`) or another build's hash (`app.0123abcd.css`):
    /// it has moved to this URL rather than vanished.
    Moved(&'static str),
    Unknown,
}

pub fn find(requested: &str) -> Found {
    for (f, url) in FILES.iter().zip(URLS.iter()) {
        if url.strip_prefix("/static/") == Some(requested) {
            return Found::Current(f);
        }
        let (stem, ext) = f.name.rsplit_once('.').unwrap_or((f.name, ""));
        let other_hash = requested
            .strip_prefix(stem)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(ext))
            .and_then(|r| r.strip_suffix('.'))
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if requested == f.name || other_hash {
            return Found::Moved(url);
        }
    }
    Found::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_carries_a_hash_of_the_content_and_changes_with_it() {
        let one = hashed_name("app.css", b"body { color: black }");
        let two = hashed_name("app.css", b"body { color: navy }");
        assert!(one.starts_with("app.") && one.ends_with(".css"), "{one}");
        assert_eq!(one.len(), "app.".len() + 8 + ".css".len(), "{one}");
        assert_ne!(one, two);
        assert_eq!(one, hashed_name("app.css", b"body { color: black }"));
    }

    #[test]
    fn the_current_name_serves_and_plain_or_other_hashes_move() {
        let css = url("app.css");
        assert_eq!(
            css,
            format!("/static/{}", hashed_name("app.css", FILES[0].body))
        );
        assert_eq!(
            find(css.strip_prefix("/static/").unwrap()),
            Found::Current(&FILES[0])
        );
        assert_eq!(find("app.css"), Found::Moved(css));
        assert_eq!(find("app.0123abcd.css"), Found::Moved(css));
        assert_eq!(find("board.0123abcd.js"), Found::Moved(url("board.js")));
        assert_eq!(find("day.js"), Found::Moved(url("day.js")));
        for unknown in [
            "app.js",
            "app..css",
            "app.xyz.css",
            "other.css",
            "app.0123abcd.js",
        ] {
            assert_eq!(find(unknown), Found::Unknown, "{unknown}");
        }
    }
}
