//! The words an auditor reads the log in: each action code's Chinese name, each object type's,
//! and an entry's detail as "字段：值" lines instead of JSON. A code written anywhere in `src/`
//! without a name here fails the test below.

use serde_json::Value;

/// Every action the code base records, with its Chinese name (unique: the filter offers them).
pub const ACTIONS: &[(&str, &str)] = &[
    ("login", "登录"),
    ("logout", "退出登录"),
    ("account.locked", "账号锁定"),
    ("password.change", "修改密码"),
    ("password.reset", "重置密码"),
    ("password.reset_link", "生成密码重置链接"),
    ("second_factor.enrol", "绑定第二认证因素"),
    ("second_factor.reset", "重置第二认证因素"),
    ("api_token.create", "创建 API 令牌"),
    ("api_token.revoke", "吊销 API 令牌"),
    ("api_token.revoke_all", "吊销全部 API 令牌"),
    ("user.create", "新增账号"),
    ("user.update", "修改账号"),
    ("user.activate", "启用账号"),
    ("user.deactivate", "停用账号"),
    ("user.unlock", "解锁账号"),
    ("user.role_grant", "授予角色"),
    ("user.role_change", "更改角色"),
    ("user.role_revoke", "撤销角色"),
    ("user.link_change", "更改账号所属"),
    ("department.create", "新增责任单位"),
    ("department.update", "修改责任单位"),
    ("department.superiors", "设置复查机关"),
    ("leader.create", "新增领导"),
    ("leader.update", "修改领导"),
    ("leader.handover", "领导离任交接"),
    ("category.create", "新增问题类别"),
    ("category.update", "修改问题类别"),
    ("calendar.set", "设置工作日历"),
    ("calendar.delete", "删除工作日历设置"),
    ("audit.export", "导出审计日志"),
    ("backup.create", "备份数据库"),
    ("maintenance.retention", "到期匿名化与删除"),
    ("maintenance.audit_expiry", "删除过期审计日志"),
    ("maintenance.audit_verify", "核对审计日志"),
    ("visit.create", "新增下访活动"),
    ("visit.update", "修改下访活动"),
    ("visit.cancel", "取消下访活动"),
    ("duty.leader", "安排值守领导"),
    ("notice.generate", "生成公告"),
    ("notice.update", "修改公告"),
    ("notice.publish", "发布公告"),
    ("notice.schedule", "定时发布公告"),
    ("notice.unschedule", "取消定时发布"),
    ("notice.correct", "更正公告"),
    ("room.create", "新增接访室"),
    ("room.update", "修改接访室"),
    ("room.delete", "删除接访室"),
    ("windows.generate", "生成预约时段"),
    ("window.capacity", "调整时段容量"),
    ("survey.create", "新增调查事项"),
    ("survey.update", "修改调查事项"),
    ("survey.link", "关联调查事项"),
    ("survey.unlink", "取消关联调查事项"),
    ("registration.create", "提交登记"),
    ("registration.phone_exempt", "免验手机号码"),
    ("registration.confirm", "确认登记"),
    ("registration.reject", "退回登记"),
    ("registration.merge", "合并登记"),
    ("registration.cancel", "取消登记"),
    ("registration.category_change", "更改问题类别"),
    ("registration.checkin", "签到"),
    ("registration.export", "导出登记名单"),
    ("screening.decide", "处理筛查提示"),
    ("personal_data.unmask", "查看完整个人信息"),
    ("personal_data.export", "导出完整个人信息"),
    ("schedule.run", "生成排接"),
    ("schedule.move", "调整排接"),
    ("schedule.publish", "发布排接"),
    ("desk.call", "叫号"),
    ("desk.record", "记录接谈"),
    ("desk.no_show", "登记未到"),
    ("desk.transfer", "改换接待室"),
    ("desk.correct", "更正接谈记录"),
    ("case.assign", "交办"),
    ("case.accept", "签收交办件"),
    ("case.return", "退回交办件"),
    ("case.reassign", "改派主办单位"),
    ("case.progress", "报送办理进展"),
    ("case.extend", "申请延期"),
    ("case.approve_extension", "批准延期"),
    ("case.refuse_extension", "不予延期"),
    ("case.submit", "申请办结"),
    ("case.approve", "批准办结"),
    ("case.reject", "退回办结申请"),
    ("case.rate", "评价"),
    ("case.reopen", "重新办理"),
    ("case.review", "申请复查复核"),
    ("case.decide_review", "作出复查复核决定"),
    ("case.hearing", "记录听证"),
    ("case.urge", "督办"),
    ("case.archive", "下载案卷"),
    ("case.export", "导出交办件"),
    ("document.draft", "起草文书"),
    ("document.edit", "修改文书草稿"),
    ("document.issue", "签发文书"),
    ("document.correct", "更正文书"),
    ("document.deliver", "送达文书"),
    ("attachment.upload", "上传附件"),
    ("attachment.download", "下载附件"),
    ("supervision.export", "导出督查督办"),
    ("supervision.list.export", "导出三张清单"),
    ("report.export", "导出活动报表"),
];

/// The actions in groups for the filter, by the part of the code before its first dot.
pub const GROUPS: &[(&str, &[&str])] = &[
    (
        "登录与账号",
        &[
            "login",
            "logout",
            "account",
            "password",
            "second_factor",
            "api_token",
            "user",
        ],
    ),
    (
        "基础数据",
        &["department", "leader", "category", "calendar"],
    ),
    ("审计", &["audit"]),
    ("系统运维", &["backup", "maintenance"]),
    (
        "访前准备",
        &[
            "visit",
            "duty",
            "notice",
            "room",
            "windows",
            "window",
            "survey",
            "registration",
            "screening",
            "personal_data",
        ],
    ),
    ("访中接访", &["schedule", "desk"]),
    (
        "访后办理",
        &["case", "document", "attachment", "supervision", "report"],
    ),
];

/// The group (`GROUPS`) an action code is offered in.
pub fn action_group(code: &str) -> Option<&'static str> {
    let area = code.split('.').next()?;
    GROUPS
        .iter()
        .find(|(_, areas)| areas.contains(&area))
        .map(|(name, _)| *name)
}

/// What an audit entry can be about.
pub const OBJECTS: &[(&str, &str)] = &[
    ("user", "账号"),
    ("api_token", "API 令牌"),
    ("department", "责任单位"),
    ("leader", "领导"),
    ("category", "问题类别"),
    ("calendar_day", "工作日历"),
    ("visit", "下访活动"),
    ("notice", "公告"),
    ("room", "接访室"),
    ("window", "预约时段"),
    ("survey_item", "调查事项"),
    ("registration", "登记"),
    ("screening_flag", "筛查提示"),
    ("case", "交办件"),
    ("handover", "离任交接"),
];

/// Detail fields by their Chinese names; a field not named here is shown by its key.
const FIELDS: &[(&str, &str)] = &[
    ("id", "编号"),
    ("file", "文件"),
    ("rows", "行数"),
    ("schema_version", "数据库结构版本"),
    ("code", "编码"),
    ("codes", "编码"),
    ("name", "名称"),
    ("short_name", "简称"),
    ("title", "标题"),
    ("username", "用户名"),
    ("display_name", "姓名"),
    ("role", "角色"),
    ("from_role", "原角色"),
    ("reason", "原因"),
    ("note", "备注"),
    ("factor", "认证因素"),
    ("second_factor", "第二认证因素"),
    ("was_enrolled", "原已绑定"),
    ("enrolled", "已绑定"),
    ("method", "方式"),
    ("locked_until", "锁定至"),
    ("expires_at", "有效期至"),
    ("tokens_revoked", "吊销令牌数"),
    ("revoked", "已吊销"),
    ("active", "启用"),
    ("level", "级别"),
    ("jurisdiction_id", "辖区编号"),
    ("county_id", "所属县区编号"),
    ("county", "县区"),
    ("township", "乡镇"),
    ("parent_id", "上级编号"),
    ("department", "责任单位"),
    ("department_id", "责任单位编号"),
    ("department_ids", "责任单位编号"),
    ("lead_department_id", "主办单位编号"),
    ("co_department_ids", "协办单位编号"),
    ("superiors", "复查机关"),
    ("leader", "领导"),
    ("leader_id", "领导编号"),
    ("leader_ids", "领导编号"),
    ("lead_leader_id", "包案领导编号"),
    ("owner_leader_id", "包案领导编号"),
    ("from_leader_id", "原领导编号"),
    ("to_leader_id", "接任领导编号"),
    ("category_ids", "问题类别编号"),
    ("date", "日期"),
    ("day", "日期"),
    ("month", "月份"),
    ("is_workday", "工作日"),
    ("visit", "下访活动"),
    ("visit_id", "下访活动编号"),
    ("visit_date", "接访日期"),
    ("venue", "地点"),
    ("location", "地点"),
    ("address", "地址"),
    ("starts_at", "开始时间"),
    ("ends_at", "结束时间"),
    ("registration_closes_at", "登记截止"),
    ("slot_minutes", "每时段分钟数"),
    ("notice_id", "公告编号"),
    ("kind", "类型"),
    ("type", "类型"),
    ("body", "机关"),
    ("room", "接访室"),
    ("room_id", "接访室编号"),
    ("from_room_id", "原接访室编号"),
    ("to_room_id", "新接访室编号"),
    ("window", "预约时段"),
    ("window_id", "预约时段编号"),
    ("windows", "预约时段数"),
    ("capacity", "容量"),
    ("released_slots", "释放名额"),
    ("registration_id", "登记编号"),
    ("registrations", "登记数"),
    ("survey_items", "调查事项数"),
    ("cases_archived", "归档交办件数"),
    ("case_sources", "随交办件匿名化的登记和调查事项数"),
    ("notifications", "通知数"),
    ("phone_codes", "短信验证码数"),
    ("archive_dir", "归档目录"),
    ("entries", "条目数"),
    ("kept_from", "保留起始编号"),
    ("reception_id", "接谈编号"),
    ("into", "并入"),
    ("into_id", "并入编号"),
    ("channel", "渠道"),
    ("channels", "渠道"),
    ("exemption", "免验原因"),
    ("flags", "筛查提示"),
    ("decision", "决定"),
    ("field", "字段"),
    ("status", "状态"),
    ("queue_number", "排队号"),
    ("number", "序号"),
    ("expected_at", "预计时间"),
    ("waitlisted", "候补"),
    ("promoted", "候补转正"),
    ("booked", "已预约"),
    ("unmatched", "未排"),
    ("assigned", "已安排"),
    ("notified", "已通知"),
    ("late", "迟到"),
    ("brought_by_leader", "领导带来"),
    ("issues", "问题数"),
    ("cases", "交办件"),
    ("version", "版本"),
    ("before", "更正前"),
    ("after", "更正后"),
    ("statement_changed", "接谈情况有改动"),
    ("consultation_changed", "会商意见有改动"),
    ("case_code", "交办件编码"),
    ("deadline_days", "办理时限（日）"),
    ("accept_due_on", "签收期限"),
    ("due_on", "期限"),
    ("days", "天数"),
    ("from", "原"),
    ("to", "新"),
    ("old", "原值"),
    ("new", "新值"),
    ("changes", "变更"),
    ("current", "当前"),
    ("kept", "保留"),
    ("voided", "作废"),
    ("refused", "拒绝"),
    ("result", "结果"),
    ("rating", "评价"),
    ("handover_id", "交接编号"),
    ("document_id", "文书编号"),
    ("supersedes", "更正的文书编号"),
    ("corrects", "更正"),
    ("delivered_on", "送达日期"),
    ("query_code", "查询码"),
    ("attachment_id", "附件编号"),
    ("size", "大小（字节）"),
    ("bytes", "大小（字节）"),
    ("index", "序号"),
    ("list", "清单"),
    ("count", "条数"),
    ("full", "完整信息"),
    ("filter", "筛选条件"),
    ("encryption", "加密"),
    ("action", "操作"),
    ("actor", "操作人"),
    ("object_type", "对象类型"),
    ("object_id", "对象编号"),
    ("outcome", "结果"),
];

/// Values of sign-in entries in words, by field: what an auditor checks first.
const VALUES: &[(&str, &str, &str)] = &[
    ("reason", "unknown_user", "用户名不存在"),
    ("reason", "wrong_password", "密码错误"),
    ("reason", "wrong_code", "动态验证码错误"),
    ("reason", "wrong_recovery_code", "恢复码错误"),
    ("reason", "inactive", "账号已停用"),
    ("reason", "locked", "账号已锁定"),
    ("reason", "no_role", "未授予角色"),
    ("factor", "password", "密码"),
    ("factor", "totp", "动态验证码"),
    ("factor", "recovery_code", "恢复码"),
    ("second_factor", "totp", "动态验证码"),
    ("second_factor", "recovery_code", "恢复码"),
    ("second_factor", "demo_mode", "演示模式（免第二认证因素）"),
];

fn lookup(table: &'static [(&str, &str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The Chinese name of an action code, if it has one.
pub fn action_label(code: &str) -> Option<&'static str> {
    lookup(ACTIONS, code)
}

/// The Chinese name of an action code, or the code itself (an entry written before its name).
pub fn action_name(code: &str) -> &str {
    action_label(code).unwrap_or(code)
}

/// The Chinese name of an object type, or the type itself.
pub fn object_name(object_type: &str) -> &str {
    lookup(OBJECTS, object_type).unwrap_or(object_type)
}

/// An entry's detail as "字段：值" lines: absent values left out, nothing shown as JSON.
pub fn detail_lines(detail: &Value) -> Vec<String> {
    match detail {
        Value::Object(fields) => fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let named = VALUES
                    .iter()
                    .find(|(field, value, _)| field == k && v.as_str() == Some(*value));
                let text = named.map_or_else(|| value_text(v), |(_, _, label)| (*label).into());
                format!("{}：{}", lookup(FIELDS, k).unwrap_or(k), text)
            })
            .collect(),
        Value::Null => Vec::new(),
        v => vec![value_text(v)],
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "无".into(),
        Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("、"),
        Value::Object(_) => format!("（{}）", detail_lines(v).join("，")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;
    use std::path::Path;

    /// Files that pass a computed code to `Entry::ok`/`failed`: every code-shaped literal in them
    /// must be named.
    const COMPUTED: &[&str] = &[
        "src/admin/accounts.rs",
        "src/prepare/pages/triage_export.rs",
    ];
    /// Files whose computed codes are checked beside them (`followup::labels::audit_action`),
    /// and this module (which names the calls) and `audit` (which defines them).
    const CHECKED_ELSEWHERE: &[&str] = &[
        "src/followup/transitions/mod.rs",
        "src/audit/labels.rs",
        "src/audit/mod.rs",
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The string literals of `text` that look like action codes (`word.word`).
    fn code_literals(text: &str) -> Vec<&str> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                let parts: Vec<_> = s.split('.').collect();
                parts.len() > 1
                    && parts.iter().all(|p| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
            })
            .collect()
    }

    #[test]
    fn every_action_code_in_the_code_base_has_a_chinese_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let mut missing = Vec::new();
        let mut found = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if CHECKED_ELSEWHERE.contains(&name.as_str()) {
                continue;
            }
            for call in ["Entry::ok(", "Entry::failed("] {
                for (at, _) in text.match_indices(call) {
                    let arg = text[at + call.len()..].trim_start();
                    match arg.strip_prefix('"').and_then(|a| a.split('"').next()) {
                        Some(code) => {
                            found += 1;
                            if action_label(code).is_none() {
                                missing.push(format!("{name}: {code}"));
                            }
                        }
                        None => assert!(
                            COMPUTED.contains(&name.as_str()),
                            "{name} computes an action code: add it to COMPUTED"
                        ),
                    }
                }
            }
            if COMPUTED.contains(&name.as_str()) {
                for code in code_literals(&text) {
                    if action_label(code).is_none() {
                        missing.push(format!("{name}: {code}"));
                    }
                }
            }
        }
        assert!(found > 50, "the scan finds the calls ({found})");
        assert!(missing.is_empty(), "no Chinese name for {missing:?}");
    }

    #[test]
    fn names_are_unique_so_the_filter_can_offer_them() {
        let codes: HashSet<_> = ACTIONS.iter().map(|(c, _)| c).collect();
        let names: HashSet<_> = ACTIONS.iter().map(|(_, n)| n).collect();
        assert_eq!(codes.len(), ACTIONS.len());
        assert_eq!(names.len(), ACTIONS.len());
        assert_eq!(action_name("department.create"), "新增责任单位");
        assert_eq!(action_name("case.hearing"), "记录听证");
        assert_eq!(action_name("something.new"), "something.new");
        for (code, _) in ACTIONS {
            assert!(action_group(code).is_some(), "{code} has a group");
        }
    }

    #[test]
    fn details_read_as_chinese_lines_without_json() {
        let detail = json!({
            "title": "领导接访日", "active": false, "reason": null, "department_ids": [3, 4],
            "from": {"department_id": 1, "leader_id": null}, "unknown_key": "x"
        });
        let mut lines = detail_lines(&detail);
        lines.sort();
        let mut expected = [
            "启用：否",
            "责任单位编号：3、4",
            "原：（责任单位编号：1）",
            "标题：领导接访日",
            "unknown_key：x",
        ];
        expected.sort();
        assert_eq!(lines, expected);
        assert!(lines.iter().all(|l| !l.contains(['{', '}', '"'])));
        assert!(detail_lines(&json!({})).is_empty());
        let failed = detail_lines(&json!({"reason": "wrong_password"}));
        assert_eq!(failed, ["原因：密码错误"]);
    }
}
