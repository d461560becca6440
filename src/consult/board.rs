//! The public queue board (叫号屏): what each room's screen shows. It reaches every instance's
//! screens through `crate::live`: the desk calls `announce` in the transaction that calls a batch.

use crate::live::Snapshot;
pub use crate::live::announce;
use crate::prepare::lifecycle::RegistrationStatus as Status;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::PgPool;

// ---------------------------------------------------------------------------------------------
// The board, a pure function of the rooms and their queues
// ---------------------------------------------------------------------------------------------

pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub location: String,
}

/// A registration in a room's queue: status `checked_in` (waiting) or `called` (being received).
pub struct QueueRow {
    pub room_id: i64,
    pub status: String,
    pub queue_number: i32,
    pub name: String,
    pub called_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Receiving {
    pub number: i32,
    /// Surname and 某某 only: the board hangs in a public hall.
    pub name: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Tile {
    pub room: String,
    pub location: String,
    pub now: Option<Receiving>,
    /// The next three waiting queue numbers, in order.
    pub next: Vec<i32>,
    pub waiting: usize,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Board {
    /// Grows with every change of the visit's rooms or registrations (epoch milliseconds).
    pub version: i64,
    pub rooms: Vec<Tile>,
}

/// How many numbers 下一位 shows.
pub const NEXT_SHOWN: usize = 3;

pub use crate::privacy::mask_name;

/// One tile per room, in the rooms' order: the called batch (the latest call if several), the next
/// three waiting by queue number, and how many wait.
pub fn build(rooms: &[RoomRow], queue: &[QueueRow]) -> Vec<Tile> {
    rooms
        .iter()
        .map(|room| {
            let mine = queue.iter().filter(|q| q.room_id == room.id);
            let now = mine
                .clone()
                .filter(|q| Status::parse(&q.status) == Some(Status::Called))
                .max_by_key(|q| (q.called_at, q.queue_number))
                .map(|q| Receiving {
                    number: q.queue_number,
                    name: mask_name(&q.name),
                });
            let mut waiting: Vec<i32> = mine
                .filter(|q| Status::parse(&q.status) == Some(Status::CheckedIn))
                .map(|q| q.queue_number)
                .collect();
            waiting.sort_unstable();
            Tile {
                room: room.name.clone(),
                location: room.location.clone(),
                now,
                next: waiting.iter().take(NEXT_SHOWN).copied().collect(),
                waiting: waiting.len(),
            }
        })
        .collect()
}

/// Columns of the board's grid, so that up to 20 rooms fit one 1080p screen.
pub fn columns(rooms: usize) -> usize {
    match rooms {
        0..=1 => 1,
        2..=4 => 2,
        5..=6 => 3,
        7..=12 => 4,
        _ => 5,
    }
}

/// The current board of a visit.
pub async fn load(db: &PgPool, visit_id: i64) -> sqlx::Result<Board> {
    let rooms = sqlx::query_as!(
        RoomRow,
        "SELECT id, name, location FROM rooms WHERE visit_id = $1 ORDER BY sort_order, id",
        visit_id
    )
    .fetch_all(db)
    .await?;
    let queue = sqlx::query_as!(
        QueueRow,
        r#"SELECT room_id AS "room_id!", status, queue_number AS "queue_number!",
                  COALESCE(name_mask, name) AS "name!", called_at
           FROM registrations
           WHERE visit_id = $1 AND status IN ('checked_in', 'called') AND room_id IS NOT NULL AND queue_number IS NOT NULL"#,
        visit_id
    )
    .fetch_all(db)
    .await?;
    let version = sqlx::query_scalar!(
        r#"SELECT (extract(epoch FROM greatest(
                      (SELECT max(updated_at) FROM registrations WHERE visit_id = $1),
                      (SELECT max(updated_at) FROM rooms WHERE visit_id = $1),
                      'epoch'::timestamptz)) * 1000)::bigint AS "v!""#,
        visit_id
    )
    .fetch_one(db)
    .await?;
    Ok(Board {
        version,
        rooms: build(&rooms, &queue),
    })
}

/// The board as the live feed sends it (`crate::live`), serialised once for every client.
pub fn snapshot(db: PgPool, visit_id: i64) -> BoxFuture<'static, sqlx::Result<Snapshot>> {
    Box::pin(async move {
        let board = load(&db, visit_id).await?;
        Ok(Snapshot {
            version: board.version,
            key: serde_json::to_string(&board.rooms).expect("tiles serialise"),
            json: serde_json::to_string(&board).expect("board serialises"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn room(id: i64, name: &str) -> RoomRow {
        RoomRow {
            id,
            name: name.into(),
            location: String::new(),
        }
    }

    fn q(room_id: i64, status: &str, n: i32, name: &str, called_min: Option<u32>) -> QueueRow {
        QueueRow {
            room_id,
            status: status.into(),
            queue_number: n,
            name: name.into(),
            called_at: called_min.map(|m| Utc.with_ymd_and_hms(2026, 12, 12, 1, m, 0).unwrap()),
        }
    }

    #[test]
    fn each_room_shows_its_called_batch_the_next_three_and_the_waiting_count() {
        let rooms = [
            room(1, "第一接待室"),
            room(2, "第二接待室"),
            room(3, "第三接待室"),
        ];
        let queue = [
            q(1, "checked_in", 7, "赵六", None),
            q(1, "called", 3, "张三丰", Some(5)),
            q(1, "checked_in", 5, "钱七", None),
            q(1, "checked_in", 4, "孙八", None),
            q(1, "checked_in", 9, "周九", None),
            q(2, "checked_in", 2, "吴十", None),
        ];
        let tiles = build(&rooms, &queue);
        assert_eq!(tiles.len(), 3);
        assert_eq!(tiles[0].room, "第一接待室");
        assert_eq!(
            tiles[0].now,
            Some(Receiving {
                number: 3,
                name: "张某某".into()
            })
        );
        assert_eq!(tiles[0].next, vec![4, 5, 7]);
        assert_eq!(tiles[0].waiting, 4);
        assert_eq!(tiles[1].now, None);
        assert_eq!(tiles[1].next, vec![2]);
        assert_eq!(tiles[1].waiting, 1);
        assert_eq!(
            (tiles[2].now.clone(), tiles[2].next.len(), tiles[2].waiting),
            (None, 0, 0)
        );
    }

    #[test]
    fn the_latest_call_is_the_one_being_received() {
        let queue = [
            q(1, "called", 2, "张三", Some(1)),
            q(1, "called", 3, "李四", Some(9)),
        ];
        let tiles = build(&[room(1, "甲")], &queue);
        assert_eq!(
            tiles[0].now,
            Some(Receiving {
                number: 3,
                name: "李某某".into()
            })
        );
        assert_eq!(tiles[0].waiting, 0);
    }

    #[test]
    fn the_board_never_carries_a_full_name() {
        let tiles = build(&[room(1, "甲")], &[q(1, "called", 1, "张三丰", Some(1))]);
        let json = serde_json::to_string(&tiles).unwrap();
        assert!(json.contains("张某某") && !json.contains("三丰"), "{json}");
    }

    #[test]
    fn up_to_twenty_rooms_fit_in_four_rows() {
        assert_eq!(columns(1), 1);
        assert_eq!(columns(4), 2);
        assert_eq!(columns(6), 3);
        assert_eq!(columns(12), 4);
        assert_eq!(columns(14), 5);
        for n in 1..=20usize {
            assert!(n.div_ceil(columns(n)) <= 4, "{n} rooms");
        }
    }
}
