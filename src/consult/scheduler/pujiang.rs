//! A seeded Pujiang-like instance of the scheduler's input, for the property tests and the
//! benchmark: the 2003 day at any scale, with its distribution written down.

use super::*;

/// Subject areas of the generator with their weights (percent), after Pujiang's 2003 day.
pub const PUJIANG_CATEGORIES: [(&str, u32); 8] = [
    ("城乡建设", 25),
    ("征地拆迁", 20),
    ("劳动社保", 15),
    ("农业农村", 15),
    ("生态环境", 8),
    ("教育医疗", 7),
    ("涉法涉诉", 4),
    ("其他", 6),
];

/// Room kinds per 14 rooms: (count, indexes into PUJIANG_CATEGORIES). The overlaps mirror default
/// departments shared between categories (住建局 for 城乡建设 and 征地拆迁, a 综合 room...).
const PUJIANG_ROOMS: [(usize, &[i64]); 7] = [
    (2, &[0]),
    (2, &[1]),
    (2, &[0, 1]),
    (2, &[2]),
    (2, &[3]),
    (3, &[4, 5, 6, 7]),
    (1, &[2, 3, 7]),
];

/// A seeded Pujiang-like instance. Distribution (scale 1 = the 2003 Pujiang day):
/// - categories 1..=8 weighted as [`PUJIANG_CATEGORIES`]: 城乡建设 25%, 征地拆迁 20%, 劳动社保 15%,
///   农业农村 15%, 生态环境 8%, 教育医疗 7%, 涉法涉诉 4%, 其他 6%;
/// - 14 × scale rooms, kinds as `PUJIANG_ROOMS` (each kind × scale), every category covered;
/// - windows hourly 08:00–17:00 (nine, Asia/Shanghai, 2003-09-18), 15-minute slots, capacity
///   4 slots per room per window;
/// - 429 × scale registrations; group sizes 85% 1–2 persons, 10% 3–5, 5% 6–30 (2 slots);
///   priority for groups of more than 5 (representatives) and 5% 带案下访;
/// - each registration picks a window uniformly at random; a full window passes it to the next
///   one with capacity (cyclically), as the registration form would offer.
pub fn pujiang_instance(scale: usize, seed: u64) -> Input {
    let mut rng = StdRng::seed_from_u64(seed);
    let scale = scale.max(1);
    let mut rooms = Vec::new();
    for (count, cats) in PUJIANG_ROOMS {
        for _ in 0..count * scale {
            let id = rooms.len() as i64 + 1;
            rooms.push(Room {
                id,
                categories: cats.iter().map(|c| c + 1).collect(),
            });
        }
    }
    let date = NaiveDate::from_ymd_opt(2003, 9, 18).expect("date");
    let capacity = (rooms.len() * 4) as i32;
    let windows: Vec<Window> = (8..17)
        .map(|h| Window {
            id: i64::from(h) - 7,
            starts_at: crate::clock::china_instant(
                date,
                NaiveTime::from_hms_opt(h, 0, 0).expect("time"),
            ),
            ends_at: crate::clock::china_instant(
                date,
                NaiveTime::from_hms_opt(h + 1, 0, 0).expect("time"),
            ),
            capacity,
        })
        .collect();
    let mut booked = vec![0; windows.len()];
    let mut registrations = Vec::new();
    for n in 0..429 * scale {
        let mut pick = rng.random_range(0..100u32);
        let mut category_id = 0;
        for (i, (_, w)) in PUJIANG_CATEGORIES.iter().enumerate() {
            if pick < *w {
                category_id = i as i64 + 1;
                break;
            }
            pick -= w;
        }
        let size = rng.random_range(0..100u32);
        let persons = if size < 85 {
            rng.random_range(1..=2)
        } else if size < 95 {
            rng.random_range(3..=5)
        } else {
            rng.random_range(6..=30)
        };
        let slots = if persons > 5 { 2 } else { 1 };
        let first = rng.random_range(0..windows.len());
        let Some(w) = (0..windows.len())
            .map(|k| (first + k) % windows.len())
            .find(|&w| booked[w] + slots <= capacity)
        else {
            break;
        };
        booked[w] += slots;
        let brought = rng.random_range(0..100u32) < 5;
        registrations.push(Registration {
            id: n as i64 + 1,
            category_id,
            window_id: Some(windows[w].id),
            slots,
            priority: brought || persons > 5,
        });
    }
    Input {
        rooms,
        windows,
        slot_minutes: 15,
        registrations,
        locked: Vec::new(),
    }
}
