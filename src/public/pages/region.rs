//! `/r/{code}?month=YYYY-MM`: a region's public page, shareable by its code. A county shows its
//! coming reception days (with the way to register) and the month's; a city or a province the
//! places under it to choose from and the month's days of every level held within it.

use crate::clock::china_date;
use crate::error::AppError;
use crate::prepare::plan;
use crate::public::calendar::{self, Day, Entry, Place};
use crate::public::pages::visits::asked_month;
use crate::public::regions::{self, Region};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, RawQuery, State};

#[derive(Template)]
#[template(path = "public/region.html")]
struct RegionPage {
    layout: Layout,
    region: Region,
    /// The breadcrumbs, from the province to this region.
    way: Vec<(String, String)>,
    places: Vec<Place>,
    upcoming: Vec<Entry>,
    days: Vec<Day>,
    tally: Vec<(&'static str, usize)>,
    month_label: String,
    prev: String,
    next: String,
}

impl RegionPage {
    fn is_county(&self) -> bool {
        self.region.level == "county"
    }
    fn places_heading(&self) -> &'static str {
        match self.region.level.as_str() {
            "province" => "选择市（州、盟）",
            _ => "选择县（市、区）",
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Page {
    let db = &state.db;
    let region = regions::find(db, &code).await?.ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let today = china_date(now);
    let first = asked_month(query, today);
    let close = state.config.registration_close_time;
    let days = calendar::by_day(
        regions::days(db, region.id, first, plan::next_month(first), now, close).await?,
    );
    let (places, upcoming) = if region.level == "county" {
        (
            Vec::new(),
            regions::upcoming(db, region.id, now, close).await?,
        )
    } else {
        (regions::choices(db, region.id, today).await?, Vec::new())
    };
    let month_label = first.format("%Y年%-m月").to_string();
    render(&RegionPage {
        layout: ctx.layout(&format!("{}领导接访安排", region.name)),
        way: regions::way_down(db, region.id).await?,
        tally: calendar::tally(&days),
        region,
        places,
        upcoming,
        days,
        month_label,
        prev: plan::prev_month(first).format("%Y-%m").to_string(),
        next: plan::next_month(first).format("%Y-%m").to_string(),
    })
}
