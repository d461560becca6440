//! `xiafang demo --pujiang`: the 2003 Pujiang day at full size, today — 14 rooms, 15 departments,
//! about 100 leaders, 429 registrations scheduled into nine hourly windows. With the walk-ins of
//! the day (`WALK_IN_PERSONS`) it makes 436 batches and 667 persons, as on 18 September 2003; the
//! replay test receives every batch through the real routes and resolves `RESOLVED_ON_SPOT` (91)
//! issues on the spot.
//!
//! Distribution (deterministic): persons per registration 263 × 1, 130 × 2, 30 × 3 and six groups
//! of 6–9 with three representatives each (656 persons); windows 08:00–17:00 with 52, 50, 50, 48, 40, 48, 48,
//! 47, 46 registrations; categories cycle through the subject areas, weighted toward 城乡建设,
//! 征地拆迁 and 农业农村 as in a rural county.

use crate::audit::Actor;
use crate::clock::{Clock, china_date, china_instant};
use crate::privacy::{self, Column, Field, Keys};
use chrono::{Duration, NaiveTime};
use sqlx::PgPool;

pub const REGISTRATIONS: usize = 429;
pub const ROOMS: usize = 14;
/// Persons of each walk-in batch registered at the desk on the day.
pub const WALK_IN_PERSONS: [i32; 7] = [1, 1, 2, 1, 3, 1, 2];
pub const BATCHES: usize = 436;
pub const PERSONS: i32 = 667;
pub const RESOLVED_ON_SPOT: usize = 91;
/// Registrations per hourly window, 08:00 to 17:00.
const PER_WINDOW: [usize; 9] = [52, 50, 50, 48, 40, 48, 48, 47, 46];
const GROUPS: [i32; 6] = [6, 7, 8, 6, 9, 7];
/// Subject areas in the order registrations cycle through them (more weight, more entries).
const AREAS: [&str; 12] = [
    "城乡建设",
    "征地拆迁",
    "农业农村",
    "劳动社保",
    "城乡建设",
    "征地拆迁",
    "生态环境",
    "教育医疗",
    "农业农村",
    "其他",
    "涉法涉诉",
    "劳动社保",
];

/// Persons of each registration: 263 × 1, 130 × 2, 30 × 3 and the six groups, spread through the
/// day by a fixed permutation (k ↦ 7919·k mod 429; 7919 is prime to 429).
pub fn persons_plan() -> Vec<i32> {
    let sizes: Vec<i32> = [(1, 263), (2, 130), (3, 30)]
        .iter()
        .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
        .chain(GROUPS)
        .collect();
    let mut plan = vec![0; REGISTRATIONS];
    for (k, p) in sizes.into_iter().enumerate() {
        plan[k * 7919 % REGISTRATIONS] = p;
    }
    plan
}

/// The issue outcome the replay records for batch `i` of the day: 91 resolved on the spot, spread
/// evenly; the rest mostly assigned (交办), some explained or sent to the legal channel.
pub fn outcome(i: usize) -> &'static str {
    if i * RESOLVED_ON_SPOT / BATCHES != (i + 1) * RESOLVED_ON_SPOT / BATCHES {
        return "resolved_on_spot";
    }
    match i % 5 {
        0 => "explained",
        1 => "legal_channel",
        _ => "assigned",
    }
}

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤";
const GIVEN: [&str; 32] = [
    "建国", "志强", "慧敏", "国平", "振华", "立军", "小华", "海燕", "立新", "晓梅", "伟", "芳",
    "秀兰", "敏", "静", "丽华", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "霞", "平", "刚", "桂英",
];

fn name(i: usize) -> String {
    let surnames: Vec<char> = SURNAMES.chars().collect();
    format!(
        "{}{}",
        surnames[(i * 7) % surnames.len()],
        GIVEN[(i * 11 + i / surnames.len()) % GIVEN.len()]
    )
}

fn id_number(i: usize) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let first17 = format!(
        "330726{:04}{:02}{:02}{:03}",
        1940 + i % 60,
        1 + i % 12,
        1 + i % 28,
        i % 1000
    );
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Each room: the subject areas it receives and the departments seated in it (15 departments,
/// 14 rooms), sized so that every area has rooms in proportion to its share of the day.
const ROOM_PLAN: [(&[&str], &[&str]); ROOMS] = [
    (&["其他", "城乡建设"], &["县信访局", "县民政局"]),
    (&["城乡建设"], &["县住房和城乡建设局"]),
    (&["城乡建设", "征地拆迁"], &["县交通运输局"]),
    (&["征地拆迁"], &["县自然资源和规划局"]),
    (&["征地拆迁"], &["县财政局"]),
    (&["农业农村"], &["县农业农村局"]),
    (&["农业农村"], &["县水务局"]),
    (&["农业农村", "生态环境"], &["县生态环境分局"]),
    (&["劳动社保"], &["县人力资源和社会保障局"]),
    (&["劳动社保"], &["县市场监督管理局"]),
    (&["劳动社保", "教育医疗"], &["县卫生健康局"]),
    (&["教育医疗"], &["县教育局"]),
    (&["涉法涉诉"], &["县司法局"]),
    (&["涉法涉诉", "其他"], &["县公安局"]),
];

const TITLES: [&str; 7] = [
    "县委常委、副县长",
    "县人大常委会副主任",
    "县政协副主席",
    "县委常委",
    "副县长",
    "县人民法院副院长",
    "县人民检察院副检察长",
];

/// Seed the day (after the demo county) and return the visit's id; a second run finds it.
pub async fn seed(db: &PgPool, clock: &dyn Clock, keys: &Keys) -> anyhow::Result<i64> {
    super::seed(db, clock, keys).await?;
    let now = clock.now();
    let today = china_date(now);
    let title = format!(
        "{}县领导下访接访日（浦江 2003 全规模演示）",
        today.format("%Y年%-m月%-d日")
    );
    let mut tx = db.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(7263003)")
        .execute(&mut *tx)
        .await?;
    if let Some(id) = sqlx::query_scalar!("SELECT id FROM visits WHERE title = $1", title)
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(id);
    }
    let county = sqlx::query_scalar!("SELECT id FROM jurisdictions WHERE code = '330799'")
        .fetch_one(&mut *tx)
        .await?;
    let staff = sqlx::query_scalar!("SELECT id FROM users WHERE username = 'xinfang'")
        .fetch_one(&mut *tx)
        .await?;
    let secretary =
        sqlx::query_scalar!("SELECT leader_id AS \"id!\" FROM users WHERE username = 'lingdao'")
            .fetch_one(&mut *tx)
            .await?;
    let departments = sqlx::query!(
        "SELECT name, short_name FROM departments WHERE jurisdiction_id = $1 ORDER BY id",
        county
    )
    .fetch_all(&mut *tx)
    .await?;

    let visit = sqlx::query_scalar!(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, address, area_served, scope, status, created_by, is_demo)
         VALUES ($1, $2, 'county', $3, $4, '浦阳县行政服务中心', '浦阳县仙华街道人民路 88 号', '全县各乡镇（街道）',
                 '全县群众反映的各类信访诉求；已进入诉讼、仲裁、行政复议程序的事项依法导入法定途径。', 'in_progress', $5, true) RETURNING id",
        county,
        title,
        secretary,
        today,
        staff
    )
    .fetch_one(&mut *tx)
    .await?;
    for (kind, days) in [("first", 12), ("second", 4)] {
        let at = now - Duration::days(days);
        sqlx::query!(
            "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
             VALUES ($1, $2, $3, $4, ARRAY['政府网站', '微信公众号', '村务公开栏'], $5, 'published', $6, $7, $7)",
            visit,
            kind,
            format!("关于{title}的公告"),
            "县委、县政府定于今日 8:00—17:00 在浦阳县行政服务中心开展县领导下访接访活动，十四个接待室同时接待群众来访。",
            china_date(at),
            at,
            staff
        )
        .execute(&mut *tx)
        .await?;
    }

    // 14 rooms as ROOM_PLAN says, each with seven leaders (98 in all, the county secretary in room 1).
    for (k, (areas, seated)) in ROOM_PLAN.iter().enumerate() {
        let room = sqlx::query_scalar!(
            "INSERT INTO rooms (visit_id, name, location, sort_order) VALUES ($1, $2, $3, $4) RETURNING id",
            visit,
            format!("第{}接待室", k + 1),
            format!("行政服务中心{}楼", 1 + k / 5),
            k as i32
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query!("INSERT INTO room_departments (room_id, department_id) SELECT $1, id FROM departments WHERE name = ANY($2) AND jurisdiction_id = $3", room, seated as &[&str], county)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "INSERT INTO room_categories (room_id, category_id) SELECT $1, id FROM categories WHERE parent_id IS NOT NULL AND name = ANY($2)",
            room,
            areas as &[&str]
        )
        .execute(&mut *tx)
        .await?;
        for j in 0..7 {
            let leader = if k == 0 && j == 0 {
                secretary
            } else {
                let short = departments
                    .iter()
                    .find(|d| d.name == seated[0])
                    .map_or(seated[0], |d| d.short_name.as_str());
                let (title, level) = if j == 0 {
                    (TITLES[k % TITLES.len()].to_string(), "county")
                } else {
                    (
                        format!(
                            "{short}{}",
                            ["局长", "副局长", "副局长", "科长", "科长", "科员"][j - 1]
                        ),
                        "county",
                    )
                };
                sqlx::query_scalar!(
                    "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ($1, $2, $3, '', $4) RETURNING id",
                    name(1000 + k * 7 + j),
                    title,
                    level,
                    county
                )
                .fetch_one(&mut *tx)
                .await?
            };
            sqlx::query!(
                "INSERT INTO room_leaders (room_id, leader_id) VALUES ($1, $2)",
                room,
                leader
            )
            .execute(&mut *tx)
            .await?;
        }
    }

    let categories = sqlx::query!("SELECT c.id, c.name FROM categories c JOIN categories p ON p.id = c.parent_id WHERE c.active AND p.active ORDER BY c.id")
        .fetch_all(&mut *tx)
        .await?;
    let plan = persons_plan();
    let mut i = 0;
    for (w, count) in PER_WINDOW.iter().enumerate() {
        let starts = china_instant(today, NaiveTime::from_hms_opt(8, 0, 0).unwrap())
            + Duration::hours(w as i64);
        let window = sqlx::query_scalar!(
            "INSERT INTO reception_windows (visit_id, starts_at, ends_at, capacity_slots) VALUES ($1, $2, $3, 56) RETURNING id",
            visit,
            starts,
            starts + Duration::hours(1)
        )
        .fetch_one(&mut *tx)
        .await?;
        for _ in 0..*count {
            let persons = plan[i];
            let area = AREAS[i % AREAS.len()];
            let matching: Vec<i64> = categories
                .iter()
                .filter(|c| c.name == area)
                .map(|c| c.id)
                .collect();
            let category = matching[i % matching.len()];
            let representatives: Vec<String> = if persons > 5 {
                (0..3).map(|r| name(i * 3 + r + 500)).collect()
            } else {
                vec![]
            };
            let id_number = id_number(i);
            let phone = format!("13{}{:08}", 5 + i % 5, 10_000_000 + i * 7919 % 89_999_999);
            let id = crate::prepare::booking::next_registration_id(&mut tx).await?;
            let id_sealed = keys.encrypt(Column::REGISTRATION_ID_NUMBER, id, &id_number)?;
            let phone_sealed = keys.encrypt(Column::REGISTRATION_PHONE, id, &phone)?;
            let channel = if i % 6 == 5 { "phone" } else { "online" };
            let slots = crate::prepare::registration::slots_for(persons);
            let full_name = name(i);
            let seal = |column, text: &str| keys.encrypt(column, id, text);
            let name_sealed = seal(Column::REGISTRATION_NAME, &full_name)?;
            let address = format!(
                "{}村{}组",
                ["新光", "前吴", "马岭", "嵩溪", "虞宅"][i % 5],
                1 + i % 9
            );
            let address_sealed = seal(Column::REGISTRATION_ADDRESS, &address)?;
            let reps_sealed = seal(
                Column::REGISTRATION_REPRESENTATIVES,
                &representatives.join("\n"),
            )?;
            let grievance = format!(
                "反映{area}方面的问题：{}",
                [
                    "村道路面破损，雨天积水严重。",
                    "征地补偿款尚未足额发放。",
                    "企业拖欠工资三个月。",
                    "灌溉水渠年久失修。",
                    "宅基地审批久拖未决。"
                ][i % 5]
            );
            let grievance_sealed = seal(Column::REGISTRATION_GRIEVANCE, &grievance)?;
            sqlx::query!(
                "INSERT INTO registrations (visit_id, code, channel, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                    phone_cipher, phone_key_id, phone_index, phone_mask, township, persons, category_id,
                    window_id, slots, status, consent_at, created_by, created_at, id,
                    name_cipher, name_key_id, name_index, name_mask, address_cipher, address_key_id,
                    representatives_cipher, representatives_key_id, representatives_count, grievance_cipher, grievance_key_id)
                 OVERRIDING SYSTEM VALUE
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'confirmed', $17, $18, $17, $19,
                         $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
                visit,
                crate::prepare::registration::new_code(&mut rand::rng()),
                channel,
                id_sealed.bytes,
                id_sealed.key_id,
                keys.blind_index(Field::IdNumber, &id_number),
                privacy::mask_id_number(&id_number),
                phone_sealed.bytes,
                phone_sealed.key_id,
                keys.blind_index(Field::Phone, &phone),
                privacy::mask_phone(&phone),
                ["仙华街道", "浦南街道", "黄宅镇", "郑宅镇", "杭坪镇"][i % 5],
                persons,
                category,
                window,
                slots,
                now - Duration::days(3),
                (channel == "phone").then_some(staff),
                id,
                name_sealed.bytes,
                name_sealed.key_id,
                keys.blind_index(Field::Name, &full_name),
                privacy::mask_name(&full_name),
                address_sealed.bytes,
                address_sealed.key_id,
                reps_sealed.bytes,
                reps_sealed.key_id,
                representatives.len() as i16,
                grievance_sealed.bytes,
                grievance_sealed.key_id,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE reception_windows SET booked_slots = booked_slots + $2 WHERE id = $1",
                window,
                i32::from(slots)
            )
            .execute(&mut *tx)
            .await?;
            i += 1;
        }
    }
    let actor = Actor {
        id: Some(staff),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let s = crate::consult::schedule_store::auto_schedule(&mut tx, visit, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("scheduling the Pujiang day: {e:?}"))?;
    anyhow::ensure!(
        s.unmatched.is_empty(),
        "every Pujiang registration has a competent room"
    );
    tx.commit().await?;
    tracing::info!(visit, "Pujiang day seeded");
    Ok(visit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_adds_up_to_436_batches_and_667_persons() {
        assert_eq!(PER_WINDOW.iter().sum::<usize>(), REGISTRATIONS);
        let plan = persons_plan();
        assert!(plan.iter().all(|p| *p > 0));
        let registered: i32 = plan.iter().sum();
        assert_eq!(REGISTRATIONS + WALK_IN_PERSONS.len(), BATCHES);
        assert_eq!(registered + WALK_IN_PERSONS.iter().sum::<i32>(), PERSONS);
        assert_eq!(plan.iter().filter(|p| **p > 5).count(), GROUPS.len());
        assert_eq!(
            (0..BATCHES)
                .filter(|i| outcome(*i) == "resolved_on_spot")
                .count(),
            RESOLVED_ON_SPOT
        );
    }

    #[test]
    fn windows_never_overbook() {
        let plan = persons_plan();
        let mut i = 0;
        for count in PER_WINDOW {
            let slots: i32 = plan[i..i + count]
                .iter()
                .map(|p| i32::from(crate::prepare::registration::slots_for(*p)))
                .sum();
            assert!(slots <= 56, "{slots} slots");
            i += count;
        }
    }

    #[test]
    fn generated_id_numbers_are_valid() {
        assert!((0..REGISTRATIONS).all(|i| privacy::valid_id_number(&id_number(i))));
    }
}
