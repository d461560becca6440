//! `/cases/{id}/…attachments…` and `/cases/{id}/archive`: uploading a file to a case or one of
//! its documents (those who act on the case), downloading it and the case's archive file (everyone
//! who sees the case). Files are served as downloads only, never shown inline.

use crate::error::AppError;
use crate::followup::archive;
use crate::followup::attachments::{self, Upload, rules};
use crate::followup::state::Side;
use crate::state::AppState;
use crate::web::page::Page;
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The attachments section of a case's or a document's page (`_attachments.html`): the files,
/// and where to upload one (None: the user does not act on the case).
pub struct Section {
    pub case_id: i64,
    pub on_case: bool,
    pub lines: Vec<attachments::Line>,
    pub upload_to: Option<String>,
}

pub(super) async fn section(
    state: &AppState,
    case_id: i64,
    document: Option<i64>,
    side: Side,
) -> Result<Section, AppError> {
    let path = match document {
        Some(doc) => format!("/cases/{case_id}/documents/{doc}/attachments"),
        None => format!("/cases/{case_id}/attachments"),
    };
    Ok(Section {
        case_id,
        on_case: document.is_none(),
        lines: attachments::list(&state.db, &state.keys, case_id, document).await?,
        upload_to: rules::may_attach(side).then_some(path),
    })
}

/// Whether the user may add files to case `id`: 404 when they may not see it, 403 when they see
/// it without acting on it (a 协办 department).
async fn may_attach(state: &AppState, ctx: &Ctx, id: i64) -> Result<(), AppError> {
    if rules::may_attach(super::documents::side(state, ctx, id).await?) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// An upload's body: taken as it came, so that who may upload is checked before what was sent.
type UploadForm = Result<Multipart, MultipartRejection>;

const UNREADABLE: &str = "上传未完成或内容无法识别，请重新选择文件上传。";

/// Why a form's file could not be read: cut off by the size limit, or not a form at all.
fn unreadable(e: &MultipartError) -> &'static str {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        rules::TOO_LARGE
    } else {
        UNREADABLE
    }
}

/// The `file` field of an upload form: the name the browser gave and the bytes.
async fn read_file(form: UploadForm) -> Result<(String, Vec<u8>), &'static str> {
    let mut form = form.map_err(|_| UNREADABLE)?;
    while let Some(field) = form.next_field().await.map_err(|e| unreadable(&e))? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| unreadable(&e))?;
            return Ok((name, bytes.to_vec()));
        }
    }
    Err("请选择要上传的文件。")
}

/// Read, check and add the uploaded file; the inner Err says why it was refused, for beside the field.
async fn receive(
    state: &AppState,
    ctx: &Ctx,
    case_id: i64,
    document_id: Option<i64>,
    form: UploadForm,
) -> Result<Result<(), &'static str>, AppError> {
    let checked = read_file(form)
        .await
        .and_then(|(name, bytes)| Ok((name, rules::check(&bytes)?, bytes)));
    let (declared, file_type, bytes) = match checked {
        Ok(file) => file,
        Err(why) => return Ok(Err(why)),
    };
    let name = rules::safe_name(&declared, file_type);
    let upload = Upload {
        case_id,
        document_id,
        name: &name,
        file_type,
        bytes: &bytes,
    };
    let mut tx = state.db.begin().await?;
    attachments::add(
        &mut tx,
        &state.keys,
        &upload,
        &ctx.actor(),
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// `POST /cases/{id}/attachments`: a file on the case.
pub async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    form: UploadForm,
) -> Page {
    may_attach(&state, &ctx, id).await?;
    match receive(&state, &ctx, id, None, form).await? {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            &format!("/cases/{id}#attachments"),
            "附件已上传。",
        )),
        Err(why) => super::cases::refused_upload(&state, &ctx, id, why).await,
    }
}

/// `POST /cases/{id}/documents/{doc}/attachments`: a file on one of the case's documents.
pub async fn upload_to_document(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
    form: UploadForm,
) -> Page {
    may_attach(&state, &ctx, id).await?;
    super::documents::document(&state, &ctx, id, doc).await?;
    match receive(&state, &ctx, id, Some(doc), form).await? {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            &format!("/cases/{id}/documents/{doc}#attachments"),
            "附件已上传。",
        )),
        Err(why) => super::documents::refused_upload(&state, &ctx, id, doc, why).await,
    }
}

/// A file as a download: never rendered inline, never sniffed, never cached by a shared cache.
fn as_download(mime: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, mime.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            rules::content_disposition(name),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "private, no-store".to_owned()),
    ];
    (headers, bytes).into_response()
}

/// `GET /cases/{id}/attachments/{attachment}`: the file, for everyone who sees the case; audited.
pub async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, file)): Path<(i64, i64)>,
) -> Page {
    super::documents::side(&state, &ctx, id).await?;
    let f = attachments::download(&state.db, &state.keys, id, file, &ctx.actor())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(as_download(f.file_type.mime(), &f.name, f.bytes))
}

/// `GET /cases/{id}/archive`: the case's archive file (一案一档), a ZIP; audited.
pub async fn archive(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    super::documents::side(&state, &ctx, id).await?;
    let now = state.clock.now();
    let (name, bytes) = archive::export(&state.db, &state.keys, id, &ctx.actor(), now).await?;
    Ok(as_download("application/zip", &name, bytes))
}
