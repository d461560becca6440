//! Attachments and the archive file (issue 15): a PDF or a photo uploaded to a case or one of its
//! documents, recognised by its first bytes, at most 10 MB, sealed at rest, served back as a
//! download to those who see the case, each upload and download audited; and 一案一档, the case's
//! archive as one ZIP holding every issued document and every attachment.

use crate::cases::{World, case, close, world};
use crate::fixtures::id_number;
use crate::harness::{Client, Resp};
use std::io::{Cursor, Read};
use xiafang::clock::Clock;
use xiafang::followup::attachments::rules::{MAX_BYTES, TOO_LARGE};

/// A small PDF: the signature, then content a test can look for.
fn pdf(marker: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {marker}\n%%EOF\n").into_bytes()
}

/// The PNG signature, then bytes of every value (so nothing survives a text round trip).
fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend((0..=255u8).cycle().take(4096));
    bytes
}

async fn upload(who: &Client, path: &str, name: &str, bytes: &[u8]) -> Resp {
    who.post_file(path, "file", name, "application/octet-stream", bytes)
        .await
}

/// The attachments of the case, newest last: (id, size).
async fn stored(w: &World, case: i64) -> Vec<(i64, i32)> {
    sqlx::query_as("SELECT id, size FROM attachments WHERE case_id = $1 ORDER BY id")
        .bind(case)
        .fetch_all(&w.fx.owner)
        .await
        .unwrap()
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn a_pdf_and_a_png_go_up_sealed_and_come_back_as_audited_downloads() {
    let w = world().await;
    let id = case(&w, "ATAA234567", w.owner_leader).await;
    let reply = pdf("村道已修复的盖章答复");
    let r = upload(
        &w.lead,
        &format!("/cases/{id}/attachments"),
        "答复意见书.pdf",
        &reply,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("/cases/{id}#attachments"));
    // Named .jpg by the camera's app, but a PNG by its bytes: kept as what it is.
    let photo = png();
    let r = upload(
        &w.staff,
        &format!("/cases/{id}/attachments"),
        "现场 照片.jpg",
        &photo,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let files = stored(&w, id).await;
    assert_eq!(files.len(), 2);

    // Listed on the case page, for everyone on the case; the co-handler reads but does not add.
    let page = w.co.get(&format!("/cases/{id}")).await;
    assert_eq!(
        page.texts("#attachments tbody td a"),
        ["答复意见书.pdf", "现场 照片.png"]
    );
    assert!(
        page.html()
            .select(&scraper::Selector::parse("#f-file").unwrap())
            .next()
            .is_none()
    );
    let refused = upload(&w.co, &format!("/cases/{id}/attachments"), "x.pdf", &reply).await;
    assert_eq!(refused.status, 403);

    // Back as downloads, byte for byte, never inline.
    for ((file, _), (bytes, mime, utf8_name)) in files.iter().zip([
        (
            &reply,
            "application/pdf",
            "%E7%AD%94%E5%A4%8D%E6%84%8F%E8%A7%81%E4%B9%A6.pdf",
        ),
        (
            &photo,
            "image/png",
            "%E7%8E%B0%E5%9C%BA%20%E7%85%A7%E7%89%87.png",
        ),
    ]) {
        let (status, headers, body) =
            w.co.get_bytes(&format!("/cases/{id}/attachments/{file}"))
                .await;
        assert_eq!(status, 200);
        assert_eq!(&body, bytes);
        assert_eq!(header(&headers, "content-type"), mime);
        let disposition = header(&headers, "content-disposition");
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{disposition}"
        );
        assert!(
            disposition.ends_with(&format!("filename*=UTF-8''{utf8_name}")),
            "{disposition}"
        );
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    }

    // Out of reach: another department's handler gets 404, like an unknown file.
    let (status, _, body) = w
        .other
        .get_bytes(&format!("/cases/{id}/attachments/{}", files[0].0))
        .await;
    assert_eq!(status, 404);
    assert!(!String::from_utf8_lossy(&body).contains("村道"));
    let (status, _, _) = w
        .lead
        .get_bytes(&format!("/cases/{id}/attachments/999999"))
        .await;
    assert_eq!(status, 404);
    let r = upload(
        &w.other,
        &format!("/cases/{id}/attachments"),
        "x.pdf",
        &reply,
    )
    .await;
    assert_eq!(r.status, 404);

    // Each upload and each download audited, on the case.
    assert_eq!(w.app.audit_count("attachment.upload").await, 2);
    assert_eq!(w.app.audit_count("attachment.download").await, 2);
    let on_case: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'attachment.%' AND object_type = 'case' AND object_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&w.fx.owner)
    .await
    .unwrap();
    assert_eq!(on_case, 4);

    // Sealed at rest: neither the content nor the name in clear.
    let (content, name): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT content_cipher, name_cipher FROM attachments WHERE id = $1")
            .bind(files[0].0)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_ne!(content, reply);
    assert!(!content.windows(5).any(|x| x == b"%PDF-"));
    assert!(!String::from_utf8_lossy(&content).contains("村道"));
    assert!(!String::from_utf8_lossy(&name).contains("答复"));
    assert_eq!(files[0].1 as usize, reply.len());

    // The app role keeps them as evidence: no change, no removal.
    let app_db = &w.app.db;
    for sql in ["UPDATE attachments SET size = 1", "DELETE FROM attachments"] {
        let e = sqlx::query(sql).execute(app_db).await.unwrap_err();
        assert!(e.to_string().contains("permission denied"), "{e}");
    }
}

#[tokio::test]
async fn a_file_that_is_not_what_its_name_says_or_too_large_is_refused_beside_the_field() {
    let w = world().await;
    let id = case(&w, "ATBB234567", w.owner_leader).await;
    let path = format!("/cases/{id}/attachments");

    let fake = upload(
        &w.lead,
        &path,
        "答复意见书.pdf",
        "<html>这不是 PDF</html>".as_bytes(),
    )
    .await;
    assert_eq!(fake.status, 422, "{}", fake.body);
    let why = fake.field_error("file");
    assert!(why.contains("不是 PDF、JPEG 或 PNG"), "{why}");
    assert!(
        fake.text("h2").contains("村道损坏修复"),
        "the case file again"
    );

    let mut big = pdf("大");
    big.resize(MAX_BYTES + 1, b' ');
    let over = upload(&w.lead, &path, "扫描件.pdf", &big).await;
    assert_eq!(over.status, 422, "{}", over.body);
    assert_eq!(over.field_error("file"), TOO_LARGE);

    // Far beyond: refused before it is read, with the same words on the error page.
    big.resize(MAX_BYTES * 2, b' ');
    let far = upload(&w.lead, &path, "扫描件.pdf", &big).await;
    assert_eq!(far.status, 413);
    assert!(far.body.contains(TOO_LARGE), "{}", far.body);

    // Not a form with a file at all.
    let empty = w.lead.post(&path, &[("file", "")]).await;
    assert_eq!(empty.status, 422);
    assert!(!empty.field_error("file").is_empty());

    // The same on a document's page.
    let r = w
        .staff
        .post(&format!("/cases/{id}/documents"), &[("kind", "assignment")])
        .await;
    assert_eq!(r.status, 303);
    let doc = r.location().to_owned();
    let fake = upload(
        &w.staff,
        &format!("{doc}/attachments"),
        "照片.png",
        b"GIF89a....",
    )
    .await;
    assert_eq!(fake.status, 422, "{}", fake.body);
    assert!(fake.field_error("file").contains("不是 PDF、JPEG 或 PNG"));
    assert!(fake.text("#document h2").contains("交办单"));

    assert!(stored(&w, id).await.is_empty());
    assert_eq!(w.app.audit_count("attachment.upload").await, 0);
}

/// Draft `kind` on the case as `who` and issue it; the document's path.
async fn issued(who: &Client, case: i64, kind: &str) -> String {
    let r = who
        .post(&format!("/cases/{case}/documents"), &[("kind", kind)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let doc = r.location().to_owned();
    assert_eq!(who.post(&format!("{doc}/issue"), &[]).await.status, 303);
    doc
}

/// The archive's files by name.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut content = Vec::new();
            f.read_to_end(&mut content).unwrap();
            (f.name().unwrap().into_owned(), content)
        })
        .collect()
}

#[tokio::test]
async fn the_archive_of_a_closed_case_holds_every_issued_document_and_every_attachment() {
    let w = world().await;
    let id = case(&w, "ATCC234567", w.owner_leader).await;
    let assignment = issued(&w.staff, id, "assignment").await;
    let reply = pdf("盖章答复");
    let r = upload(
        &w.lead,
        &format!("/cases/{id}/attachments"),
        "盖章答复.pdf",
        &reply,
    )
    .await;
    assert_eq!(r.status, 303);
    let photo = png();
    let r = upload(
        &w.staff,
        &format!("{assignment}/attachments"),
        "../../现场.png",
        &photo,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("{assignment}#attachments"));
    let page = w.lead.get(&assignment).await;
    assert_eq!(page.texts("#attachments tbody td a"), ["现场.png"]);
    // A draft is not part of the file.
    let r = w
        .staff
        .post(&format!("/cases/{id}/documents"), &[("kind", "assignment")])
        .await;
    assert_eq!(r.status, 303);
    close(&w, id).await;

    let (status, headers, bytes) = w.owner.get_bytes(&format!("/cases/{id}/archive")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "application/zip");
    assert!(header(&headers, "content-disposition").starts_with("attachment; "));
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();

    let numbers: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, number FROM documents WHERE case_id = $1 AND status = 'issued' ORDER BY id",
    )
    .bind(id)
    .fetch_all(&w.fx.owner)
    .await
    .unwrap();
    assert!(!numbers.is_empty());
    let documents: Vec<&(String, Vec<u8>)> = files
        .iter()
        .filter(|(n, _)| n.starts_with("文书/"))
        .collect();
    assert_eq!(documents.len(), numbers.len(), "{names:?}");
    for ((_, number), (name, html)) in numbers.iter().zip(&documents) {
        let html = String::from_utf8(html.clone()).unwrap();
        assert!(
            name.contains(number.as_str()) && name.ends_with(".html"),
            "{name}"
        );
        assert!(
            html.contains(number.as_str()) && html.contains("official-doc"),
            "{html}"
        );
    }
    let attached: Vec<(&str, &Vec<u8>)> = files
        .iter()
        .filter(|(n, _)| n.starts_with("附件/"))
        .map(|(n, b)| (n.as_str(), b))
        .collect();
    assert_eq!(
        attached,
        [
            ("附件/01-盖章答复.pdf", &reply),
            ("附件/02-现场.png", &photo)
        ]
    );
    assert!(
        names.contains(&"index.html") && names.contains(&"style.css"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| !n.contains("..") && !n.starts_with('/'))
    );

    let index = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n == "index.html")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    let (code, query_code): (String, String) =
        sqlx::query_as("SELECT code, query_code FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    for text in [
        &code,
        &query_code,
        "交住建局限期修复",
        "交办",
        "签收",
        "审核通过",
        "附件/02-现场.png",
    ] {
        assert!(index.contains(text), "index.html lacks {text}");
    }
    for (_, number) in &numbers {
        assert!(index.contains(number.as_str()), "index.html lacks {number}");
    }
    assert!(
        !index.contains(&id_number("33072619800101123")),
        "the ID number masked"
    );
    assert!(
        index.contains("330***********"),
        "the ID number masked as on the case page"
    );

    assert_eq!(w.app.audit_count("case.archive").await, 1);
    let (status, _, _) = w.other.get_bytes(&format!("/cases/{id}/archive")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn attachments_read_the_same_after_the_keys_are_rotated() {
    use crate::keys::{app_with, load, scratch, xiafang};
    use xiafang::followup::assign::{NewCase, Source};
    use xiafang::followup::attachments::{self, Upload, rules::FileType};
    use xiafang::web::auth::Role;
    let dir = scratch("rotate-attachments");
    let path = dir.join("keys.json");
    xiafang::crypto::software::KeysFile::generate()
        .write(&path)
        .unwrap();
    let url = crate::harness::fresh_database().await;
    let app = app_with(&url, load(&path)).await;
    let (fx, _) = crate::fixtures::fixture(&app).await;
    let item: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by)
         VALUES ($1, '仙华街道', $2, '河道清淤', $3) RETURNING id",
    )
    .bind(fx.visit)
    .bind(fx.cat_build)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    app.user("zhuban", Role::Handler).await;
    app.user("baoan", Role::Leader).await;
    let (department, leader): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT department_id FROM users WHERE username = 'zhuban'),
                (SELECT leader_id FROM users WHERE username = 'baoan')",
    )
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let now = app.clock.now();
    let case = crate::fixtures::assign_case(
        &app,
        &NewCase {
            visit_id: fx.visit,
            source: Source::SurveyItem(item),
            title: "河道清淤",
            category_id: fx.cat_build,
            lead_department_id: department,
            co_department_ids: &[],
            owner_leader_id: leader,
            deadline_days: 60,
        },
        fx.staff_id,
        now,
    )
    .await;
    let actor = xiafang::audit::Actor {
        id: Some(fx.staff_id),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    // More files than one batch of the large column, one of them the largest allowed.
    let mut largest = pdf("最大");
    largest.resize(MAX_BYTES, b'x');
    let mut files = vec![largest];
    files.extend((0..5).map(|i| pdf(&format!("第{i}份"))));
    let mut ids = Vec::new();
    for (i, bytes) in files.iter().enumerate() {
        let name = format!("材料{i}.pdf");
        let upload = Upload {
            case_id: case.id,
            document_id: None,
            name: &name,
            file_type: FileType::Pdf,
            bytes,
        };
        let mut tx = app.db.begin().await.unwrap();
        ids.push(
            attachments::add(&mut tx, &app.state.keys, &upload, &actor, now)
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }

    let out = xiafang(
        &url,
        &crate::harness::app_url(&url).await,
        &path,
        &["keys", "rotate"],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && said.contains("attachments.content: 6 行")
            && said.contains("attachments.name: 6 行"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = load(&path);
    for (i, (id, bytes)) in ids.iter().zip(&files).enumerate() {
        let f = attachments::open(&app.db, &rotated, case.id, *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((f.name, &f.bytes), (format!("材料{i}.pdf"), bytes));
    }
    let key_ids: Vec<(i16, i16)> =
        sqlx::query_as("SELECT name_key_id, content_key_id FROM attachments ORDER BY id")
            .fetch_all(&fx.owner)
            .await
            .unwrap();
    assert!(key_ids.iter().all(|k| *k == (2, 2)), "{key_ids:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
