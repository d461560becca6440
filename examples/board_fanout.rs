//! The queue board's fan-out, for `scripts/bench`: N SSE clients watch one visit's board; then one
//! batch is called the way the desk calls it (status `called` and `board::announce`, one
//! transaction); we measure from the commit until every client has received the new board.
//!
//! board_fanout BASE_URL VISIT_ID CLIENTS DATABASE_URL

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, mpsc};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, visit, clients, database_url] = &args[..] else {
        anyhow::bail!("usage: board_fanout BASE_URL VISIT_ID CLIENTS DATABASE_URL");
    };
    let visit: i64 = visit.parse()?;
    let clients: usize = clients.parse()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = format!("{base}/visits/{visit}/board/events");

    // Every client: connect, read the first state, wait for the others, then time the next event.
    let ready = Arc::new(Barrier::new(clients + 1));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Instant>();
    let started = Instant::now();
    for _ in 0..clients {
        let (http, url, ready, done) = (http.clone(), url.clone(), ready.clone(), done_tx.clone());
        tokio::spawn(async move {
            let mut response = http
                .get(&url)
                .send()
                .await
                .expect("connect")
                .error_for_status()
                .expect("board events");
            let mut events = 0;
            let mut text = String::new();
            while let Some(chunk) = response.chunk().await.expect("read") {
                text.push_str(&String::from_utf8_lossy(&chunk));
                // An SSE event ends with a blank line.
                while let Some(end) = text.find("\n\n") {
                    let event: String = text.drain(..end + 2).collect();
                    if !event.contains("event: board") {
                        continue;
                    }
                    events += 1;
                    if events == 1 {
                        ready.wait().await;
                    } else {
                        let _ = done.send(Instant::now());
                        return;
                    }
                }
            }
        });
    }
    drop(done_tx);
    ready.wait().await;
    let connected = started.elapsed();

    let db = sqlx::PgPool::connect(database_url).await?;
    let mut tx = db.begin().await?;
    let called: Option<(i64, i32)> = sqlx::query_as(
        "UPDATE registrations SET status = 'called', called_at = now()
         WHERE id = (SELECT id FROM registrations WHERE visit_id = $1 AND status = 'checked_in' ORDER BY queue_number, id LIMIT 1)
         RETURNING room_id, queue_number",
    )
    .bind(visit)
    .fetch_optional(&mut *tx)
    .await?;
    anyhow::ensure!(called.is_some(), "no checked-in batch to call");
    sqlx::query("SELECT pg_notify('xiafang_board', $1)")
        .bind(visit.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let committed = Instant::now();

    let mut latencies = Vec::with_capacity(clients);
    while let Ok(Some(at)) = tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
        latencies.push(at.duration_since(committed).as_secs_f64() * 1000.0);
        if latencies.len() == clients {
            break;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "clients {clients} connected in {:.1} s; reached {} of {clients}; latency ms p50 {:.0} p99 {:.0} max {:.0}",
        connected.as_secs_f64(),
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
