//! Who is calling: roles, the current user, and the per-route guard that refuses everyone else.

use crate::error::AppError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Staff,
    Leader,
    Handler,
    Supervisor,
    Sysadmin,
    Secadmin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Staff,
        Role::Leader,
        Role::Handler,
        Role::Supervisor,
        Role::Sysadmin,
        Role::Secadmin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Leader => "leader",
            Role::Handler => "handler",
            Role::Supervisor => "supervisor",
            Role::Sysadmin => "sysadmin",
            Role::Secadmin => "secadmin",
            Role::Auditor => "auditor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Staff => "信访工作人员",
            Role::Leader => "接访领导",
            Role::Handler => "承办单位经办人",
            Role::Supervisor => "督查人员",
            Role::Sysadmin => "系统管理员",
            Role::Secadmin => "安全管理员",
            Role::Auditor => "安全审计员",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who may call a route (DESIGN §2). Object-level checks stay in the handlers.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    Public,
    /// Any signed-in account (logout, own password).
    SignedIn,
    Roles(&'static [Role]),
}

impl Access {
    pub fn allows(self, role: Option<Role>) -> bool {
        match (self, role) {
            (Access::Public, _) => true,
            (_, None) => false,
            (Access::SignedIn, Some(_)) => true,
            (Access::Roles(roles), Some(r)) => roles.contains(&r),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub department_id: Option<i64>,
    pub leader_id: Option<i64>,
    /// Where the account belongs: it sees this jurisdiction and everything below it (None: nothing).
    pub jurisdiction_id: Option<i64>,
    pub must_change_password: bool,
    /// The session this request came with (None for API tokens).
    pub session_hash: Option<Vec<u8>>,
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The route guard has run: a handler that asks for a user is never public.
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(AppError::Forbidden)
    }
}

/// Paths a user who must change the password may still reach.
const PASSWORD_CHANGE_PATHS: [&str; 2] = ["/account/password", "/logout"];

/// The per-route guard built from the route table.
pub async fn guard(access: Access, req: Request, next: Next) -> Response {
    if matches!(access, Access::Public) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let Some(user) = req.extensions().get::<CurrentUser>() else {
        if path.starts_with("/api/") {
            let refusal = crate::web::json::ApiError::new(
                StatusCode::UNAUTHORIZED,
                "需要登录或有效的访问令牌（Authorization: Bearer …）。",
            );
            return ([(header::WWW_AUTHENTICATE, "Bearer")], refusal).into_response();
        }
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let query = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
        return Redirect::to(&format!("/login?{query}")).into_response();
    };
    if user.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path) {
        return Redirect::to("/account/password").into_response();
    }
    if !access.allows(Some(user.role)) {
        return AppError::Forbidden.into_response();
    }
    next.run(req).await
}

/// Where a role lands after signing in: its own work (issue 16), not the public home page.
pub fn home_for(role: Role) -> &'static str {
    match role {
        Role::Sysadmin | Role::Secadmin => "/admin/users",
        Role::Auditor => "/audit",
        Role::Leader => "/me/today",
        Role::Handler => "/dept/cases",
        Role::Supervisor => "/supervision",
        Role::Staff => "/staff/visits",
    }
}

/// The signed-in user as the actor of an audit entry (here, so that `audit` needs nothing of the web).
impl crate::audit::Actor {
    pub fn user(user: &CurrentUser, ip: std::net::IpAddr) -> Self {
        Self {
            id: Some(user.id),
            name: user.username.clone(),
            role: Some(user.role.as_str()),
            ip: Some(ip),
            jurisdiction_id: user.jurisdiction_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn access_refuses_anonymous_and_other_roles() {
        let admin_only = Access::Roles(&[Role::Sysadmin]);
        assert!(admin_only.allows(Some(Role::Sysadmin)));
        assert!(!admin_only.allows(Some(Role::Auditor)));
        assert!(!admin_only.allows(None));
        assert!(Access::SignedIn.allows(Some(Role::Handler)));
        assert!(!Access::SignedIn.allows(None));
        assert!(Access::Public.allows(None));
    }
}
