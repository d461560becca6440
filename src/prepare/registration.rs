//! 来访登记, the rules: codes, the open period, the form and its one validation for every channel
//! (the public form, staff on a citizen's behalf, walk-ins, the API). Pure; booking is in
//! `prepare::booking`.

use crate::clock::china_minute;
use crate::privacy;
use crate::web::form::{Errors, text};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use rand::seq::IndexedRandom;
use serde::Deserialize;
// ---- pure rules ----------------------------------------------------------------------------

/// No look-alikes (0/O, 1/I/L): codes are read out over the phone and typed by hand.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 31^10 ≈ 8×10^14 codes: not guessable, never sequential.
pub const CODE_LEN: usize = 10;

pub fn new_code(rng: &mut impl rand::Rng) -> String {
    (0..CODE_LEN)
        .map(|_| *CODE_ALPHABET.choose(rng).unwrap() as char)
        .collect()
}

/// What people type as a code: spaces dropped, upper-cased.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// A batch of more than 5 persons takes two slots.
pub fn slots_for(persons: i32) -> i16 {
    if persons > 5 { 2 } else { 1 }
}

#[derive(Debug, PartialEq)]
pub enum Closed {
    /// No published first notice yet (or the visit is still a draft).
    NotYet,
    Over,
    Cancelled,
}

/// Registration is open from the first notice's publication until the close time, while announced.
pub fn open_period(
    status: &str,
    first_notice_at: Option<DateTime<Utc>>,
    closes: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Closed> {
    match status {
        "cancelled" => return Err(Closed::Cancelled),
        "draft" => return Err(Closed::NotYet),
        "announced" => {}
        _ => return Err(Closed::Over),
    }
    match first_notice_at {
        Some(t) if t <= now => {}
        _ => return Err(Closed::NotYet),
    }
    if now >= closes {
        Err(Closed::Over)
    } else {
        Ok(())
    }
}

/// 代表姓名: one per line, or separated by 、 ， or ,.
pub fn parse_representatives(s: &str) -> Vec<String> {
    s.split(['\n', '\r', '、', '，', ','].as_ref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The window chosen: `123` books, `123:waitlist` (or the 加入候补 button) joins its waiting list
/// when it is full.
pub fn parse_window_choice(window_id: &str, join_waitlist: &str) -> Option<(i64, bool)> {
    if let Ok(id) = join_waitlist.trim().parse() {
        return Some((id, true));
    }
    let v = window_id.trim();
    match v.strip_suffix(":waitlist") {
        Some(id) => id.parse().ok().map(|id| (id, true)),
        None => v.parse().ok().map(|id| (id, false)),
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RegistrationForm {
    pub form_token: String,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub address: String,
    pub township: String,
    pub persons: String,
    pub representatives: String,
    pub category_id: String,
    pub grievance: String,
    pub window_id: String,
    pub join_waitlist: String,
    /// Public form: 我已阅读并同意《个人信息处理告知》.
    pub consent: String,
    /// Staff form: 已告知个人信息处理规则.
    pub informed: String,
    /// Walk-in: the room staff chose when no room is competent for the category.
    pub room_id: String,
    /// Public form: the SMS code that verifies the phone.
    pub code: String,
    /// Public form: `send_code` (the 获取验证码 button) asks for a code instead of submitting.
    pub action: String,
}

/// A form that passed validation, normalised.
#[derive(Debug)]
pub struct Valid {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub address: String,
    pub township: String,
    pub persons: i32,
    pub representatives: Vec<String>,
    pub category_id: i64,
    pub grievance: String,
    /// None for a walk-in: it is queued in a room at once, not booked in a window.
    pub window_id: Option<i64>,
    pub waitlist: bool,
    /// Walk-in: the room staff picked (checked against the visit's rooms when placing).
    pub room_id: Option<i64>,
}

/// A phone number as typed, spaces and dashes dropped.
pub fn normalize_phone(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// The phone field's error, if the (normalised) number is not a mobile number.
pub fn phone_error(phone: &str) -> Option<&'static str> {
    if phone.is_empty() {
        Some("请填写手机号码")
    } else if !privacy::valid_phone(phone) {
        Some("手机号码应为 11 位数字，以 13–19 开头")
    } else {
        None
    }
}

/// Check every field (lengths as the DB CHECKs in 0002), with Chinese messages beside each.
/// `categories` and `windows` are the ids the form offered. A walk-in needs no window, and its
/// phone is optional (the batch is at the desk; the schema allows it for staff channels).
pub fn validate(
    f: &RegistrationForm,
    channel: Channel,
    categories: &[i64],
    windows: &[i64],
    errors: &mut Errors,
) -> Option<Valid> {
    let walk_in = channel == Channel::WalkIn;
    let name = text(errors, "name", "姓名", &f.name, 1, 50);
    let id_number = privacy::normalize_id_number(&f.id_number);
    if id_number.is_empty() {
        errors.add("id_number", "请填写身份证号");
    } else if !privacy::valid_id_number(&id_number) {
        errors.add(
            "id_number",
            "身份证号不正确，请核对（18 位，最后一位可能是 X）",
        );
    }
    let phone = normalize_phone(&f.phone);
    // A walk-in may come without a phone.
    if let Some(e) = phone_error(&phone).filter(|_| !(walk_in && phone.is_empty())) {
        errors.add("phone", e);
    }
    let address = text(errors, "address", "现住址", &f.address, 1, 200);
    let township = text(errors, "township", "所属乡镇", &f.township, 1, 30);
    let persons = match f.persons.trim().parse::<i32>() {
        Ok(n) if (1..=200).contains(&n) => n,
        _ => {
            errors.add("persons", "来访人数应为 1–200 之间的整数");
            0
        }
    };
    let mut representatives = Vec::new();
    if persons > 5 {
        representatives = parse_representatives(&f.representatives);
        if representatives.is_empty() {
            errors.add(
                "representatives",
                "来访人数超过 5 人的，请推选代表并填写代表姓名（1–5 名）",
            );
        } else if representatives.len() > 5 {
            errors.add("representatives", "代表不超过 5 人");
        } else if representatives.iter().any(|n| n.chars().count() > 50) {
            errors.add("representatives", "每位代表姓名不超过 50 个字");
        }
    }
    let category_id = f
        .category_id
        .trim()
        .parse()
        .ok()
        .filter(|id| categories.contains(id));
    if category_id.is_none() {
        errors.add("category_id", "请选择问题类别");
    }
    let grievance = text(errors, "grievance", "诉求内容", &f.grievance, 1, 2000);
    let window =
        parse_window_choice(&f.window_id, &f.join_waitlist).filter(|(id, _)| windows.contains(id));
    if window.is_none() && !walk_in {
        errors.add("window_id", "请选择接访时段");
    }
    if channel != Channel::Online {
        if f.informed.trim().is_empty() {
            errors.add("informed", "请确认已向来访人告知个人信息处理规则");
        }
    } else if f.consent.trim().is_empty() {
        errors.add("consent", "请阅读并同意《个人信息处理告知》后再提交");
    }
    let (window_id, waitlist) = match window {
        Some((id, wait)) => (Some(id), wait),
        None => (None, false),
    };
    if !errors.is_empty() {
        return None;
    }
    Some(Valid {
        name,
        id_number,
        phone,
        address,
        township,
        persons,
        representatives,
        category_id: category_id?,
        grievance,
        window_id,
        waitlist,
        room_id: if walk_in {
            f.room_id.trim().parse().ok()
        } else {
            None
        },
    })
}

// ---- the visit a form is for ---------------------------------------------------------------

#[derive(Clone)]
pub struct VisitInfo {
    pub id: i64,
    pub title: String,
    pub date: NaiveDate,
    pub hours: String,
    pub venue: String,
    pub address: String,
    pub status: String,
    pub first_notice_at: Option<DateTime<Utc>>,
    pub closes_at: DateTime<Utc>,
}

impl VisitInfo {
    pub fn date_label(&self) -> String {
        crate::clock::cn_date(self.date)
    }
    pub fn closes_label(&self) -> String {
        crate::clock::cn_minute(self.closes_at)
    }

    /// Why registration is closed now, with the dates, or None when it is open.
    pub fn closed_message(&self, now: DateTime<Utc>) -> Option<String> {
        let close = self.closes_label();
        let when = format!("接访日期：{} {}。", self.date_label(), self.hours);
        match open_period(&self.status, self.first_notice_at, self.closes_at, now).err()? {
            Closed::Cancelled => Some(format!("本次接访活动已取消，不再接受登记。{when}")),
            Closed::NotYet => Some(match self.first_notice_at {
                Some(t) => format!(
                    "登记尚未开始：登记时间为 {} 至 {close}。{when}",
                    china_minute(t)
                ),
                None => format!(
                    "本次接访尚未发布公告，登记尚未开始；公告发布后即可登记，截止时间为 {close}。{when}"
                ),
            }),
            Closed::Over => Some(format!(
                "本次接访登记已于 {close} 截止{}。{when}接访当天可到现场登记。",
                self.first_notice_at
                    .map(|t| format!("（登记时间：{} 至 {close}）", china_minute(t)))
                    .unwrap_or_default()
            )),
        }
    }
}

pub fn window_label(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> String {
    format!(
        "{}—{}",
        starts_at.with_timezone(&Shanghai).format("%H:%M"),
        ends_at.with_timezone(&Shanghai).format("%H:%M")
    )
}

/// Which kind of form: the citizen's own, staff on a citizen's behalf (phone channel), or a
/// walk-in registered at the check-in desk on the day (现场登记).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Channel {
    Online,
    Phone,
    WalkIn,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Phone => "phone",
            Channel::WalkIn => "walk_in",
        }
    }
    pub fn action(self, visit_id: i64) -> String {
        match self {
            Channel::Online => format!("/visits/{visit_id}/register"),
            Channel::Phone => format!("/staff/visits/{visit_id}/registrations/new"),
            Channel::WalkIn => format!("/staff/visits/{visit_id}/walkin"),
        }
    }

    /// Why this channel cannot register now. Walk-ins come on the day, after the close, so only
    /// a cancelled visit refuses them.
    pub fn closed(self, visit: &VisitInfo, now: DateTime<Utc>) -> Option<String> {
        match self {
            Channel::WalkIn if visit.status == "cancelled" => {
                Some("本次接访活动已取消，不再接受登记。".into())
            }
            Channel::WalkIn => None,
            _ => visit.closed_message(now),
        }
    }
}

/// A stored channel in words (triage, the desk).
pub fn channel_label(channel: &str) -> &'static str {
    match channel {
        "online" => "网上登记",
        "phone" => "电话登记",
        "survey" => "访前调查",
        "walk_in" => "现场登记",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn codes_are_long_random_and_unambiguous() {
        let mut rng = rand::rng();
        let a = new_code(&mut rng);
        assert_eq!(a.len(), CODE_LEN);
        const { assert!(CODE_LEN >= 8) };
        assert!(a.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        for c in ["0", "O", "1", "I", "L"] {
            assert!(
                !std::str::from_utf8(CODE_ALPHABET).unwrap().contains(c),
                "{c} is a look-alike"
            );
        }
        let many: std::collections::HashSet<String> =
            (0..1000).map(|_| new_code(&mut rng)).collect();
        assert_eq!(many.len(), 1000);
        assert_eq!(normalize_code(" abcd efgh "), "ABCDEFGH");
    }

    #[test]
    fn open_from_the_first_notice_until_the_close() {
        let close = at("2026-12-02T09:00:00Z");
        let notice = Some(at("2026-11-20T02:00:00Z"));
        assert_eq!(
            open_period("announced", notice, close, at("2026-11-25T00:00:00Z")),
            Ok(())
        );
        assert_eq!(
            open_period("announced", notice, close, at("2026-12-02T09:00:00Z")),
            Err(Closed::Over)
        );
        assert_eq!(
            open_period("announced", notice, close, at("2026-11-20T01:59:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period("announced", None, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period("draft", notice, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period(
                "closed_for_registration",
                notice,
                close,
                at("2026-11-25T00:00:00Z")
            ),
            Err(Closed::Over)
        );
        assert_eq!(
            open_period("cancelled", notice, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::Cancelled)
        );
    }

    #[test]
    fn representatives_split_on_lines_and_chinese_commas() {
        assert_eq!(
            parse_representatives("张三、李四，王五,赵六\n钱七\r\n\n"),
            ["张三", "李四", "王五", "赵六", "钱七"]
        );
        assert!(parse_representatives(" 、 ").is_empty());
    }

    #[test]
    fn window_choices() {
        assert_eq!(parse_window_choice("12", ""), Some((12, false)));
        assert_eq!(parse_window_choice("12:waitlist", ""), Some((12, true)));
        assert_eq!(
            parse_window_choice("12", "13"),
            Some((13, true)),
            "the 加入候补 button wins"
        );
        assert_eq!(parse_window_choice("x", ""), None);
        assert_eq!(slots_for(5), 1);
        assert_eq!(slots_for(6), 2);
    }

    fn good() -> RegistrationForm {
        RegistrationForm {
            name: "张三".into(),
            id_number: " 11010519491231002x ".into(),
            phone: "138 1234 5678".into(),
            address: "仙华街道人民路 1 号".into(),
            township: "仙华街道".into(),
            persons: "1".into(),
            category_id: "4".into(),
            grievance: "道路破损".into(),
            window_id: "9".into(),
            consent: "1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_form_is_normalised() {
        let mut e = Errors::default();
        let v = validate(&good(), Channel::Online, &[4], &[9], &mut e).expect("valid");
        assert_eq!(v.id_number, "11010519491231002X");
        assert_eq!(v.phone, "13812345678");
        assert!(v.representatives.is_empty());
    }

    #[test]
    fn each_field_has_its_message() {
        let f = RegistrationForm {
            id_number: "110105194912310021".into(),
            phone: "12812345678".into(),
            persons: "8".into(),
            consent: String::new(),
            window_id: "10".into(),
            ..good()
        };
        let mut e = Errors::default();
        assert!(validate(&f, Channel::Online, &[4], &[9], &mut e).is_none());
        assert!(e.get("id_number").contains("身份证号不正确"));
        assert!(e.get("phone").contains("11 位"));
        assert!(e.get("representatives").contains("代表"));
        assert_eq!(
            e.get("window_id"),
            "请选择接访时段",
            "a window of another visit"
        );
        assert!(e.get("consent").contains("个人信息处理告知"));
        assert_eq!(e.get("name"), "");

        let mut e = Errors::default();
        let six = RegistrationForm {
            persons: "8".into(),
            representatives: "甲、乙、丙、丁、戊、己".into(),
            ..good()
        };
        assert!(validate(&six, Channel::Online, &[4], &[9], &mut e).is_none());
        assert_eq!(e.get("representatives"), "代表不超过 5 人");
        for persons in ["0", "201", "abc", ""] {
            let mut e = Errors::default();
            validate(
                &RegistrationForm {
                    persons: persons.into(),
                    ..good()
                },
                Channel::Online,
                &[4],
                &[9],
                &mut e,
            );
            assert_eq!(
                e.get("persons"),
                "来访人数应为 1–200 之间的整数",
                "{persons}"
            );
        }
        let mut e = Errors::default();
        let staff = RegistrationForm {
            consent: String::new(),
            ..good()
        };
        assert!(validate(&staff, Channel::Phone, &[4], &[9], &mut e).is_none());
        assert!(e.get("informed").contains("告知"));
        assert_eq!(
            e.get("consent"),
            "",
            "staff confirm 已告知 instead of the citizen's consent"
        );
    }

    #[test]
    fn a_walk_in_needs_no_window_and_may_come_without_a_phone() {
        let walk_in = RegistrationForm {
            phone: String::new(),
            window_id: String::new(),
            consent: String::new(),
            informed: "1".into(),
            room_id: "5".into(),
            ..good()
        };
        let mut e = Errors::default();
        let v = validate(&walk_in, Channel::WalkIn, &[4], &[], &mut e).expect("valid");
        assert_eq!(
            (v.window_id, v.phone.as_str(), v.room_id),
            (None, "", Some(5))
        );
        let mut e = Errors::default();
        assert!(
            validate(
                &RegistrationForm {
                    phone: "123".into(),
                    ..walk_in
                },
                Channel::WalkIn,
                &[4],
                &[],
                &mut e
            )
            .is_none()
        );
        assert!(
            e.get("phone").contains("11 位"),
            "a phone given is still checked"
        );
        let mut e = Errors::default();
        let phone = RegistrationForm {
            phone: String::new(),
            window_id: String::new(),
            informed: "1".into(),
            ..good()
        };
        assert!(validate(&phone, Channel::Phone, &[4], &[9], &mut e).is_none());
        assert_eq!(
            (e.get("phone"), e.get("window_id")),
            ("请填写手机号码", "请选择接访时段")
        );
    }
}
