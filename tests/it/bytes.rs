//! Bytes on the wire: static files named by their content and cached for a year.

use crate::harness::TestApp;

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
