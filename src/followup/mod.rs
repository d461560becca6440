//! Stage 3, 访后限期办结: cases and their deadlines, the working-day calendar, supervision.

pub mod assign;
pub mod cadence;
pub mod cases;
pub mod feedback;
pub mod handover;
pub mod inbox;
pub mod jobs;
pub mod lists;
pub mod seed_scale;
pub mod state;
pub mod supervision;
pub mod workdays;

/// The numbers of DESIGN §4 for cases; units in the names (wd = working days, d = calendar days).
#[derive(Clone, Debug)]
pub struct CaseRules {
    /// 签收 or 退回 within this many working days of assignment.
    pub accept_wd: u32,
    /// The citizen is told of acceptance in writing within this many days of assignment.
    pub acceptance_notice_d: i64,
    /// Closure deadline from acceptance when the visit sets none shorter.
    pub deadline_d: i32,
    /// One extension at most, of at most this many days.
    pub max_extension_d: i32,
    /// Reminders this many days before the due date.
    pub reminder_d: [i64; 3],
    /// Still open this many working days after the first 催办 or 督办 → 通报 list.
    pub report_after_urge_wd: u32,
    /// 复查 may be asked within this many days of the reply; 复查 and 复核 are decided within as many.
    pub review_d: i64,
}

impl Default for CaseRules {
    fn default() -> Self {
        Self {
            accept_wd: 5,
            acceptance_notice_d: 15,
            deadline_d: 60,
            max_extension_d: 30,
            reminder_d: [7, 3, 1],
            report_after_urge_wd: 5,
            review_d: 30,
        }
    }
}
