//! A registration's name, address, representatives and grievance are stored encrypted (issue 13):
//! nothing of them in the rows, found by exact name, shown in full where one person is at hand
//! and masked in lists.

use crate::desk::{batch, day, desk};
use crate::harness::{TestApp, test_keys};

const NAME: &str = "欧阳标记";
// What the fixtures' booking (the app's own) writes for every registration.
const ADDRESS: &str = "人民路 1 号";
const GRIEVANCE: &str = "道路损坏多年未修";
const REPRESENTATIVE: &str = "代表甲";

async fn rows_as_text(db: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT string_agg(row_to_json(r)::text, ' ') FROM registrations r")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn names_addresses_and_grievances_are_sealed_found_by_exact_name_and_shown_in_full_at_the_desk()
 {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let o = &d.fx.owner;
    let reg = batch(
        &d,
        "MARK2222",
        NAME,
        "33072619800101123",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    batch(
        &d,
        "THER3333",
        "李四",
        "33072619751212456",
        d.room_a,
        2,
        "checked_in",
    )
    .await;
    // A group of more than 5: its representatives are sealed too.
    crate::fixtures::register(
        &d.fx,
        d.fx.visit,
        crate::fixtures::Reg {
            code: "GRUP4444",
            name: "王五",
            id: "33072619700101123",
            phone: "13812345679",
            township: "仙华街道",
            persons: 6,
            category: d.fx.cat_build,
            window: d.fx.windows[1],
            status: "confirmed",
        },
    )
    .await;

    let stored = rows_as_text(o).await;
    for marker in [
        NAME,
        "标记",
        ADDRESS,
        GRIEVANCE,
        REPRESENTATIVE,
        "李四",
        "王五",
    ] {
        assert!(!stored.contains(marker), "{marker} in clear: {stored}");
    }
    assert!(stored.contains("欧阳某某"), "the mask lists show is kept");

    // Triage: search by the exact name (trimmed) finds it and lists it masked.
    let search = |name: &str| {
        format!(
            "/staff/visits/{}/registrations?{}",
            d.fx.visit,
            serde_urlencoded::to_string([("q", name)]).unwrap()
        )
    };
    let list = d.staff.get(&search(&format!(" {NAME} "))).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("MARK2222"), "{}", list.body);
    assert!(!list.body.contains("THER3333") && !list.body.contains("GRUP4444"));
    assert!(list.body.contains("欧阳某某") && !list.body.contains(&format!(">{NAME}<")));
    let none = d.staff.get(&search("欧阳")).await;
    assert!(!none.body.contains("MARK2222"), "exact names only");
    let all = d.staff.get(&search("")).await;
    assert!(all.body.contains("李某某") && !all.body.contains("李四"));

    // The registration's own page shows it all in full.
    let detail = d
        .staff
        .get(&format!("/staff/visits/{}/registrations/{reg}", d.fx.visit))
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    for text in [NAME, ADDRESS, GRIEVANCE] {
        assert!(detail.body.contains(text), "{text}");
    }

    // The desk: called to the table, the dossier names the person in full.
    let path = desk(&d, d.room_a);
    let r = d.staff.post(&format!("{path}/call"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = d.staff.get(&path).await;
    let current = page.text("#current");
    for text in [NAME, ADDRESS, GRIEVANCE] {
        assert!(current.contains(text), "{text} in {current}");
    }
}

#[tokio::test]
async fn rows_written_before_encryption_are_read_and_then_sealed_by_the_conversion() {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let o = &d.fx.owner;
    let reg = batch(
        &d,
        "PAST2222",
        "赵六",
        "33072619800101123",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    // As migration 0027 leaves a row of before: plaintext, no ciphertext, no mask.
    sqlx::query(
        "UPDATE registrations SET name = '钱七', address = '老街 9 号', representatives = '{}', grievance = '旧的诉求',
                name_cipher = NULL, name_key_id = NULL, name_index = NULL, name_mask = NULL,
                address_cipher = NULL, address_key_id = NULL, representatives_cipher = NULL,
                representatives_key_id = NULL, grievance_cipher = NULL, grievance_key_id = NULL
         WHERE id = $1",
    )
    .bind(reg)
    .execute(o)
    .await
    .unwrap();
    let detail = format!("/staff/visits/{}/registrations/{reg}", d.fx.visit);
    let page = d.staff.get(&detail).await;
    assert!(page.body.contains("钱七") && page.body.contains("旧的诉求"));

    let sealed = xiafang::prepare::legacy_plaintext::encrypt(o, &test_keys(), 1)
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    let stored = rows_as_text(o).await;
    for marker in ["钱七", "老街 9 号", "旧的诉求"] {
        assert!(!stored.contains(marker), "{marker} in clear");
    }
    let page = d.staff.get(&detail).await;
    assert!(page.body.contains("钱七") && page.body.contains("老街 9 号"));
    let list = d
        .staff
        .get(&format!(
            "/staff/visits/{}/registrations?{}",
            d.fx.visit,
            serde_urlencoded::to_string([("q", "钱七")]).unwrap()
        ))
        .await;
    assert!(list.body.contains("PAST2222") && list.body.contains("钱某某"));
}
