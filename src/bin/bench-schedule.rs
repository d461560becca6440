//! Benchmark of the scheduler (排接) on seeded Pujiang instances: scale 1 (429 registrations,
//! 14 rooms) and scale 20 (8,580 registrations, 280 rooms). Targets (issue 6): < 200 ms and
//! makespan ≤ 1.05 × lower bound at scale 20. Run: `cargo run --release --bin bench-schedule`.

use std::time::Instant;

use chrono_tz::Asia::Shanghai;
use xiafang::consult::scheduler::{pujiang_instance, quality, schedule};

const SEED: u64 = 20030918;
const RUNS: usize = 9;

fn main() {
    println!(
        "{:<10} {:>13} {:>6} {:>11} {:>9} {:>11} {:>6} {:>8} {:>6} {:>10}",
        "instance",
        "registrations",
        "rooms",
        "median ms",
        "makespan",
        "lower bound",
        "ratio",
        "matched",
        "late",
        "max wait"
    );
    for scale in [1, 20] {
        let input = pujiang_instance(scale, SEED);
        let mut times = Vec::with_capacity(RUNS);
        let mut result = None;
        for _ in 0..RUNS {
            let started = Instant::now();
            let s = schedule(&input);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            result = Some(s);
        }
        times.sort_by(f64::total_cmp);
        let s = result.expect("at least one run");
        let q = quality(&input, &s);
        let hm = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or("—".to_string(), |t| {
                t.with_timezone(&Shanghai).format("%H:%M").to_string()
            })
        };
        println!(
            "{:<10} {:>13} {:>6} {:>11.2} {:>9} {:>11} {:>6.3} {:>7.1}% {:>6} {:>7} min",
            format!("{scale}× 浦江"),
            input.registrations.len(),
            input.rooms.len(),
            times[RUNS / 2],
            hm(q.makespan),
            hm(q.lower_bound),
            q.ratio().unwrap_or(f64::NAN),
            q.matched_share() * 100.0,
            s.late.len(),
            q.longest_wait_minutes,
        );
    }
}
