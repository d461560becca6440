//! The texts of the notices (一次公告, 二次公告, 更正公告, 取消公告) composed from a visit's facts,
//! and the blocks a notice body prints as. Pure; tested in `plan`.

use crate::clock::{cn_date, cn_minute};
use crate::prepare::plan::{hours, weekday};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A leader as a notice names them.
pub struct LeaderLine {
    pub name: String,
    pub title: String,
    pub portfolio: String,
}

impl LeaderLine {
    fn phrase(&self) -> String {
        let portfolio = self.portfolio.trim().trim_end_matches('。');
        if portfolio.is_empty() {
            format!("{}（{}）", self.name, self.title)
        } else {
            format!("{}（{}，{}）", self.name, self.title, portfolio)
        }
    }
}

/// What a notice says about its visit.
pub struct Facts {
    pub county: String,
    pub title: String,
    pub date: NaiveDate,
    pub starts: NaiveTime,
    pub ends: NaiveTime,
    pub venue: String,
    pub address: String,
    pub scope: String,
    /// The lead leader first.
    pub leaders: Vec<LeaderLine>,
    pub departments: Vec<String>,
    pub closes_at: DateTime<Utc>,
    pub register_url: String,
}

impl Facts {
    pub fn place(&self) -> String {
        if self.address.trim().is_empty() {
            self.venue.clone()
        } else {
            format!("{}（{}）", self.venue, self.address)
        }
    }
    pub fn when(&self) -> String {
        format!(
            "{}（{}）{}",
            cn_date(self.date),
            weekday(self.date),
            hours(self.starts, self.ends)
        )
    }
}

/// Cut a title to the notices' 100-character limit.
fn fit_title(s: String) -> String {
    s.chars().take(100).collect()
}

/// Title and body of the 一次公告 (`first`) or 二次公告 (`second`), generated from the visit.
/// Lines of the form "标签：内容" become the poster's list of facts.
pub fn compose(kind: &str, f: &Facts) -> (String, String) {
    let second = kind == "second";
    let title = fit_title(if second {
        format!("关于{}的二次公告", f.title)
    } else {
        format!("关于{}的公告", f.title)
    });
    let intro = if second {
        format!(
            "{}领导下访接访活动将于{}如期举行，现再次公告如下：",
            f.county,
            cn_date(f.date)
        )
    } else {
        format!(
            "为深入践行新时代“浦江经验”，变群众上访为领导下访，就地解决群众合理诉求，{}定于{}开展领导下访接访活动。现将有关事项公告如下：",
            f.county,
            cn_date(f.date)
        )
    };
    let mut lines = vec![
        intro,
        format!("接访时间：{}", f.when()),
        format!("接访地点：{}", f.place()),
    ];
    if !f.leaders.is_empty() {
        lines.push(format!(
            "接访领导：{}",
            f.leaders
                .iter()
                .map(LeaderLine::phrase)
                .collect::<Vec<_>>()
                .join("；")
        ));
    }
    if !f.departments.is_empty() {
        lines.push(format!("参加部门：{}", f.departments.join("、")));
    }
    if !f.scope.trim().is_empty() {
        lines.push(format!("受理范围：{}", f.scope.trim()));
    }
    lines.push(format!(
        "登记方式：即日起至 {} 止，扫描本公告二维码或访问 {} 网上登记并选择接访时段，也可到所在乡镇（街道）信访办登记。",
        cn_minute(f.closes_at),
        f.register_url
    ));
    lines.push("来访人数超过 5 人的，请推选不超过 5 名代表。请携带本人身份证件及相关材料，按登记的接访时段到场。已进入诉讼、仲裁、行政复议等法定程序的事项，请依法通过相应途径解决。".into());
    lines.push("特此公告。".into());
    (title, lines.join("\n"))
}

/// One changed field of a correction: label, old, new.
pub struct Change {
    pub label: &'static str,
    pub old: String,
    pub new: String,
}

/// The 更正公告: what changed, old → new, and why.
pub fn compose_correction(f_old: &Facts, changes: &[Change], reason: &str) -> (String, String) {
    let title = fit_title(format!("关于{}的更正公告", f_old.title));
    let mut lines = vec![format!(
        "原定于{}在{}开展的领导下访接访活动，有关事项更正如下：",
        cn_date(f_old.date),
        f_old.venue
    )];
    for c in changes {
        lines.push(format!("{}：{} → {}", c.label, c.old, c.new));
    }
    if !reason.trim().is_empty() {
        lines.push(format!("更正原因：{}", reason.trim()));
    }
    lines.push(
        "其他事项不变。已登记的群众无需重新登记，请按更正后的时间、地点到场。特此公告。".into(),
    );
    (title, lines.join("\n"))
}

/// The 取消公告.
pub fn compose_cancellation(f: &Facts, reason: &str) -> (String, String) {
    let title = fit_title(format!("关于取消{}的公告", f.title));
    let body = [
        format!("原定于{}在{}开展的领导下访接访活动取消。", f.when(), f.place()),
        format!("取消原因：{}", reason.trim()),
        format!("已登记的群众将收到短信通知。有关诉求可到{}信访局或所在乡镇（街道）信访办反映。特此公告。", f.county),
    ]
    .join("\n");
    (title, body)
}

/// A notice's body as the poster shows it: paragraphs, and runs of "标签：内容" lines as lists of facts.
pub enum Block {
    Paragraph(String),
    Facts(Vec<(String, String)>),
}

pub fn blocks(body: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('：') {
            Some((label, rest))
                if (2..=6).contains(&label.chars().count())
                    && !label.contains(['，', '。', ' ']) =>
            {
                let fact = (format!("{label}："), rest.to_owned());
                match out.last_mut() {
                    Some(Block::Facts(facts)) => facts.push(fact),
                    _ => out.push(Block::Facts(vec![fact])),
                }
            }
            _ => out.push(Block::Paragraph(line.to_owned())),
        }
    }
    out
}
