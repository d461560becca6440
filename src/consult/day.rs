//! The day's counts (DESIGN §4 "the day"), by room and in total: a pure function of the grouped
//! rows that `consult::pages::day` loads.

use crate::prepare::lifecycle::RegistrationStatus as Status;

/// Registrations of one room (None: not in a room) and status.
pub struct RegRow {
    pub room_id: Option<i64>,
    pub status: String,
    pub batches: i64,
    pub persons: i64,
}

/// Issues recorded in one room's receptions, by outcome.
pub struct IssueRow {
    pub room_id: i64,
    pub outcome: String,
    pub count: i64,
}

#[derive(Default, Debug, PartialEq, Clone)]
pub struct Counts {
    pub registered: i64,
    pub checked_in: i64,
    pub waiting: i64,
    pub received: i64,
    pub received_persons: i64,
    pub resolved_on_spot: i64,
    pub assigned: i64,
    pub no_show: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.registered += o.registered;
        self.checked_in += o.checked_in;
        self.waiting += o.waiting;
        self.received += o.received;
        self.received_persons += o.received_persons;
        self.resolved_on_spot += o.resolved_on_spot;
        self.assigned += o.assigned;
        self.no_show += o.no_show;
    }
}

#[derive(Debug, PartialEq)]
pub struct Line {
    pub room: String,
    pub counts: Counts,
}

/// Statuses that count as registered: everything still in the day's pipeline (not cancelled,
/// rejected or only on a waiting list).
const REGISTERED: [Status; 7] = [
    Status::Submitted,
    Status::Confirmed,
    Status::Scheduled,
    Status::CheckedIn,
    Status::Called,
    Status::Received,
    Status::NoShow,
];

/// One line per room in the rooms' order, a 未分配接待室 line when some registrations have no
/// room yet, and the total.
pub fn tally(rooms: &[(i64, String)], regs: &[RegRow], issues: &[IssueRow]) -> (Vec<Line>, Counts) {
    let mut lines: Vec<Line> = rooms
        .iter()
        .map(|(_, name)| Line {
            room: name.clone(),
            counts: Counts::default(),
        })
        .collect();
    let mut unassigned = Counts::default();
    let index = |room: Option<i64>| room.and_then(|r| rooms.iter().position(|(id, _)| *id == r));
    for r in regs {
        let c = match index(r.room_id) {
            Some(i) => &mut lines[i].counts,
            None => &mut unassigned,
        };
        let Some(s) = Status::parse(&r.status) else {
            continue;
        };
        if REGISTERED.contains(&s) {
            c.registered += r.batches;
        }
        match s {
            Status::CheckedIn => {
                c.checked_in += r.batches;
                c.waiting += r.batches;
            }
            Status::Called => c.checked_in += r.batches,
            Status::Received => {
                c.checked_in += r.batches;
                c.received += r.batches;
                c.received_persons += r.persons;
            }
            Status::NoShow => c.no_show += r.batches,
            _ => {}
        }
    }
    for i in issues {
        let Some(idx) = index(Some(i.room_id)) else {
            continue;
        };
        match i.outcome.as_str() {
            "resolved_on_spot" => lines[idx].counts.resolved_on_spot += i.count,
            "assigned" => lines[idx].counts.assigned += i.count,
            _ => {}
        }
    }
    if unassigned != Counts::default() {
        lines.push(Line {
            room: "未分配接待室".into(),
            counts: unassigned,
        });
    }
    let mut total = Counts::default();
    for l in &lines {
        total.add(&l.counts);
    }
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(room_id: Option<i64>, status: &str, batches: i64, persons: i64) -> RegRow {
        RegRow {
            room_id,
            status: status.into(),
            batches,
            persons,
        }
    }

    #[test]
    fn counts_by_room_and_in_total() {
        let rooms = [(1, "第一接待室".to_owned()), (2, "第二接待室".to_owned())];
        let regs = [
            reg(Some(1), "scheduled", 4, 5),
            reg(Some(1), "checked_in", 2, 2),
            reg(Some(1), "called", 1, 1),
            reg(Some(1), "received", 3, 9),
            reg(Some(2), "received", 1, 7),
            reg(Some(2), "no_show", 1, 1),
            reg(None, "submitted", 2, 2),
            reg(None, "cancelled", 5, 5),
            reg(None, "rejected", 1, 1),
        ];
        let issues = [
            IssueRow {
                room_id: 1,
                outcome: "resolved_on_spot".into(),
                count: 2,
            },
            IssueRow {
                room_id: 2,
                outcome: "assigned".into(),
                count: 3,
            },
            IssueRow {
                room_id: 99,
                outcome: "assigned".into(),
                count: 9,
            },
        ];
        let (lines, total) = tally(&rooms, &regs, &issues);
        assert_eq!(lines.len(), 3);
        let one = &lines[0].counts;
        assert_eq!(
            (
                one.registered,
                one.checked_in,
                one.waiting,
                one.received,
                one.received_persons
            ),
            (10, 6, 2, 3, 9)
        );
        assert_eq!((one.resolved_on_spot, one.assigned), (2, 0));
        let two = &lines[1].counts;
        assert_eq!(
            (
                two.registered,
                two.received,
                two.received_persons,
                two.no_show,
                two.assigned
            ),
            (2, 1, 7, 1, 3)
        );
        assert_eq!(lines[2].room, "未分配接待室");
        assert_eq!(
            lines[2].counts.registered, 2,
            "cancelled and rejected are not registered"
        );
        assert_eq!(
            total,
            Counts {
                registered: 14,
                checked_in: 7,
                waiting: 2,
                received: 4,
                received_persons: 16,
                resolved_on_spot: 2,
                assigned: 3,
                no_show: 1
            }
        );
    }

    #[test]
    fn no_unassigned_line_when_every_batch_has_a_room() {
        let rooms = [(1, "第一接待室".to_owned())];
        let (lines, total) = tally(&rooms, &[reg(Some(1), "checked_in", 1, 1)], &[]);
        assert_eq!(lines.len(), 1);
        assert_eq!(total.waiting, 1);
    }
}
