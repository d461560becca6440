//! Pages: the layout every template extends, and the one way a template becomes a response.

use crate::web::auth::{CurrentUser, Role};
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub struct UserBox {
    pub display_name: String,
    pub role_label: String,
}

pub struct NavLink {
    pub href: String,
    pub label: String,
    pub current: bool,
}

/// The message of the previous action, with links to what it made (a case, a document).
pub struct FlashMessage {
    pub text: String,
    pub links: Vec<FlashLink>,
}

pub struct FlashLink {
    pub href: String,
    pub label: String,
}

/// Separates the message from its links, and a link's address from its label, in the cookie.
pub(crate) const FLASH_LINK: char = '\u{1f}';
pub(crate) const FLASH_LABEL: char = '\u{1e}';

impl FlashMessage {
    /// The stored form: text, then each link. Only paths of this site become links (the cookie
    /// comes back from the browser).
    pub fn parse(stored: &str) -> Self {
        let mut parts = stored.split(FLASH_LINK);
        let text = parts.next().unwrap_or_default().to_owned();
        let links = parts
            .filter_map(|l| l.split_once(FLASH_LABEL))
            .filter(|(href, _)| {
                href.starts_with('/') && !href.starts_with("//") && !href.contains('\\')
            })
            .map(|(href, label)| FlashLink {
                href: href.into(),
                label: label.into(),
            })
            .collect();
        Self { text, links }
    }

    pub fn store(text: &str, links: &[FlashLink]) -> String {
        links.iter().fold(text.to_owned(), |s, l| {
            format!("{s}{FLASH_LINK}{}{FLASH_LABEL}{}", l.href, l.label)
        })
    }
}

/// What base.html needs from every page.
pub struct Layout {
    pub title: String,
    pub user: Option<UserBox>,
    pub nav: Vec<NavLink>,
    pub demo: bool,
    pub flash: Option<FlashMessage>,
    /// The prefix of every site link and form action: "" or 长辈版's `/elder`.
    pub at: &'static str,
    /// The same page in the other version (长辈版 ↔ 标准版).
    pub switch_href: String,
}

impl Layout {
    /// 长辈版: large text, high contrast.
    pub fn elder(&self) -> bool {
        !self.at.is_empty()
    }

    /// A layout without request context (error pages).
    pub fn bare(title: &str) -> Self {
        Self {
            title: title.into(),
            user: None,
            nav: nav_for(None, ""),
            demo: false,
            flash: None,
            at: "",
            switch_href: crate::web::elder::PREFIX.into(),
        }
    }
}

/// The menu each role sees; every entry is a route the role may call.
pub fn nav_for(user: Option<&CurrentUser>, path: &str) -> Vec<NavLink> {
    let entries: &[(&str, &str)] = match user.map(|u| u.role) {
        None => &[
            ("/", "首页"),
            ("/schedule", "接访安排"),
            ("/lookup", "登记查询"),
        ],
        Some(Role::Sysadmin) => &[
            ("/admin/users", "用户"),
            ("/admin/departments", "责任单位"),
            ("/admin/leaders", "领导"),
            ("/admin/categories", "问题类别"),
            ("/admin/calendar", "工作日历"),
        ],
        Some(Role::Secadmin) => &[("/admin/users", "用户")],
        Some(Role::Auditor) => &[("/audit", "审计日志")],
        Some(Role::Staff) => &[
            ("/", "首页"),
            ("/staff/visits", "下访活动"),
            ("/staff/duty", "值守接访"),
            ("/cases", "交办件"),
        ],
        Some(Role::Supervisor) => &[
            ("/", "首页"),
            ("/supervision", "督查督办"),
            ("/cases", "交办件"),
        ],
        Some(Role::Leader) => &[
            ("/me/today", "今日接访"),
            ("/cases", "包案件"),
            ("/", "首页"),
        ],
        Some(Role::Handler) => &[("/dept/cases", "本单位交办件"), ("/", "首页")],
    };
    let mut links: Vec<NavLink> = entries
        .iter()
        .map(|(href, label)| NavLink {
            href: (*href).into(),
            label: (*label).into(),
            current: *href == path || (*href != "/" && path.starts_with(&format!("{href}/"))),
        })
        .collect();
    if user.is_some_and(|u| crate::web::tokens::may_hold(u.role)) {
        links.push(NavLink {
            href: "/me/tokens".into(),
            label: "API 令牌".into(),
            current: path == "/me/tokens",
        });
    }
    if user.is_some() {
        links.push(NavLink {
            href: "/account/password".into(),
            label: "修改密码".into(),
            current: path == "/account/password",
        });
    }
    links
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub code: u16,
    pub message: String,
    pub way_back: WayBack,
}

/// The error page's ways back: the page the user came from (a path of this site) and their home.
pub struct WayBack {
    pub previous: Option<String>,
    pub home: String,
}

impl WayBack {
    /// Only the public home page (no request context).
    pub fn home_page() -> Self {
        Self {
            previous: None,
            home: "/".into(),
        }
    }
}

pub type Page = Result<Response, crate::error::AppError>;

/// Render a page with 200.
pub fn render(page: &impl Template) -> Page {
    Ok(render_status(StatusCode::OK, page))
}

/// Render with a given status; a template failure becomes a plain Chinese 500, never internals.
pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "系统内部错误，请稍后再试。",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_keeps_its_links_to_this_site_only() {
        let links = [
            FlashLink {
                href: "/cases/7".into(),
                label: "JB7".into(),
            },
            FlashLink {
                href: "//evil.example/x".into(),
                label: "x".into(),
            },
        ];
        let f = FlashMessage::parse(&FlashMessage::store("已登记。交办件：", &links));
        assert_eq!(f.text, "已登记。交办件：");
        let kept: Vec<_> = f.links.iter().map(|l| (&*l.href, &*l.label)).collect();
        assert_eq!(kept, [("/cases/7", "JB7")]);
        assert!(FlashMessage::parse("只有文字").links.is_empty());
    }
}
