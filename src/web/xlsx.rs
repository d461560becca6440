//! One-table workbooks with Chinese headers, served as attachments. Every cell is text or a
//! number written as such (never an 18-digit ID as a number: Excel would round it).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

pub enum Cell {
    Text(String),
    Number(f64),
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Number(n as f64)
    }
}

/// One sheet: name, headers, rows.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub headers: &'a [&'a str],
    pub rows: Vec<Vec<Cell>>,
}

pub fn workbook(title: &str, sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(s.name)?;
        for (c, h) in s.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
            ws.set_column_width(c as u16, 14)?;
        }
        for (i, row) in s.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Text(t) => ws.write_string((i + 1) as u32, c as u16, t)?,
                    Cell::Number(n) => ws.write_number((i + 1) as u32, c as u16, *n)?,
                };
            }
        }
        ws.set_freeze_panes(1, 0)?;
    }
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_title(title));
    wb.save_to_buffer()
}

/// The workbook as a download; never cached (exports may hold personal data).
pub fn attachment(file_name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

pub fn internal(e: XlsxError) -> crate::error::AppError {
    crate::error::AppError::Internal(anyhow::anyhow!("xlsx: {e}"))
}
