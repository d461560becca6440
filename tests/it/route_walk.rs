//! Walking the route table (`xiafang::routes::routes`): a route's path with the ids of one world
//! put in. Shared by the jurisdiction walk and the accessibility walk of every signed-in page.

/// The objects a walk puts into the table's paths, one of each kind.
pub struct Ids {
    pub visit: i64,
    pub notice: i64,
    pub reg: i64,
    pub room: i64,
    pub window: i64,
    pub item: i64,
    pub flag: i64,
    pub case: i64,
    pub case_code: String,
    pub document: i64,
    pub attachment: i64,
    pub leader: i64,
    pub token: i64,
    pub user: i64,
    pub department: i64,
    pub category: i64,
}

/// A route's path with ids put in.
pub struct Concrete {
    pub path: String,
    /// It names a category: one tree for the whole deployment (DESIGN §3), of no county.
    pub tree_wide: bool,
}

/// The route `path` with `ids` put in; None for a calendar day, which is the State Council's for
/// the whole deployment and no county's. A parameter the walk does not know panics: a new route
/// must be taught here.
pub fn concrete(ids: &Ids, path: &str) -> Option<Concrete> {
    let mut tree_wide = false;
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let before = if i > 0 { segments[i - 1] } else { "" };
        let put = match (before, *seg) {
            (_, s) if !s.starts_with('{') => s.to_owned(),
            ("visits", "{id}") => ids.visit.to_string(),
            ("notices", "{id}") | (_, "{notice}") => ids.notice.to_string(),
            (_, "{reg}") => ids.reg.to_string(),
            (_, "{room}") => ids.room.to_string(),
            (_, "{window}") => ids.window.to_string(),
            (_, "{item}") => ids.item.to_string(),
            (_, "{flag}") => ids.flag.to_string(),
            ("cases", "{id}") => ids.case.to_string(),
            ("cases", "{code}") => ids.case_code.clone(),
            ("documents", "{doc}") => ids.document.to_string(),
            ("attachments", "{attachment}") => ids.attachment.to_string(),
            ("leaders", "{id}") => ids.leader.to_string(),
            ("tokens", "{id}") => ids.token.to_string(),
            ("users", "{id}") => ids.user.to_string(),
            ("departments", "{id}") => ids.department.to_string(),
            ("categories", "{id}") => {
                tree_wide = true;
                ids.category.to_string()
            }
            ("calendar", "{day}") => return None,
            (b, s) => panic!("{path}: teach the walk what {s} after /{b}/ stands for"),
        };
        out.push(put);
    }
    Some(Concrete {
        path: out.join("/"),
        tree_wide,
    })
}
