//! Every message the product sends, as an SMS gateway knows it: a template of fixed text with
//! named variables of bounded length. Chinese gateways deliver only templates approved in
//! advance, under a registered signature, with short variables; so a message is queued as its
//! kind and variables, and its text is rendered here. A kind missing from this table or a
//! variable too long is a programming error the unit tests below catch, not a gateway's refusal.
//! The deployment's template ids and signature are configuration (`notify::gateway`).

use serde_json::{Map, Value};

/// Who receives a kind: citizens by SMS, staff in the log channel (no gateway template needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    Citizen,
    Staff,
}

/// A variable and the most characters a gateway is asked to accept for it.
#[derive(Clone, Copy, Debug)]
pub struct Var {
    pub name: &'static str,
    pub max: usize,
    /// Typed by staff (a title, a reason): cut to `max` with "…". Otherwise the value is bounded
    /// by construction (a code, a date) and a longer one is a bug.
    pub shortened: bool,
}

const fn exact(name: &'static str, max: usize) -> Var {
    Var {
        name,
        max,
        shortened: false,
    }
}

const fn text(name: &'static str, max: usize) -> Var {
    Var {
        name,
        max,
        shortened: true,
    }
}

#[derive(Debug)]
pub struct Template {
    pub kind: &'static str,
    pub to: To,
    /// The approved text; `{name}` stands for a variable.
    pub text: &'static str,
    pub vars: &'static [Var],
}

/// The longest variable common gateways accept (35 characters).
pub const VAR_MAX: usize = 35;

const CODE: Var = exact("code", 12);
const CASE_CODE: Var = exact("case_code", 12);
/// A case's 查询码 (`documents::rules::normalize_query_code`).
const QUERY_CODE: Var = exact("query_code", 12);
const TITLE: Var = text("title", 20);
/// "2026年12月24日 09:00—10:00"
const WINDOW: Var = exact("window", 24);
const ROOM: Var = text("room", 12);
const QUEUE_NUMBER: Var = exact("queue_number", 4);
/// "2026年12月24日"
const DATE: Var = exact("date", 11);

pub const TEMPLATES: &[Template] = &[
    Template {
        kind: "phone.code",
        to: To::Citizen,
        text: "您的来访登记验证码为 {code}，{minutes} 分钟内有效，请勿告诉他人。",
        vars: &[exact("code", 6), exact("minutes", 2)],
    },
    Template {
        kind: "registration.submitted",
        to: To::Citizen,
        text: "您已登记{title}，登记编号 {code}，接访时段 {window}。请携带身份证原件和相关材料按时到场。",
        vars: &[TITLE, CODE, WINDOW],
    },
    Template {
        kind: "registration.waitlisted",
        to: To::Citizen,
        text: "您已登记{title}，登记编号 {code}，已加入 {window} 时段候补；有名额时将通知您。",
        vars: &[TITLE, CODE, WINDOW],
    },
    Template {
        kind: "registration.walk_in",
        to: To::Citizen,
        text: "您已在{title}现场登记，登记编号 {code}，{room}，排号{queue_number}。请留意叫号。",
        vars: &[TITLE, CODE, ROOM, QUEUE_NUMBER],
    },
    Template {
        kind: "registration.promoted",
        to: To::Citizen,
        text: "您在{title}的候补登记（编号 {code}）已有名额，接访时段 {window}。请携带身份证原件和相关材料按时到场。",
        vars: &[TITLE, CODE, WINDOW],
    },
    Template {
        kind: "registration.rejected",
        to: To::Citizen,
        text: "您的来访登记（登记编号 {code}）未能安排接访。原因：{reason}",
        vars: &[CODE, text("reason", VAR_MAX)],
    },
    Template {
        kind: "registration.scheduled",
        to: To::Citizen,
        text: "{title}（登记编号 {code}）：您已安排在{room}，排号{queue_number}，预计接谈时间{expected_at}。请携带身份证原件提前到场签到。",
        // "12月24日 09:45"
        vars: &[TITLE, CODE, ROOM, QUEUE_NUMBER, exact("expected_at", 12)],
    },
    Template {
        kind: "case.query_code",
        to: To::Citizen,
        text: "您反映的问题已交办责任单位办理（交办件 {case_code}）。查询码 {query_code}，请妥善保存：凭查询码和手机号码后四位，可在信访局网上“登记查询”中查看办理进展和书面文书。",
        vars: &[CASE_CODE, QUERY_CODE],
    },
    Template {
        kind: "case.closed",
        to: To::Citizen,
        text: "您反映的问题（交办件 {case_code}）已办结。请凭登记编号和手机号码后四位查看答复意见并评价。",
        vars: &[CASE_CODE],
    },
    Template {
        kind: "document.issued",
        to: To::Citizen,
        text: "您的{title}（{number}）已出具。请凭查询码 {query_code} 和手机号码后四位在“登记查询”中查看全文。",
        vars: &[text("title", 12), text("number", 30), QUERY_CODE],
    },
    Template {
        kind: "visit.cancelled",
        to: To::Citizen,
        text: "您登记的“{title}”（原定{date}）已取消：{reason}。有关诉求可到{county}信访局或所在乡镇（街道）信访办反映。",
        vars: &[TITLE, DATE, text("reason", VAR_MAX), text("county", 12)],
    },
    Template {
        kind: "visit.corrected",
        to: To::Citizen,
        text: "您登记的“{title}”有变更：{changes}。请按更正后的时间、地点到场。",
        vars: &[TITLE, text("changes", VAR_MAX)],
    },
    Template {
        kind: "duty.leader_changed",
        to: To::Citizen,
        text: "您登记的{date}值守接访改由{leader}接待，时间、地点不变。",
        vars: &[DATE, text("leader", 20)],
    },
    Template {
        kind: "case.reminder",
        to: To::Staff,
        text: "交办件 {case_code}「{title}」距办结时限（{due}）还有 {days} 天，请抓紧办理。",
        vars: &[CASE_CODE, TITLE, exact("due", 11), exact("days", 3)],
    },
    Template {
        kind: "case.auto_urge",
        to: To::Staff,
        text: "催办：交办件 {case_code}「{title}」已超过办结时限（{due}），请立即办理并报告。",
        vars: &[CASE_CODE, TITLE, exact("due", 11)],
    },
    Template {
        kind: "review.reminder",
        to: To::Staff,
        text: "复查（复核）：交办件 {case_code}「{title}」距答复期限（{due}）还有 {days} 天，请及时作出书面意见。",
        vars: &[CASE_CODE, TITLE, exact("due", 11), exact("days", 3)],
    },
    Template {
        kind: "review.auto_urge",
        to: To::Staff,
        text: "催办：交办件 {case_code}「{title}」的复查（复核）已超过答复期限（{due}），请立即作出书面意见。",
        vars: &[CASE_CODE, TITLE, exact("due", 11)],
    },
    Template {
        kind: "case.urge",
        to: To::Staff,
        text: "督办：交办件 {case_code}「{title}」请加快办理，并及时报告办理进展。",
        vars: &[CASE_CODE, TITLE],
    },
];

pub fn template(kind: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.kind == kind)
}

/// Why a message cannot be rendered: always a bug in the code that queued it.
#[derive(Debug, PartialEq, Eq)]
pub enum Unfit {
    UnknownKind(String),
    NotAnObject,
    Missing(&'static str),
    Unexpected(String),
    /// A number or a string only.
    NotText(&'static str),
    TooLong {
        var: &'static str,
        chars: usize,
        max: usize,
    },
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message outside the registry: {self:?}")
    }
}

impl std::error::Error for Unfit {}

/// A message as it goes out: its variables (each within its bound, as strings) and its text.
#[derive(Debug, PartialEq)]
pub struct Rendered {
    pub params: Value,
    pub body: String,
}

/// Check `params` against `kind`'s variables, cut the texts typed by staff to their bound, and
/// fill in the template.
pub fn render(kind: &str, params: &Value) -> Result<Rendered, Unfit> {
    let t = template(kind).ok_or_else(|| Unfit::UnknownKind(kind.to_owned()))?;
    let given = params.as_object().ok_or(Unfit::NotAnObject)?;
    if let Some(extra) = given.keys().find(|k| !t.vars.iter().any(|v| v.name == *k)) {
        return Err(Unfit::Unexpected(extra.clone()));
    }
    let mut vars = Map::new();
    let mut body = t.text.to_owned();
    for v in t.vars {
        let value = match given.get(v.name) {
            None => return Err(Unfit::Missing(v.name)),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(Unfit::NotText(v.name)),
        };
        let chars = value.chars().count();
        let value = if chars <= v.max {
            value
        } else if v.shortened {
            value.chars().take(v.max - 1).chain(['…']).collect()
        } else {
            return Err(Unfit::TooLong {
                var: v.name,
                chars,
                max: v.max,
            });
        };
        body = body.replace(&format!("{{{}}}", v.name), &value);
        vars.insert(v.name.to_owned(), Value::String(value));
    }
    Ok(Rendered {
        params: Value::Object(vars),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each variable at its longest: a staff text far beyond its bound, a bounded value at it.
    fn maximal(t: &Template) -> Value {
        let mut m = Map::new();
        for v in t.vars {
            let n = if v.shortened { v.max * 10 } else { v.max };
            m.insert(v.name.into(), Value::String("字".repeat(n)));
        }
        Value::Object(m)
    }

    #[test]
    fn every_kind_renders_within_its_bounds_with_maximal_inputs() {
        for t in TEMPLATES {
            let r = render(t.kind, &maximal(t)).unwrap_or_else(|e| panic!("{}: {e}", t.kind));
            for v in t.vars {
                let value = r.params[v.name].as_str().unwrap();
                assert!(value.chars().count() <= v.max, "{}.{}", t.kind, v.name);
            }
            assert!(!r.body.contains('{') && !r.body.contains('}'), "{}", r.body);
            // With a signature of up to 12 characters, within a gateway's 500 (a few SMS at most).
            assert!(r.body.chars().count() + 14 <= 500, "{}", t.kind);
        }
    }

    #[test]
    fn the_table_is_consistent() {
        let mut kinds = std::collections::HashSet::new();
        for t in TEMPLATES {
            assert!(kinds.insert(t.kind), "{} twice", t.kind);
            assert!(
                !t.text.contains('【'),
                "{}: the signature is configured",
                t.kind
            );
            for v in t.vars {
                assert!(v.max <= VAR_MAX, "{}.{}", t.kind, v.name);
                assert_eq!(
                    t.text.matches(&format!("{{{}}}", v.name)).count(),
                    1,
                    "{}.{}",
                    t.kind,
                    v.name
                );
            }
            // No placeholder without a variable.
            let mut rest = t.text;
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').unwrap() + start;
                let name = &rest[start + 1..end];
                assert!(
                    t.vars.iter().any(|v| v.name == name),
                    "{}: {{{name}}}",
                    t.kind
                );
                rest = &rest[end + 1..];
            }
        }
    }

    #[test]
    fn a_verification_code_renders_and_nothing_else_passes() {
        let r = render("phone.code", &json!({"code": "042917", "minutes": "5"})).unwrap();
        assert_eq!(
            r.body,
            "您的来访登记验证码为 042917，5 分钟内有效，请勿告诉他人。"
        );
        assert_eq!(r.params, json!({"code": "042917", "minutes": "5"}));
        assert_eq!(
            render("phone.cod", &json!({"code": "042917"})),
            Err(Unfit::UnknownKind("phone.cod".into()))
        );
        assert_eq!(
            render("phone.code", &json!({"code": "0429170", "minutes": "5"})),
            Err(Unfit::TooLong {
                var: "code",
                chars: 7,
                max: 6
            })
        );
        assert_eq!(
            render("phone.code", &json!({})),
            Err(Unfit::Missing("code"))
        );
        assert_eq!(
            render(
                "phone.code",
                &json!({"code": "1", "minutes": "5", "phone": "13812345678"})
            ),
            Err(Unfit::Unexpected("phone".into()))
        );
        assert_eq!(
            render("phone.code", &json!({"code": null, "minutes": "5"})),
            Err(Unfit::NotText("code"))
        );
    }

    #[test]
    fn staff_typed_text_is_cut_with_an_ellipsis_and_numbers_become_text() {
        let reason = "因台风预警，本次接访活动取消，具体恢复时间另行通知，请广大群众相互转告，感谢理解与支持。";
        let r = render(
            "registration.rejected",
            &json!({"code": "K7QX9M2PAB", "reason": reason}),
        )
        .unwrap();
        let cut = r.params["reason"].as_str().unwrap();
        assert_eq!(cut.chars().count(), VAR_MAX);
        assert!(cut.ends_with('…') && reason.starts_with(cut.trim_end_matches('…')));
        let r = render(
            "case.reminder",
            &json!({"case_code": "JBK7QX9M2PAB", "title": "村道破损", "days": 3, "due": "2026年12月24日"}),
        )
        .unwrap();
        assert_eq!(r.params["days"], "3");
        assert_eq!(
            r.body,
            "交办件 JBK7QX9M2PAB「村道破损」距办结时限（2026年12月24日）还有 3 天，请抓紧办理。"
        );
    }
}
