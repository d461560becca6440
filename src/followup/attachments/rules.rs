//! What an attachment may be (DESIGN §3): a PDF, JPEG or PNG as its first bytes say — never its
//! name or the type the browser declared — of at most 10 MB; the name it is kept and served
//! under; and who may add one.

use crate::followup::state::Side;

/// The largest file accepted (10 MB).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// The body an upload may send: the file and the form around it. A file a little over
/// `MAX_BYTES` still arrives, so its form says why beside the field; a much larger one is cut off
/// with a 413 page before it is read.
pub const UPLOAD_BODY_BYTES: usize = MAX_BYTES + 1024 * 1024;

/// Shown beside the field, or on the 413 page, when a file is too large.
pub const TOO_LARGE: &str = "文件不能超过 10 MB，请压缩或拆分后再上传。";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    Jpeg,
    Png,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Jpeg => "jpeg",
            FileType::Png => "png",
        }
    }

    pub fn parse(s: &str) -> Option<FileType> {
        [FileType::Pdf, FileType::Jpeg, FileType::Png]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    pub fn mime(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Jpeg => "jpg",
            FileType::Png => "png",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileType::Pdf => "PDF",
            FileType::Jpeg => "JPEG 图片",
            FileType::Png => "PNG 图片",
        }
    }
}

/// The type the content's first bytes (its magic number) say, if it is one of the three.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    const PDF: &[u8] = b"%PDF-";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if bytes.starts_with(PDF) {
        Some(FileType::Pdf)
    } else if bytes.starts_with(JPEG) {
        Some(FileType::Jpeg)
    } else if bytes.starts_with(PNG) {
        Some(FileType::Png)
    } else {
        None
    }
}

/// The file checked: its type, or why it is refused (in Chinese, for beside the field).
pub fn check(bytes: &[u8]) -> Result<FileType, &'static str> {
    if bytes.is_empty() {
        return Err("请选择要上传的文件。");
    }
    if bytes.len() > MAX_BYTES {
        return Err(TOO_LARGE);
    }
    sniff(bytes).ok_or("文件内容不是 PDF、JPEG 或 PNG 格式（按文件内容识别，与文件名无关），请上传这三种格式的文件。")
}

/// The name a file is kept and served under: the last part of what the browser sent (no folder),
/// without control or reserved characters, at most 60 characters before an extension that is
/// always the sniffed type's. Never empty, never a path: safe in a download and in a ZIP.
pub fn safe_name(declared: &str, file_type: FileType) -> String {
    let base = declared.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    let stem: String = stem.chars().take(60).collect();
    format!("{}.{}", clean_name(&stem, "附件"), file_type.extension())
}

/// `name` without control or reserved characters — no folder separator, so never a path — and
/// without leading or trailing dots and spaces; `fallback` when nothing is left.
pub fn clean_name(name: &str, fallback: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|c| !c.is_control() && !"\"*:<>?|/\\".contains(*c))
        .collect();
    match kept.trim_matches(|c: char| c == '.' || c.is_whitespace()) {
        "" => fallback.to_owned(),
        kept => kept.to_owned(),
    }
}

/// `Content-Disposition` of a download of `name` (a `safe_name`): always an attachment, never
/// shown inline; the UTF-8 name by RFC 5987 (`filename*`) and an ASCII one for older clients.
pub fn content_disposition(name: &str) -> String {
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let ascii: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = if ascii.chars().all(|c| c == '_') {
        "attachment".to_owned()
    } else {
        ascii
    };
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}.{extension}\"; filename*=UTF-8''{encoded}")
}

/// Who may add attachments: those who act on the case — not a 协办 department, which reports to
/// the lead (and not the citizen).
pub fn may_attach(side: Side) -> bool {
    matches!(
        side,
        Side::LeadHandler | Side::OwnerLeader | Side::Supervisor | Side::Staff
    )
}

/// A size as people read it: 512 B, 34.5 KB, 9.8 MB.
pub fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];

    #[test]
    fn the_first_bytes_decide_the_type() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(FileType::Pdf));
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(FileType::Jpeg)
        );
        assert_eq!(sniff(PNG), Some(FileType::Png));
        for other in [
            &b"PK\x03\x04"[..],
            b"GIF89a",
            b"<html>",
            b" %PDF-1.7",
            b"%PD",
            &PNG[..7],
            b"MZ\x90\x00",
        ] {
            assert_eq!(sniff(other), None, "{other:?}");
        }
    }

    #[test]
    fn empty_too_large_and_unknown_files_are_refused() {
        assert!(check(b"").is_err());
        assert_eq!(check(b"%PDF-1.4"), Ok(FileType::Pdf));
        let mut big = b"%PDF-1.4".to_vec();
        big.resize(MAX_BYTES, 0);
        assert_eq!(check(&big), Ok(FileType::Pdf));
        big.push(0);
        assert_eq!(check(&big), Err(TOO_LARGE));
        assert!(check(b"hello, not a pdf").unwrap_err().contains("PDF"));
    }

    #[test]
    fn a_safe_name_has_no_folder_and_the_sniffed_extension() {
        assert_eq!(safe_name("答复意见书.pdf", FileType::Pdf), "答复意见书.pdf");
        assert_eq!(safe_name("现场照片.JPG", FileType::Jpeg), "现场照片.jpg");
        assert_eq!(safe_name("photo.jpg", FileType::Png), "photo.png");
        assert_eq!(safe_name("../../etc/passwd", FileType::Pdf), "passwd.pdf");
        assert_eq!(
            safe_name("C:\\Users\\张三\\扫描件.pdf", FileType::Pdf),
            "扫描件.pdf"
        );
        assert_eq!(safe_name("..", FileType::Pdf), "附件.pdf");
        assert_eq!(safe_name("", FileType::Png), "附件.png");
        assert_eq!(safe_name("a\"b<c>\r\nd.pdf", FileType::Pdf), "abcd.pdf");
        assert_eq!(safe_name(".pdf", FileType::Pdf), "附件.pdf");
        let long = "长".repeat(200);
        assert_eq!(safe_name(&long, FileType::Pdf).chars().count(), 64);
    }

    #[test]
    fn a_clean_name_is_never_a_path() {
        assert_eq!(clean_name("../../etc/passwd", "x"), "etcpasswd");
        assert_eq!(clean_name("..", "附件"), "附件");
        assert_eq!(clean_name("浦信受〔2026〕17号", "x"), "浦信受〔2026〕17号");
        assert_eq!(clean_name(" a:b ", "x"), "ab");
    }

    #[test]
    fn the_disposition_is_an_attachment_with_both_names() {
        assert_eq!(
            content_disposition("答复 意见.pdf"),
            "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E7%AD%94%E5%A4%8D%20%E6%84%8F%E8%A7%81.pdf"
        );
        assert_eq!(
            content_disposition("site-photo_1.png"),
            "attachment; filename=\"site-photo_1.png\"; filename*=UTF-8''site-photo_1.png"
        );
        assert_eq!(
            content_disposition("现场photo.jpg"),
            "attachment; filename=\"__photo.jpg\"; filename*=UTF-8''%E7%8E%B0%E5%9C%BAphoto.jpg"
        );
    }

    #[test]
    fn those_who_act_on_the_case_may_attach() {
        assert!(may_attach(Side::LeadHandler));
        assert!(may_attach(Side::Supervisor));
        assert!(may_attach(Side::Staff));
        assert!(may_attach(Side::OwnerLeader));
        assert!(!may_attach(Side::CoHandler));
        assert!(!may_attach(Side::Citizen));
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(35_328), "34.5 KB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MB");
    }
}
