//! The configurable numbers of DESIGN §4, plain values that `Config` holds and the stages'
//! rules and domain modules take: notice lead times, case deadlines, the 三率 weights, visit
//! cadence, the lists.

/// Lead times of the two notices (DESIGN §4), from configuration.
#[derive(Clone, Copy, Debug)]
pub struct NoticeDays {
    pub first: u64,
    pub second: u64,
}

impl Default for NoticeDays {
    fn default() -> Self {
        Self {
            first: 10,
            second: 3,
        }
    }
}

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

/// The 三率 weights (percent, summing to 100) and the satisfaction bar below which a row is highlighted.
#[derive(Clone, Debug)]
pub struct Weights {
    pub response: u32,
    pub resolution: u32,
    pub satisfaction: u32,
    pub highlight_below_pct: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            response: 30,
            resolution: 35,
            satisfaction: 35,
            highlight_below_pct: 85.0,
        }
    }
}

/// Months between visits per leader level (configuration, DESIGN §11). Township leaders go down at
/// any time: their visits are counted, they are never behind.
#[derive(Clone, Debug)]
pub struct Cadence {
    pub province_months: u32,
    pub city_months: u32,
    pub county_months: u32,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            province_months: 6,
            city_months: 3,
            county_months: 1,
        }
    }
}

impl Cadence {
    pub fn months(&self, level: &str) -> Option<u32> {
        match level {
            "province" => Some(self.province_months),
            "city" => Some(self.city_months),
            "county" => Some(self.county_months),
            _ => None,
        }
    }
}

/// The numbers behind the lists (configuration).
#[derive(Clone, Debug)]
pub struct ListRules {
    /// A batch of more persons than this is a group visit (群体访).
    pub group_persons_over: i32,
    /// This many registrations with the same ID number make a repeat petitioner (重复访).
    pub repeat_registrations: i64,
    /// Struck-off items stay listed this many days after closing.
    pub struck_days: i64,
    /// Rows fetched per list at most.
    pub limit: i64,
}

impl Default for ListRules {
    fn default() -> Self {
        Self {
            group_persons_over: 5,
            repeat_registrations: 2,
            struck_days: 30,
            limit: 1000,
        }
    }
}

/// Phone verification before an online registration counts (issue 14): the code's life and
/// tries, and the limits on sending codes (each answered 429 with Retry-After when reached).
#[derive(Clone, Copy, Debug)]
pub struct PhoneCodes {
    pub ttl: chrono::Duration,
    /// Wrong tries a code survives; the next try needs a new code.
    pub max_wrong_tries: u32,
    /// At most one code per phone in this interval.
    pub interval: chrono::Duration,
    /// Codes per phone and (China) calendar day.
    pub per_phone_per_day: u32,
    /// Codes per client IP and hour: high, as many citizens share one mobile carrier address.
    pub per_ip_per_hour: u32,
    /// Codes per hour from the whole deployment: a ceiling on what an SMS-pumping script costs.
    pub per_hour: u32,
}

impl Default for PhoneCodes {
    fn default() -> Self {
        Self {
            ttl: chrono::Duration::minutes(5),
            max_wrong_tries: 5,
            interval: chrono::Duration::minutes(1),
            per_phone_per_day: 5,
            per_ip_per_hour: 60,
            per_hour: 3000,
        }
    }
}
