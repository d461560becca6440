//! `POST /staff/visits/{id}/registrations.xlsx`: the filtered list as Excel. Masked unless the
//! user may unmask AND asks (`full=1`, with a reason); every export is audited.

use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::prepare::pages::triage_index;
use crate::prepare::triage_list::{Filter, Row, fetch_rows, filtered, may_unmask, visit_title};
use crate::privacy::Column;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::export::SameOrigin;
use crate::web::form::{Errors, Form, text};
use axum::extract::{Path, State};
use axum::response::Response;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

pub const HEADERS: [&str; 10] = [
    "登记编号",
    "姓名",
    "身份证号",
    "手机号码",
    "所属乡镇",
    "来访人数",
    "问题类别",
    "接访时段",
    "状态",
    "筛查提示",
];

/// One sheet, headers in the first row; personal numbers as text (never numbers: Excel would round an 18-digit ID).
pub fn workbook(
    title: &str,
    rows: &[Row],
    clear: &[(String, String)],
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("来访登记")?;
    let bold = Format::new().set_bold();
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let n = (i + 1) as u32;
        let (id, phone) = clear
            .get(i)
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .unwrap_or((&r.id_mask, &r.phone_mask));
        ws.write_string(n, 0, &r.code)?;
        ws.write_string(n, 1, &r.name)?;
        ws.write_string(n, 2, id)?;
        ws.write_string(n, 3, phone)?;
        ws.write_string(n, 4, &r.township)?;
        ws.write_number(n, 5, r.persons)?;
        ws.write_string(n, 6, &r.category)?;
        ws.write_string(n, 7, &r.window)?;
        ws.write_string(n, 8, r.status_label())?;
        ws.write_string(n, 9, r.flags_text())?;
    }
    for (c, width) in [12, 10, 22, 14, 12, 9, 24, 13, 9, 40]
        .into_iter()
        .enumerate()
    {
        ws.set_column_width(c as u16, width)?;
    }
    ws.set_freeze_panes(1, 0)?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_title(title));
    wb.save_to_buffer()
}

/// The ID numbers and phones in clear, for the full export (audited by the caller).
fn clear_numbers(
    keys: &crate::privacy::Keys,
    rows: &[Row],
) -> Result<Vec<(String, String)>, AppError> {
    let mut clear = Vec::new();
    for r in rows {
        let id = keys.decrypt(Column::REGISTRATION_ID_NUMBER, r.id, r.id_key, &r.id_cipher)?;
        let phone = match (r.phone_key, &r.phone_cipher) {
            (Some(k), Some(c)) => keys.decrypt(Column::REGISTRATION_PHONE, r.id, k, c)?,
            _ => String::new(),
        };
        clear.push((id, phone));
    }
    Ok(clear)
}

/// The filtered list's rows, people named in full as they were before names were encrypted.
async fn named_rows(
    state: &AppState,
    visit_id: i64,
    filter: &Filter,
) -> Result<Vec<Row>, AppError> {
    let list = filtered(&state.db, &state.keys, visit_id, &filter.parse()).await?;
    let ids: Vec<i64> = list.iter().map(|m| m.id).collect();
    let mut rows = fetch_rows(&state.db, &ids).await?;
    for r in &mut rows {
        r.name = r.full_name(&state.keys)?;
    }
    Ok(rows)
}

/// `POST /staff/visits/{id}/registrations.xlsx` (DESIGN §7: a POST from this site's own page).
/// `full=1` needs the unmask permission and a reason, which goes into the audit entry.
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: SameOrigin,
    Path(visit_id): Path<i64>,
    Form(filter): Form<Filter>,
) -> Result<Response, AppError> {
    let title = visit_title(&state.db, visit_id).await?;
    let wants_full = filter.full.trim() == "1";
    if wants_full && !ctx.user.as_ref().is_some_and(|u| may_unmask(u.role)) {
        return Err(AppError::Forbidden);
    }
    let mut errors = Errors::default();
    let reason = text(&mut errors, "reason", "导出事由", &filter.reason, 1, 200);
    if wants_full && !errors.is_empty() {
        return triage_index::full_export_refused(&state, &ctx, visit_id, filter, errors).await;
    }
    let rows = named_rows(&state, visit_id, &filter).await?;
    let clear = if wants_full {
        clear_numbers(&state.keys, &rows)?
    } else {
        Vec::new()
    };
    let bytes = workbook(&title, &rows, &clear)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("xlsx: {e}")))?;
    let (action, reason) = match wants_full {
        true => ("personal_data.export", Some(reason)),
        false => ("registration.export", None),
    };
    let detail = serde_json::json!({"visit_id": visit_id, "count": rows.len(), "full": wants_full, "reason": reason, "filter": filter.query()});
    let entry = Entry::ok(action).on("visit", visit_id).detail(detail);
    audit::record(&state.db, &ctx.actor(), entry).await?;
    let full = if wants_full { "-full" } else { "" };
    let name = format!("registrations-{visit_id}{full}.xlsx");
    Ok(crate::web::xlsx::attachment(&name, bytes))
}
