//! Password rules (the policy, what a change must satisfy) and argon2id hashing off the async workers.

use std::sync::OnceLock;

/// Password policy: ≥ 8 characters, 3 of 4 classes, not containing the username.
pub fn check_password(username: &str, password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        return Err("密码至少 8 位");
    }
    if n > 128 {
        return Err("密码不能超过 128 位");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|&&c| c).count() < 3 {
        return Err("密码须包含大写字母、小写字母、数字、符号中的至少三类");
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err("密码不能包含用户名");
    }
    Ok(())
}

/// What is wrong with a password change; each belongs to one of the three inputs.
#[derive(Debug, PartialEq)]
pub enum ChangeProblem {
    WrongCurrent,
    Weak(&'static str),
    Unchanged,
    Mismatch,
}

impl ChangeProblem {
    /// The input the problem is shown beside.
    pub fn field(&self) -> &'static str {
        match self {
            Self::WrongCurrent => "current",
            Self::Weak(_) | Self::Unchanged => "new",
            Self::Mismatch => "confirm",
        }
    }
    pub fn message(&self) -> &'static str {
        match self {
            Self::WrongCurrent => "当前密码不正确",
            Self::Weak(m) => m,
            Self::Unchanged => "新密码不能与当前密码相同",
            Self::Mismatch => "两次输入的新密码不一致",
        }
    }
}

/// Every problem of a change at once, so the form shows them together.
pub fn change_problems(
    username: &str,
    current_ok: bool,
    current: &str,
    new: &str,
    confirm: &str,
) -> Vec<ChangeProblem> {
    let mut out = Vec::new();
    if !current_ok {
        out.push(ChangeProblem::WrongCurrent);
    }
    if let Err(m) = check_password(username, new) {
        out.push(ChangeProblem::Weak(m));
    } else if new == current {
        out.push(ChangeProblem::Unchanged);
    }
    if confirm != new {
        out.push(ChangeProblem::Mismatch);
    }
    out
}

/// argon2id hashing is slow on purpose: keep it off the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password_auth::generate_hash(password)).await?)
}

pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .unwrap_or(false)
}

/// A real hash to verify against for unknown users, so their answer takes as long as a wrong password.
pub fn dummy_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password_auth::generate_hash("xiafang-dummy-password"))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert_eq!(check_password("zhang", "Ab1!"), Err("密码至少 8 位"));
        assert!(
            check_password("zhang", "abcdefgh1").is_err(),
            "two classes only"
        );
        assert!(check_password("zhang", "abcdefG1").is_ok());
        assert!(check_password("zhang", "abcdef1!").is_ok());
        assert_eq!(
            check_password("zhang", "Zhang123!"),
            Err("密码不能包含用户名")
        );
        assert!(
            check_password("zhang", "密码很长很长Aa1").is_ok(),
            "counts characters, symbols include CJK"
        );
    }

    #[test]
    fn a_change_reports_every_problem_at_once() {
        use ChangeProblem::*;
        assert_eq!(
            change_problems("zhang", false, "Old12345!", "short", "other"),
            [WrongCurrent, Weak("密码至少 8 位"), Mismatch]
        );
        assert_eq!(
            change_problems("zhang", true, "Old12345!", "Old12345!", "Old12345!"),
            [Unchanged]
        );
        assert!(change_problems("zhang", true, "Old12345!", "New12345!", "New12345!").is_empty());
    }
}
