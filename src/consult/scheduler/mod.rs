//! 排接: the scheduler as a pure function (no I/O) and its quality report; `pujiang` makes the seeded
//! instances the tests and the benchmark run on (`cargo run --release --bin bench-schedule`).
//!
//! Algorithm: list scheduling. Windows are taken in time order; inside a window the locked
//! assignments are placed first, then the others by priority (带案下访 and group representatives
//! first), then fewest competent rooms first (the most constrained batches get their rooms while
//! they are free), then larger batches, then id. Each goes to the competent room whose next free time
//! is earliest (ties: fewest assigned, then room id). A registration whose earliest start falls at or
//! after its window's end did not fit: it is still queued (the leaders stay on) and listed as late so
//! staff can move it by hand; nobody is silently dropped.

mod pujiang;
pub use pujiang::{PUJIANG_CATEGORIES, pujiang_instance};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[derive(Debug, Clone)]
pub struct Room {
    pub id: i64,
    /// Category ids the room is competent for: its own categories plus those whose default
    /// departments sit in it, resolved by the caller.
    pub categories: BTreeSet<i64>,
}

#[derive(Debug, Clone)]
pub struct Window {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i32,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub id: i64,
    pub category_id: i64,
    /// None: registered without a window (phone, desk); queued after all windows.
    pub window_id: Option<i64>,
    /// 1, or 2 for a batch of more than 5 persons.
    pub slots: i32,
    /// 带案下访 (survey item brought by a leader) or a group's representatives.
    pub priority: bool,
}

/// A staff decision the automatic run keeps exactly.
#[derive(Debug, Clone)]
pub struct Locked {
    pub registration_id: i64,
    pub room_id: i64,
    pub queue_number: i32,
}

#[derive(Debug, Clone)]
pub struct Input {
    pub rooms: Vec<Room>,
    pub windows: Vec<Window>,
    pub slot_minutes: i64,
    pub registrations: Vec<Registration>,
    pub locked: Vec<Locked>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub registration_id: i64,
    pub room_id: i64,
    pub queue_number: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub locked: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub assignments: Vec<Assignment>,
    /// No room is competent for the registration's category.
    pub unmatched: Vec<i64>,
    /// Assigned, but no competent room was free before the window's end: starts after it.
    pub late: Vec<i64>,
}

struct RoomState {
    free_at: i64,
    assigned: usize,
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).expect("timestamp in range")
}

/// A placed batch: (room index, start, end (epoch seconds), registration id, locked queue number).
type Placement = (usize, i64, i64, i64, Option<i32>);

pub fn schedule(input: &Input) -> Schedule {
    let slot = input.slot_minutes * 60;
    let regs: HashMap<i64, &Registration> = input.registrations.iter().map(|r| (r.id, r)).collect();
    let windows: HashMap<i64, &Window> = input.windows.iter().map(|w| (w.id, w)).collect();
    let room_index: HashMap<i64, usize> = input
        .rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id, i))
        .collect();
    // Competent rooms per category, computed once.
    let mut competent: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, room) in input.rooms.iter().enumerate() {
        for c in &room.categories {
            competent.entry(*c).or_default().push(i);
        }
    }
    let locked: HashMap<i64, &Locked> = input
        .locked
        .iter()
        .filter(|l| regs.contains_key(&l.registration_id) && room_index.contains_key(&l.room_id))
        .map(|l| (l.registration_id, l))
        .collect();
    let day_start = input
        .windows
        .iter()
        .map(|w| secs(w.starts_at))
        .min()
        .unwrap_or(0);

    let mut out = Schedule::default();
    // Group by window start (windows in time order; windowless registrations last).
    let mut groups: BTreeMap<(i64, i64), Vec<&Registration>> = BTreeMap::new();
    for r in &input.registrations {
        let key = match r.window_id.and_then(|w| windows.get(&w)) {
            Some(w) => (secs(w.starts_at), w.id),
            None => (i64::MAX, 0),
        };
        groups.entry(key).or_default().push(r);
    }
    let mut rooms: Vec<RoomState> = input
        .rooms
        .iter()
        .map(|_| RoomState {
            free_at: day_start,
            assigned: 0,
        })
        .collect();
    // (room index, start, end, registration id, locked queue number)
    let mut placed: Vec<(usize, i64, i64, i64, Option<i32>)> =
        Vec::with_capacity(input.registrations.len());

    for ((wstart, wid), mut group) in groups {
        let window = windows.get(&wid).copied().filter(|_| wstart != i64::MAX);
        let (ws, we) = window
            .map(|w| (secs(w.starts_at), secs(w.ends_at)))
            .unwrap_or((day_start, i64::MAX));
        let n_competent = |r: &Registration| competent.get(&r.category_id).map_or(0, Vec::len);
        group.sort_by_key(|r| {
            let lock = locked.get(&r.id).map(|l| (l.room_id, l.queue_number));
            (
                lock.is_none(),
                lock,
                !r.priority,
                n_competent(r),
                -r.slots,
                r.id,
            )
        });
        for r in group {
            let dur = slot * i64::from(r.slots.clamp(1, 2));
            if let Some(l) = locked.get(&r.id) {
                let i = room_index[&l.room_id];
                let start = rooms[i].free_at.max(ws);
                rooms[i].free_at = start + dur;
                rooms[i].assigned += 1;
                placed.push((i, start, start + dur, r.id, Some(l.queue_number)));
                continue;
            }
            let Some(cands) = competent.get(&r.category_id).filter(|c| !c.is_empty()) else {
                out.unmatched.push(r.id);
                continue;
            };
            let best = *cands
                .iter()
                .min_by_key(|&&i| {
                    (
                        rooms[i].free_at.max(ws),
                        rooms[i].assigned,
                        input.rooms[i].id,
                    )
                })
                .expect("non-empty");
            let start = rooms[best].free_at.max(ws);
            if start >= we {
                out.late.push(r.id);
            }
            rooms[best].free_at = start + dur;
            rooms[best].assigned += 1;
            placed.push((best, start, start + dur, r.id, None));
        }
    }

    // Queue numbers per room: locked ones keep theirs; the others take the smallest unused numbers
    // in time order.
    placed.sort_by_key(|p| (p.0, p.1, p.3));
    let mut by_room: BTreeMap<usize, Vec<Placement>> = BTreeMap::new();
    for p in placed {
        by_room.entry(p.0).or_default().push(p);
    }
    for (i, list) in by_room {
        let taken: BTreeSet<i32> = list.iter().filter_map(|p| p.4).collect();
        let mut next = 1;
        for (_, start, end, reg, lock) in list {
            let queue_number = match lock {
                Some(q) => q,
                None => {
                    while taken.contains(&next) {
                        next += 1;
                    }
                    next += 1;
                    next - 1
                }
            };
            out.assignments.push(Assignment {
                registration_id: reg,
                room_id: input.rooms[i].id,
                queue_number,
                starts_at: at(start),
                ends_at: at(end),
                locked: lock.is_some(),
            });
        }
    }
    out.unmatched.sort_unstable();
    out.late.sort_unstable();
    out
}

#[derive(Debug, Clone)]
pub struct Quality {
    pub registrations: usize,
    /// Assigned to a room competent for their category.
    pub matched: usize,
    /// Expected end per room (None: nobody assigned), in the input's room order.
    pub room_ends: Vec<(i64, Option<DateTime<Utc>>)>,
    pub day_start: Option<DateTime<Utc>>,
    pub lower_bound: Option<DateTime<Utc>>,
    pub makespan: Option<DateTime<Utc>>,
    pub longest_wait_minutes: i64,
}

impl Quality {
    pub fn matched_share(&self) -> f64 {
        if self.registrations == 0 {
            1.0
        } else {
            self.matched as f64 / self.registrations as f64
        }
    }

    /// (makespan − day start) / (lower bound − day start); 1.0 is optimal.
    pub fn ratio(&self) -> Option<f64> {
        let (s, m, b) = (self.day_start?, self.makespan?, self.lower_bound?);
        let bound = (b - s).num_seconds();
        (bound > 0).then(|| (m - s).num_seconds() as f64 / bound as f64)
    }
}

/// The quality of a schedule. The lower bound is the one of DESIGN §4 (per set of rooms competent
/// for the same categories: day start + its service minutes / its rooms), strengthened by windows:
/// work chosen for window w or later cannot start before w starts, so for each set S and window w
/// the bound is w.start + (service of S's registrations in windows ≥ w) / |S|. w = the first window
/// gives the plain bound; the maximum over all (S, w) is still a valid lower bound.
pub fn quality(input: &Input, s: &Schedule) -> Quality {
    let slot = input.slot_minutes * 60;
    let regs: HashMap<i64, &Registration> = input.registrations.iter().map(|r| (r.id, r)).collect();
    let windows: HashMap<i64, &Window> = input.windows.iter().map(|w| (w.id, w)).collect();
    let rooms: HashMap<i64, &Room> = input.rooms.iter().map(|r| (r.id, r)).collect();
    let day_start = input.windows.iter().map(|w| secs(w.starts_at)).min();

    let matched = s
        .assignments
        .iter()
        .filter(|a| {
            let cat = regs.get(&a.registration_id).map(|r| r.category_id);
            rooms
                .get(&a.room_id)
                .is_some_and(|room| cat.is_some_and(|c| room.categories.contains(&c)))
        })
        .count();
    let mut ends: HashMap<i64, i64> = HashMap::new();
    for a in &s.assignments {
        let e = ends.entry(a.room_id).or_insert(i64::MIN);
        *e = (*e).max(secs(a.ends_at));
    }
    let room_ends = input
        .rooms
        .iter()
        .map(|r| (r.id, ends.get(&r.id).map(|&e| at(e))))
        .collect();
    let makespan = ends.values().max().map(|&e| at(e));
    let longest_wait = s
        .assignments
        .iter()
        .filter_map(|a| {
            let w = windows.get(&regs.get(&a.registration_id)?.window_id?)?;
            Some((a.starts_at - w.starts_at).num_minutes())
        })
        .max()
        .unwrap_or(0)
        .max(0);

    // Service seconds per (competent room set, window start).
    let mut sets: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &input.rooms {
        for c in &r.categories {
            sets.entry(*c).or_default().push(r.id);
        }
    }
    let mut work: HashMap<&Vec<i64>, BTreeMap<i64, i64>> = HashMap::new();
    for r in &input.registrations {
        let Some(set) = sets.get(&r.category_id) else {
            continue;
        };
        let start = r
            .window_id
            .and_then(|w| windows.get(&w))
            .map(|w| secs(w.starts_at))
            .or(day_start)
            .unwrap_or(0);
        *work.entry(set).or_default().entry(start).or_insert(0) +=
            slot * i64::from(r.slots.clamp(1, 2));
    }
    let mut bound: Option<i64> = None;
    for (set, per_start) in &work {
        let mut suffix = 0;
        for (start, w) in per_start.iter().rev() {
            suffix += w;
            let b = start + suffix / set.len() as i64;
            bound = Some(bound.map_or(b, |x| x.max(b)));
        }
    }
    Quality {
        registrations: input.registrations.len(),
        matched,
        room_ends,
        day_start: day_start.map(at),
        lower_bound: bound.map(at),
        makespan,
        longest_wait_minutes: longest_wait,
    }
}

/// The room a batch joins at once (a walk-in, or checking in a batch never scheduled): among the
/// rooms competent for its category, the one with the fewest batches waiting; ties go to the
/// rooms' order. None when no room is competent.
pub fn best_room(rooms: &[Room], category_id: i64, waiting: &HashMap<i64, usize>) -> Option<i64> {
    rooms
        .iter()
        .filter(|r| r.categories.contains(&category_id))
        .min_by_key(|r| waiting.get(&r.id).copied().unwrap_or(0))
        .map(|r| r.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_room_is_the_competent_one_with_the_shortest_queue() {
        let room = |id, cats: &[i64]| Room {
            id,
            categories: cats.iter().copied().collect(),
        };
        let rooms = [room(1, &[7]), room(2, &[7, 8]), room(3, &[8])];
        let waiting: HashMap<i64, usize> = [(1, 3), (2, 1), (3, 0)].into();
        assert_eq!(
            best_room(&rooms, 7, &waiting),
            Some(2),
            "room 3 is emptier but not competent"
        );
        assert_eq!(best_room(&rooms, 8, &waiting), Some(3));
        assert_eq!(best_room(&rooms, 9, &waiting), None);
        assert_eq!(
            best_room(&rooms, 7, &HashMap::new()),
            Some(1),
            "a tie goes to the rooms' order"
        );
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        crate::clock::china_instant(
            NaiveDate::from_ymd_opt(2026, 5, 20).unwrap(),
            NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        )
    }

    fn room(id: i64, cats: &[i64]) -> Room {
        Room {
            id,
            categories: cats.iter().copied().collect(),
        }
    }

    fn reg(id: i64, cat: i64, window: i64, slots: i32, priority: bool) -> Registration {
        Registration {
            id,
            category_id: cat,
            window_id: Some(window),
            slots,
            priority,
        }
    }

    fn two_windows() -> Vec<Window> {
        vec![
            Window {
                id: 1,
                starts_at: t(9, 0),
                ends_at: t(10, 0),
                capacity: 8,
            },
            Window {
                id: 2,
                starts_at: t(10, 0),
                ends_at: t(11, 0),
                capacity: 8,
            },
        ]
    }

    fn find(s: &Schedule, reg: i64) -> &Assignment {
        s.assignments
            .iter()
            .find(|a| a.registration_id == reg)
            .unwrap()
    }

    #[test]
    fn balances_rooms_and_numbers_queues_in_time_order() {
        let input = Input {
            rooms: vec![room(10, &[1]), room(11, &[1])],
            windows: two_windows(),
            slot_minutes: 15,
            registrations: (1..=4).map(|i| reg(i, 1, 1, 1, false)).collect(),
            locked: vec![],
        };
        let s = schedule(&input);
        assert_eq!(s.assignments.len(), 4);
        for r in [10, 11] {
            let mut q: Vec<_> = s.assignments.iter().filter(|a| a.room_id == r).collect();
            assert_eq!(q.len(), 2);
            q.sort_by_key(|a| a.queue_number);
            assert_eq!((q[0].queue_number, q[1].queue_number), (1, 2));
            assert_eq!((q[0].starts_at, q[1].starts_at), (t(9, 0), t(9, 15)));
        }
    }

    #[test]
    fn priority_first_and_big_batches_take_two_slots() {
        let input = Input {
            rooms: vec![room(10, &[1])],
            windows: two_windows(),
            slot_minutes: 15,
            registrations: vec![
                reg(1, 1, 1, 1, false),
                reg(2, 1, 1, 2, true),
                reg(3, 1, 1, 1, false),
            ],
            locked: vec![],
        };
        let s = schedule(&input);
        assert_eq!(find(&s, 2).starts_at, t(9, 0));
        assert_eq!(find(&s, 2).ends_at, t(9, 30));
        assert_eq!(find(&s, 2).queue_number, 1);
        assert_eq!(find(&s, 1).starts_at, t(9, 30));
        assert_eq!(find(&s, 3).starts_at, t(9, 45));
    }

    #[test]
    fn lists_unmatched_and_late() {
        let input = Input {
            rooms: vec![room(10, &[1])],
            windows: two_windows(),
            slot_minutes: 30,
            registrations: vec![
                reg(1, 1, 1, 1, false),
                reg(2, 1, 1, 1, false),
                reg(3, 1, 1, 1, false),
                reg(4, 2, 2, 1, false),
                Registration {
                    id: 5,
                    category_id: 1,
                    window_id: None,
                    slots: 1,
                    priority: false,
                },
            ],
            locked: vec![],
        };
        let s = schedule(&input);
        assert_eq!(s.unmatched, vec![4]);
        assert_eq!(s.late, vec![3]);
        assert_eq!(find(&s, 3).starts_at, t(10, 0));
        // Without a window: queued after everything else, never dropped.
        assert_eq!(find(&s, 5).starts_at, t(10, 30));
        assert_eq!(s.assignments.len(), 4);
    }

    #[test]
    fn windows_start_no_earlier_than_their_window() {
        let input = Input {
            rooms: vec![room(10, &[1])],
            windows: two_windows(),
            slot_minutes: 15,
            registrations: vec![reg(1, 1, 2, 1, false), reg(2, 1, 1, 1, false)],
            locked: vec![],
        };
        let s = schedule(&input);
        assert_eq!(find(&s, 2).starts_at, t(9, 0));
        assert_eq!(find(&s, 1).starts_at, t(10, 0));
        let q = quality(&input, &s);
        assert_eq!(q.longest_wait_minutes, 0);
        assert_eq!(q.makespan, Some(t(10, 15)));
        assert_eq!(q.lower_bound, Some(t(10, 15)));
        assert_eq!(q.ratio(), Some(1.0));
    }

    #[test]
    fn locked_assignments_are_kept_even_in_an_incompetent_room() {
        let input = Input {
            rooms: vec![room(10, &[1]), room(11, &[2])],
            windows: two_windows(),
            slot_minutes: 15,
            registrations: vec![
                reg(1, 1, 1, 1, false),
                reg(2, 1, 1, 1, false),
                reg(3, 1, 1, 1, true),
            ],
            locked: vec![Locked {
                registration_id: 2,
                room_id: 11,
                queue_number: 7,
            }],
        };
        let s = schedule(&input);
        let a = find(&s, 2);
        assert_eq!((a.room_id, a.queue_number, a.locked), (11, 7, true));
        assert_eq!(find(&s, 3).queue_number, 1);
        assert_eq!(find(&s, 1).queue_number, 2);
        let q = quality(&input, &s);
        assert_eq!(q.matched, 2);
        assert!((q.matched_share() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn lower_bound_uses_the_busiest_set() {
        // Set {10}: 4 slots of 15 min; set {11, 12}: 4 slots over two rooms.
        let mut regs: Vec<_> = (1..=4).map(|i| reg(i, 1, 1, 1, false)).collect();
        regs.extend((5..=8).map(|i| reg(i, 2, 1, 1, false)));
        let input = Input {
            rooms: vec![room(10, &[1]), room(11, &[2]), room(12, &[2])],
            windows: two_windows(),
            slot_minutes: 15,
            registrations: regs,
            locked: vec![],
        };
        let s = schedule(&input);
        let q = quality(&input, &s);
        assert_eq!(q.lower_bound, Some(t(10, 0)));
        assert_eq!(q.makespan, Some(t(10, 0)));
        assert_eq!(q.room_ends[1].1, Some(t(9, 30)));
    }

    /// A random instance: random competence (some categories uncovered), windows, sizes, locks.
    fn random_instance(rng: &mut StdRng) -> Input {
        let n_rooms = rng.random_range(1..8);
        let n_cats = rng.random_range(1..6);
        let rooms: Vec<Room> = (0..n_rooms)
            .map(|i| {
                let cats = (1..=n_cats).filter(|_| rng.random_bool(0.4)).collect();
                Room {
                    id: 100 + i,
                    categories: cats,
                }
            })
            .collect();
        let slot_minutes = [10, 15, 20, 30][rng.random_range(0..4)];
        let n_windows = rng.random_range(1..5);
        let windows: Vec<Window> = (0..n_windows)
            .map(|i| Window {
                id: 50 + i,
                starts_at: t(8 + i as u32, 0),
                ends_at: t(9 + i as u32, 0),
                capacity: rng.random_range(0..20),
            })
            .collect();
        let n_regs = rng.random_range(0..60);
        let registrations: Vec<Registration> = (0..n_regs)
            .map(|i| Registration {
                id: i + 1,
                category_id: rng.random_range(1..=n_cats),
                window_id: if rng.random_bool(0.05) {
                    None
                } else {
                    Some(50 + rng.random_range(0..n_windows))
                },
                slots: if rng.random_bool(0.1) { 2 } else { 1 },
                priority: rng.random_bool(0.1),
            })
            .collect();
        let mut locked = Vec::new();
        for r in &registrations {
            if r.window_id.is_some() && rng.random_bool(0.1) {
                locked.push(Locked {
                    registration_id: r.id,
                    room_id: 100 + rng.random_range(0..n_rooms),
                    queue_number: 100 + locked.len() as i32,
                });
            }
        }
        Input {
            rooms,
            windows,
            slot_minutes,
            registrations,
            locked,
        }
    }

    fn check_properties(input: &Input, s: &Schedule) {
        let windows: HashMap<i64, &Window> = input.windows.iter().map(|w| (w.id, w)).collect();
        let rooms: HashMap<i64, &Room> = input.rooms.iter().map(|r| (r.id, r)).collect();
        let locked: HashMap<i64, &Locked> = input
            .locked
            .iter()
            .map(|l| (l.registration_id, l))
            .collect();
        // Every registration exactly once: assigned or unmatched; late ones are assigned.
        let mut seen: Vec<i64> = s.assignments.iter().map(|a| a.registration_id).collect();
        seen.extend(&s.unmatched);
        seen.sort_unstable();
        let mut all: Vec<i64> = input.registrations.iter().map(|r| r.id).collect();
        all.sort_unstable();
        assert_eq!(seen, all);
        for r in &input.registrations {
            let a = s.assignments.iter().find(|a| a.registration_id == r.id);
            if let Some(l) = locked.get(&r.id) {
                let a = a.expect("locked assignment kept");
                assert_eq!(
                    (a.room_id, a.queue_number, a.locked),
                    (l.room_id, l.queue_number, true)
                );
                continue;
            }
            let competent = input
                .rooms
                .iter()
                .any(|room| room.categories.contains(&r.category_id));
            match a {
                Some(a) => {
                    assert!(
                        rooms[&a.room_id].categories.contains(&r.category_id),
                        "competent room"
                    );
                    if let Some(w) = r.window_id.map(|w| windows[&w]) {
                        assert!(a.starts_at >= w.starts_at, "not before its window");
                        assert_eq!(
                            a.starts_at >= w.ends_at,
                            s.late.contains(&r.id),
                            "inside its window unless late"
                        );
                    }
                    assert_eq!(
                        (a.ends_at - a.starts_at).num_minutes(),
                        input.slot_minutes * i64::from(r.slots)
                    );
                    assert!(!a.locked);
                }
                None => assert!(
                    !competent && s.unmatched.contains(&r.id),
                    "unassigned only when no room is competent"
                ),
            }
        }
        // No room double-booked; queue numbers unique per room, unlocked ones increasing with time.
        for room in &input.rooms {
            let mut q: Vec<_> = s
                .assignments
                .iter()
                .filter(|a| a.room_id == room.id)
                .collect();
            q.sort_by_key(|a| a.starts_at);
            for pair in q.windows(2) {
                assert!(
                    pair[0].ends_at <= pair[1].starts_at,
                    "room {} double-booked",
                    room.id
                );
            }
            let mut numbers: Vec<_> = q.iter().map(|a| a.queue_number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), q.len(), "queue numbers unique");
            let free: Vec<_> = q
                .iter()
                .filter(|a| !a.locked)
                .map(|a| a.queue_number)
                .collect();
            assert!(
                free.windows(2).all(|p| p[0] < p[1]),
                "queue increases with time"
            );
        }
    }

    #[test]
    fn random_instances_keep_the_properties() {
        let mut rng = StdRng::seed_from_u64(20030918);
        for _ in 0..2000 {
            let input = random_instance(&mut rng);
            let s = schedule(&input);
            check_properties(&input, &s);
            let q = quality(&input, &s);
            if let (Some(m), Some(b)) = (q.makespan, q.lower_bound)
                && s.unmatched.is_empty()
                && input.locked.is_empty()
            {
                assert!(m >= b, "the bound is a lower bound");
            }
        }
    }

    /// All rooms competent, one-slot batches within capacity (slots per window ≤ rooms × window
    /// length / slot): everything fits and ends by its window's end, so by the day's end.
    #[test]
    fn within_capacity_everything_fits_the_day() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let n_rooms = rng.random_range(1..6);
            let rooms: Vec<Room> = (0..n_rooms).map(|i| room(i + 1, &[1, 2])).collect();
            let windows = two_windows();
            let per_window = n_rooms as usize * 4;
            let mut regs = Vec::new();
            for w in [1, 2] {
                for _ in 0..rng.random_range(0..=per_window) {
                    let id = regs.len() as i64 + 1;
                    regs.push(reg(id, rng.random_range(1..=2), w, 1, rng.random_bool(0.2)));
                }
            }
            let input = Input {
                rooms,
                windows,
                slot_minutes: 15,
                registrations: regs,
                locked: vec![],
            };
            let s = schedule(&input);
            check_properties(&input, &s);
            assert!(s.late.is_empty() && s.unmatched.is_empty());
            assert!(s.assignments.iter().all(|a| a.ends_at <= t(11, 0)));
        }
    }

    #[test]
    fn pujiang_instance_follows_its_distribution() {
        let one = pujiang_instance(1, 1);
        assert_eq!(
            (one.rooms.len(), one.windows.len(), one.registrations.len()),
            (14, 9, 429)
        );
        let twenty = pujiang_instance(20, 1);
        assert_eq!(
            (twenty.rooms.len(), twenty.registrations.len()),
            (280, 8580)
        );
        let share = |cat| {
            twenty
                .registrations
                .iter()
                .filter(|r| r.category_id == cat)
                .count() as f64
                / 8580.0
        };
        assert!((share(1) - 0.25).abs() < 0.02 && (share(2) - 0.20).abs() < 0.02);
        let two = twenty.registrations.iter().filter(|r| r.slots == 2).count() as f64 / 8580.0;
        assert!((two - 0.05).abs() < 0.01);
        // Deterministic for a seed.
        let again = pujiang_instance(1, 1);
        assert!(
            one.registrations
                .iter()
                .zip(&again.registrations)
                .all(|(a, b)| a.category_id == b.category_id)
        );
        let s = schedule(&one);
        check_properties(&one, &s);
        assert!(s.unmatched.is_empty());
    }
}
