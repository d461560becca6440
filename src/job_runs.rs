//! When each background job of this process last completed a pass, for the job-lag metric. Below
//! every stage, so that the jobs (in several stages) and the metrics page can both reach it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// When each job last completed a pass (or started, before its first).
static LAST_RUN: Mutex<BTreeMap<&'static str, Instant>> = Mutex::new(BTreeMap::new());

/// A background job starts: its lag counts from now until its first pass completes.
pub fn started(job: &'static str) {
    let mut runs = LAST_RUN.lock().unwrap_or_else(|e| e.into_inner());
    runs.entry(job).or_insert_with(Instant::now);
}

/// A background job completed a pass.
pub fn ran(job: &'static str) {
    let mut runs = LAST_RUN.lock().unwrap_or_else(|e| e.into_inner());
    runs.insert(job, Instant::now());
}

/// Seconds since each job that has started last completed a pass.
pub fn lags() -> Vec<(&'static str, f64)> {
    let now = Instant::now();
    let runs = LAST_RUN.lock().unwrap_or_else(|e| e.into_inner());
    runs.iter()
        .map(|(job, at)| (*job, now.duration_since(*at).as_secs_f64()))
        .collect()
}
