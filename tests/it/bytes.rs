//! Bytes on the wire: pages, styles, scripts and JSON compressed (brotli, gzip); static files
//! named by their content and cached for a year.

use crate::harness::TestApp;
use std::io::Read;

/// GET `path` with this Accept-Encoding (none: no header): status, Content-Encoding, raw body.
async fn fetch(app: &TestApp, path: &str, accept: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.origin()));
    if let Some(a) = accept {
        req = req.header("accept-encoding", a);
    }
    let r = req.send().await.unwrap();
    let encoding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        encoding,
        r.bytes().await.unwrap().to_vec(),
    )
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The stylesheet's URL as the home page links it.
async fn stylesheet(app: &TestApp) -> String {
    let home = app.client().get("/").await;
    let doc = home.html();
    doc.select(&scraper::Selector::parse(r#"link[rel="stylesheet"]"#).unwrap())
        .next()
        .and_then(|l| l.value().attr("href"))
        .expect("the home page links a stylesheet")
        .to_owned()
}

#[tokio::test]
async fn a_page_the_stylesheet_and_json_come_compressed_and_decompress_to_the_same_bytes() {
    let app = TestApp::spawn().await;
    let css = stylesheet(&app).await;
    for path in ["/", css.as_str(), "/api/v1/openapi.json"] {
        let (status, encoding, plain) = fetch(&app, path, None).await;
        assert_eq!((status, encoding.as_str()), (200, ""), "{path}");
        let (_, encoding, br) = fetch(&app, path, Some("br")).await;
        assert_eq!(encoding, "br", "{path}");
        assert_eq!(unbrotli(&br), plain, "{path}");
        let (_, encoding, gz) = fetch(&app, path, Some("gzip")).await;
        assert_eq!(encoding, "gzip", "{path}");
        assert_eq!(ungzip(&gz), plain, "{path}");
        // What a browser asks for: brotli wins.
        assert_eq!(fetch(&app, path, Some("gzip, deflate, br")).await.1, "br");
        assert!(
            br.len() < plain.len() / 2,
            "{path}: {} → {}",
            plain.len(),
            br.len()
        );
        eprintln!(
            "{path}: {} bytes, br {} bytes, gzip {} bytes",
            plain.len(),
            br.len(),
            gz.len()
        );
    }
}

#[tokio::test]
async fn tiny_bodies_are_sent_as_they_are() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/api/v1/me"] {
        let (_, encoding, body) = fetch(&app, path, Some("br, gzip")).await;
        assert_eq!(encoding, "", "{path}");
        assert!(body.len() < 1024 && !body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn the_linked_stylesheet_is_served_and_cached_for_a_year_and_old_names_move_to_it() {
    let app = TestApp::spawn().await;
    let css = stylesheet(&app).await;
    let name = css.strip_prefix("/static/").expect("under /static/");
    assert_eq!(
        name,
        xiafang::web::assets::hashed_name("app.css", include_bytes!("../../static/app.css")),
        "the link names this build's stylesheet by its content"
    );
    let client = app.client();
    let r = client.get(&css).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(r.body.as_bytes(), include_bytes!("../../static/app.css"));
    // The plain name and another build's hash lead to this build's file, and are not cached.
    for old in ["/static/app.css", "/static/app.0123abcd.css"] {
        let moved = client.get(old).await;
        assert_eq!(
            (moved.status, moved.location()),
            (307, css.as_str()),
            "{old}"
        );
        assert_eq!(moved.headers["cache-control"], "no-cache");
    }
    for unknown in [
        "/static/app.zzz.css",
        "/static/other.css",
        "/static/app.0123abcd.js",
    ] {
        assert_eq!(client.get(unknown).await.status, 404, "{unknown}");
    }
}
