//! Who sees a visit (DESIGN §11): the accounts of its host and of its organiser, and those above
//! them. Every staff-side reach for a visit and what hangs off it passes here or through the SQL
//! function `visit_in_scope` (migration 0019) these queries call; `root` is the viewer's
//! jurisdiction, and an account without one sees nothing.

use sqlx::PgConnection;

/// Whether the visit exists and lies within `root`'s reach.
pub async fn visit_visible(
    conn: &mut PgConnection,
    visit_id: i64,
    root: Option<i64>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM visits v WHERE v.id = $1
                          AND visit_in_scope(v.county_id, v.organiser_id, $2)) AS "visible!""#,
        visit_id,
        root
    )
    .fetch_one(conn)
    .await
}

/// `root` and every jurisdiction below it (empty without a root).
pub async fn subtree(conn: &mut PgConnection, root: Option<i64>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(r#"SELECT jurisdiction_subtree($1) AS "id!""#, root)
        .fetch_all(conn)
        .await
}

/// The organiser of a visit a member of `root` creates at `host`: their own jurisdiction when it
/// lies above the host (a provincial visit hosted by a county), else the host itself.
pub fn organiser(root: Option<i64>, host: i64) -> i64 {
    root.unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::organiser;

    #[test]
    fn a_visit_is_organised_by_its_creators_jurisdiction_above_the_host() {
        assert_eq!(organiser(Some(330000), 330726), 330000);
        assert_eq!(organiser(Some(330726), 330726), 330726);
        assert_eq!(organiser(None, 330726), 330726);
    }
}
